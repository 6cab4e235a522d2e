// BuildKit (buildkitd + buildctl v0.24, private daemon) against a Wharf with access control, over
// plain HTTP (`[registry."HOST:PORT"] http = true`) and over HTTPS trusting the test CA
// (`ca = [...]` for buildkitd, SSL_CERT_FILE for buildctl, which fetches the tokens): a Dockerfile FROM a busybox image in team/** is built and pushed with the
// credentials buildctl finds in its DOCKER_CONFIG (config.json `auths`, as `docker login` writes
// it); without credentials the build cannot even pull its base.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { layerFiles } from './helpers/checks.js'
import { startBuildkitd } from './helpers/buildkitd.js'
import { uniqueSuffix } from './helpers/env.js'
import { busyboxImage, newSalt } from './helpers/fixtures.js'
import { basic, type AuthRegistry, type Login } from './helpers/auth-registry.js'
import { assertLanded, AUTH_ERROR, loginScenario, TRANSPORTS } from './helpers/login.js'

const runId = uniqueSuffix()
const salt = newSalt()
const base = busyboxImage('amd64', 'oci', salt)

/** A DOCKER_CONFIG directory whose config.json holds `login`'s credentials for the registry (none without). */
async function dockerConfig(registry: AuthRegistry, name: string, login?: Login): Promise<string> {
  const dir = path.join(registry.dir, name)
  await mkdir(dir, { recursive: true })
  const auths = login ? { [registry.address]: { auth: basic(login).slice('Basic '.length) } } : {}
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths }))
  return dir
}

for (const transport of TRANSPORTS) {
  await loginScenario(t, 'buildctl build FROM a team image, push with DOCKER_CONFIG credentials', transport,
    { tools: ['buildkitd', 'buildctl', 'runc', 'qemuAarch64', 'busybox'], root: true, timeout: 240_000 }, async (t, registry) => {
      const { alice } = registry.users
      const baseRepo = `team/buildkit-${runId}/base`
      const appRepo = `team/buildkit-${runId}/app`
      await registry.client(alice).pushContent(baseRepo, 'v1', base)
      const daemon = await startBuildkitd([registry.caFile !== undefined ? { address: registry.address, ca: registry.caFile } : registry.address])
      t.teardown(() => daemon.stop())

      const context = path.join(registry.dir, 'context')
      await mkdir(context, { recursive: true })
      await writeFile(path.join(context, 'Dockerfile'), `FROM ${registry.address}/${baseRepo}:v1\nCOPY hello.txt /hello.txt\n`)
      await writeFile(path.join(context, 'hello.txt'), `built with credentials ${salt}\n`)
      const metadata = path.join(registry.dir, 'metadata.json')
      const build = (config: string, allowFailure = false): ReturnType<typeof daemon.buildctl> => daemon.buildctl([
        'build', '--frontend', 'dockerfile.v0', '--local', `context=${context}`, '--local', `dockerfile=${context}`,
        '--output', `type=image,name=${registry.address}/${appRepo}:v1,push=true`, '--metadata-file', metadata,
        // buildctl itself fetches the tokens (BuildKit's session auth provider), so it must trust the CA too.
      ], { env: { DOCKER_CONFIG: config, ...(registry.caFile !== undefined ? { SSL_CERT_FILE: registry.caFile } : {}) }, allowFailure })

      const anonymous = await build(await dockerConfig(registry, 'docker-anonymous'), true)
      t.not(anonymous.code, 0, 'without credentials the build fails')
      t.match(anonymous.stderr, AUTH_ERROR, 'with an auth error (its base is in team/**)')

      await build(await dockerConfig(registry, 'docker-alice', alice))
      const digest = (JSON.parse(await readFile(metadata, 'utf8')) as Record<string, string>)['containerimage.digest']
      t.match(digest, /^sha256:[0-9a-f]{64}$/, 'buildctl reports the pushed image digest')
      const pulled = await assertLanded(t, registry, alice, appRepo, 'v1', digest)
      const manifest = JSON.parse(pulled.manifests.get(pulled.digest)!.body.toString()) as { layers: Array<{ digest: string }> }
      t.equal(manifest.layers[0]?.digest, base.layers[0]!.digest, 'the first layer is the base image layer, pulled with the credentials')
      t.equal(layerFiles(pulled).get('hello.txt')?.data.toString(), `built with credentials ${salt}\n`, 'the COPY layer holds hello.txt')
    })
}
