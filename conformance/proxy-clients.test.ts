// skopeo and crane pulling through Wharf's pull-through cache by prefix (issue 13): a Wharf
// upstream proxied as `docker.io` (tags re-validated after the default TTL) and the reference
// registry (Debian's docker-registry) proxied as `reference.local` (tagTtlSeconds 0: every tag
// pull asks the upstream). Clients pull `<proxy>/<prefix>/library/<name>:v1`; digests and bytes
// must be the upstream's, the proxy must keep what it served, and once both upstreams are stopped
// the same pulls must still work from the cache.
import path from 'node:path'
import t from 'tap'
import { assertDirHolds, assertLayoutHolds } from './helpers/checks.js'
import { containersEnv } from './helpers/containers-env.js'
import { missingRequirements, scenario, toolPath, uniqueSuffix, type Tap, type ToolName } from './helpers/env.js'
import { type Format, multiPlatform, newSalt } from './helpers/fixtures.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { assertCached, startProxy, type ProxyUpstream } from './helpers/proxy.js'
import { type RegistryTarget, startReferenceTarget, startWharfTarget } from './helpers/target.js'
import { allBlobs, digestOf, type IndexContent, RegistryClient, request } from '../test/support/index.js'

interface Upstream {
  readonly kind: 'wharf' | 'reference'
  readonly prefix: string
  readonly format: Format
  readonly target: RegistryTarget | undefined
  readonly config: Omit<ProxyUpstream, 'url'>
}

const wharfUpstream = await startWharfTarget()
t.teardown(() => wharfUpstream.stop())
// Without the reference registry its scenarios skip (fail in CI); the Wharf ones still run.
const referenceUpstream = missingRequirements({ tools: ['registry'] }) === undefined ? await startReferenceTarget() : undefined
if (referenceUpstream) t.teardown(() => referenceUpstream.stop())
const upstreams: Upstream[] = [
  { kind: 'wharf', prefix: 'docker.io', format: 'oci', target: wharfUpstream, config: { prefix: 'docker.io', mirror: true } },
  { kind: 'reference', prefix: 'reference.local', format: 'docker', target: referenceUpstream, config: { prefix: 'reference.local', tagTtlSeconds: 0 } },
]
const proxy = await startProxy(upstreams.filter((u) => u.target !== undefined).map((u) => ({ ...u.config, url: u.target!.url })))
t.teardown(() => proxy.stop())

const runId = uniqueSuffix()
const salt = newSalt()
const clientTools: ToolName[] = ['skopeo', 'crane', 'busybox', 'busyboxArm64']
const needsOf = (u: Upstream): ToolName[] => u.kind === 'reference' ? [...clientTools, 'registry'] : clientTools

const containers = await containersEnv([proxy.address])
t.teardown(() => containers.remove())
const work = await tempDir('proxy-clients')
t.teardown(() => work.remove())

function skopeo(args: readonly string[]): Promise<RunResult> {
  return run(toolPath('skopeo'), ['--policy', containers.policy, ...args], { env: containers.env, timeoutMs: 120_000 })
}
function crane(args: readonly string[]): Promise<RunResult> {
  return run('nice', ['-n', '10', toolPath('crane'), ...args, '--insecure'], { timeoutMs: 120_000 })
}

type Client = 'skopeo' | 'crane'
interface Pulled { readonly upstream: Upstream; readonly client: Client; readonly repo: string; readonly content: IndexContent }
/** What each client pulled through the proxy while the upstreams were up. */
const pulledThrough: Pulled[] = []
let pulls = 0

/**
 * `client` pulls <proxy>/<repo>:v1 (the whole index) into a fresh directory (skopeo `dir:`, which
 * keeps Docker lists as they are, unlike its `oci:`; crane an OCI layout) and checks the digest it
 * resolved and every byte.
 */
async function pullThroughProxy(t: Tap, client: Client, repo: string, content: IndexContent): Promise<void> {
  const ref = `${proxy.address}/${repo}:v1`
  const into = path.join(work.path, `pull-${++pulls}`)
  if (client === 'skopeo') {
    const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout
    t.equal(digestOf(raw), content.manifest.digest, `skopeo inspect --raw ${repo}: the upstream's index, byte for byte`)
    await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${ref}`, `dir:${into}`])
    await assertDirHolds(t, into, content)
  } else {
    t.equal((await crane(['digest', ref])).stdout.trim(), content.manifest.digest, `crane digest ${repo}: the upstream's index digest`)
    await crane(['pull', '--format', 'oci', ref, into])
    await assertLayoutHolds(t, into, content)
  }
}

for (const upstream of upstreams) {
  await scenario(t, `skopeo and crane pull ${upstream.prefix}/library/<name> through the proxy (${upstream.kind} upstream)`,
    { tools: needsOf(upstream), timeout: 120_000 }, async (t) => {
      const origin = new RegistryClient(upstream.target!.url, { timeoutMs: 60_000 })
      for (const client of ['skopeo', 'crane'] as const) {
        const name = `library/${client}-${runId}`
        const content = multiPlatform(upstream.format, `${salt}-${upstream.kind}-${client}`)
        await origin.pushContent(name, 'v1', content)
        const repo = `${upstream.prefix}/${name}`
        await pullThroughProxy(t, client, repo, content)
        await assertCached(t, proxy, repo, 'v1', allBlobs(content))
        pulledThrough.push({ upstream, client, repo, content })
      }
    })
}

await scenario(t, 'upstreams stopped: what was pulled through the proxy still pulls, with skopeo and with crane',
  { tools: clientTools, timeout: 120_000 }, async (t) => {
    t.ok(pulledThrough.length > 0, 'images were pulled through the proxy while the upstreams were up')
    for (const upstream of upstreams.filter((u) => u.target !== undefined)) {
      await upstream.target!.stop()
      const down = await request(upstream.target!.url, '/v2/', { timeoutMs: 2000, fresh: true }).then((res) => `answered ${res.status}`, () => 'down')
      t.equal(down, 'down', `the ${upstream.kind} upstream is stopped`)
    }
    // Each image is pulled by both clients: the one that filled the cache and the other one.
    for (const pulled of pulledThrough) {
      for (const client of ['skopeo', 'crane'] as const) await pullThroughProxy(t, client, pulled.repo, pulled.content)
    }
  })
