// podman, skopeo and buildah (containers/image) logging in to a Wharf with access control, over
// plain HTTP (the registry marked insecure in registries.conf) and over HTTPS trusting the test CA
// through --cert-dir (the registry not marked insecure, so the certificate is verified):
// `podman login --password-stdin`, push, pull; `skopeo copy --dest-creds/--src-creds`,
// `skopeo inspect --creds`, a wrong password refused as unauthorized; `buildah pull --creds`;
// a robot token (`wharf token create`) used as `skopeo --creds ci:SECRET`.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { containersEnv } from './helpers/containers-env.js'
import { toolPath, uniqueSuffix, type Tap, type ToolName } from './helpers/env.js'
import { busyboxImage, dockerArchive, newSalt, ociArchive } from './helpers/fixtures.js'
import type { AuthRegistry, Login } from './helpers/auth-registry.js'
import { assertAnonymousRefused, assertLanded, AUTH_ERROR, caDir, CI_ROBOT, digestOfTag, loginScenario, TRANSPORTS } from './helpers/login.js'
import { run, type RunResult } from './helpers/proc.js'

const runId = uniqueSuffix()
const salt = newSalt()
const image = busyboxImage('amd64', 'oci', salt)

type Tool = (args: readonly string[], options?: { input?: string; allowFailure?: boolean }) => Promise<RunResult>

interface Clients {
  podman: Tool
  skopeo: Tool
  buildah: Tool
  /**
   * How to reach the registry: over HTTPS `--<side>cert-dir DIR` (the test CA; verification stays
   * on), over HTTP `--<side>tls-verify=false`. `side` is `src-` or `dest-` for skopeo copy.
   */
  certFlags(side?: '' | 'src-' | 'dest-'): string[]
  work: string
}

/** A private containers environment for one registry; over HTTPS it is not marked insecure. */
async function clients(t: Tap, registry: AuthRegistry): Promise<Clients> {
  const env = await containersEnv(registry.tls ? [] : [registry.address])
  t.teardown(() => env.remove())
  const certs = registry.tls ? await caDir(registry, path.join(env.dir, 'certs')) : undefined
  const tool = (name: ToolName, global: readonly string[]): Tool => (args, options = {}) =>
    run(toolPath(name), [...global, ...args], { env: env.env, timeoutMs: 120_000, ...options })
  const podman = tool('podman', [...env.storageFlags, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--tmpdir', path.join(env.dir, 'runroot', 'libpod')])
  t.teardown(async () => { await podman(['rmi', '--all', '--force'], { allowFailure: true }).catch(() => undefined) })
  return {
    podman,
    skopeo: tool('skopeo', ['--policy', env.policy]),
    buildah: tool('buildah', env.storageFlags),
    certFlags: (side = '') => (certs !== undefined ? [`--${side}cert-dir`, certs] : [`--${side}tls-verify=false`]),
    work: env.dir,
  }
}

const creds = (login: Login): string => `${login.user}:${login.password}`

for (const transport of TRANSPORTS) {
  await loginScenario(t, 'podman login, push, pull', transport, { tools: ['podman', 'busybox'], root: true, timeout: 180_000 }, async (t, registry) => {
    const c = await clients(t, registry)
    const { alice } = registry.users
    const repo = `team/podman-${runId}/app`
    const ref = `${registry.address}/${repo}:v1`
    const archive = path.join(c.work, 'image.tar')
    await writeFile(archive, dockerArchive(busyboxImage('amd64', 'docker', salt), ['localhost/wharf-conformance/login:amd64']))
    await c.podman(['load', '-i', archive])

    const wrong = await c.podman(['login', ...c.certFlags(), '-u', alice.user, '--password-stdin', registry.address], { input: 'not-the-password', allowFailure: true })
    t.not(wrong.code, 0, 'podman login with a wrong password fails')
    t.match(wrong.stderr, AUTH_ERROR, 'as unauthorized')
    const login = await c.podman(['login', ...c.certFlags(), '-u', alice.user, '--password-stdin', registry.address], { input: alice.password })
    t.match(login.stdout, /Login Succeeded/, 'podman login -u alice --password-stdin succeeds')

    await c.podman(['tag', 'localhost/wharf-conformance/login:amd64', ref])
    const digestFile = path.join(c.work, 'digest')
    await c.podman(['push', ...c.certFlags(), '--digestfile', digestFile, ref])
    const digest = (await readFile(digestFile, 'utf8')).trim()
    await assertLanded(t, registry, alice, repo, 'v1', digest)
    await assertAnonymousRefused(t, registry, repo, 'v1')

    await c.podman(['rmi', ref, 'localhost/wharf-conformance/login:amd64'])
    await c.podman(['pull', ...c.certFlags(), ref])
    const [inspect] = JSON.parse((await c.podman(['image', 'inspect', ref])).stdout) as Array<{ Digest: string }>
    t.equal(inspect?.Digest, digest, 'podman pull (logged in) got the pushed digest')
    await c.podman(['logout', registry.address])
  })

  await loginScenario(t, 'skopeo --creds, buildah --creds', transport, { tools: ['skopeo', 'buildah', 'busybox'], root: true, timeout: 180_000 }, async (t, registry) => {
    const c = await clients(t, registry)
    const { alice, bob } = registry.users
    const repo = `team/skopeo-${runId}/app`
    const ref = `docker://${registry.address}/${repo}:v1`
    const archive = path.join(c.work, 'image.tar')
    await writeFile(archive, ociArchive([{ name: 'image', content: image }]))

    const denied = await c.skopeo(['copy', ...c.certFlags('dest-'), '--dest-creds', creds(bob), `oci-archive:${archive}:image`, ref], { allowFailure: true })
    t.not(denied.code, 0, 'skopeo copy --dest-creds bob (pull only) cannot push')
    t.match(denied.stderr, AUTH_ERROR, 'with an auth error')
    await c.skopeo(['copy', ...c.certFlags('dest-'), '--dest-creds', creds(alice), `oci-archive:${archive}:image`, ref])
    await assertLanded(t, registry, alice, repo, 'v1', image.manifest.digest)

    const inspected = JSON.parse((await c.skopeo(['inspect', ...c.certFlags(), '--creds', creds(bob), ref])).stdout) as { Digest: string }
    t.equal(inspected.Digest, image.manifest.digest, 'skopeo inspect --creds bob shows the pushed digest')
    const wrong = await c.skopeo(['inspect', ...c.certFlags(), '--creds', `${bob.user}:wrong-password`, ref], { allowFailure: true })
    t.not(wrong.code, 0, 'skopeo inspect with a wrong password fails')
    t.match(wrong.stderr, /unauthorized/i, `and says unauthorized (${wrong.stderr.trim().split('\n').pop()})`)

    const dir = path.join(c.work, 'copied')
    await c.skopeo(['copy', ...c.certFlags('src-'), '--src-creds', creds(bob), ref, `dir:${dir}`])
    t.ok((await readFile(path.join(dir, 'manifest.json'))).equals(image.manifest.body), 'skopeo copy --src-creds bob to dir: brings the manifest byte for byte')

    const pulled = await c.buildah(['pull', ...c.certFlags(), '--creds', creds(bob), ref.slice('docker://'.length)])
    t.match(pulled.stdout, image.config.digest.slice(7), 'buildah pull --creds bob prints the image id (the config digest)')
  })
}

await loginScenario(t, 'skopeo with a robot token (wharf token create)', 'http', { tools: ['skopeo', 'busybox'], root: true, timeout: 120_000, robots: [CI_ROBOT] }, async (t, registry) => {
  const c = await clients(t, registry)
  const ci = registry.robots[CI_ROBOT.name]!
  const repo = `team/skopeo-robot-${runId}`
  const ref = `docker://${registry.address}/${repo}:ci`
  const archive = path.join(c.work, 'image.tar')
  await writeFile(archive, ociArchive([{ name: 'image', content: image }]))
  await c.skopeo(['copy', ...c.certFlags('dest-'), '--dest-creds', creds(ci), `oci-archive:${archive}:image`, ref])
  t.equal(await digestOfTag(registry, registry.users.alice, repo, 'ci'), image.manifest.digest, 'skopeo copy --dest-creds ci:SECRET pushed the image')
  const inspected = JSON.parse((await c.skopeo(['inspect', ...c.certFlags(), '--creds', creds(ci), ref])).stdout) as { Digest: string }
  t.equal(inspected.Digest, image.manifest.digest, 'skopeo inspect --creds ci:SECRET reads it')
  const outside = await c.skopeo(['copy', ...c.certFlags('dest-'), '--dest-creds', creds(ci), `oci-archive:${archive}:image`, `docker://${registry.address}/public/skopeo-robot-${runId}:ci`], { allowFailure: true })
  t.not(outside.code, 0, 'the robot cannot push outside repository:team/*')
  t.match(outside.stderr, AUTH_ERROR, 'with an auth error')
  const wrong = await c.skopeo(['inspect', ...c.certFlags(), '--creds', `${ci.user}:wharf_${'A'.repeat(43)}`, ref], { allowFailure: true })
  t.match(wrong.stderr, /unauthorized/i, 'a wrong robot secret is unauthorized')
})
