// skopeo and crane pulling through Wharf's pull-through cache by prefix (issue 13): a Wharf
// upstream proxied as `docker.io` (tags re-validated after the default TTL) and the reference
// registry (Debian's docker-registry) proxied as `reference.local` (tagTtlSeconds 0: every tag
// pull asks the upstream). Clients pull `<proxy>/<prefix>/library/<name>:v1`; digests and bytes
// must be the upstream's, the proxy must keep what it served, a moved tag follows the TTL, a push
// into a prefix is refused, and once both upstreams are stopped the same pulls still work from the
// cache. A third upstream, the Wharf one behind a relay (cut.local), counts blob GETs (clients
// pulling at once share one fetch) and drops blob answers halfway (a client pulling while the
// upstream dies mid-blob gets an error, nothing half-stored is ever served).
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { assertDirHolds, assertLayoutHolds } from './helpers/checks.js'
import { containersEnv } from './helpers/containers-env.js'
import { missingRequirements, scenario, toolPath, uniqueSuffix, type Tap, type ToolName } from './helpers/env.js'
import { type Format, multiPlatform, newSalt } from './helpers/fixtures.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { assertCached, startCuttingRelay, startProxy, type ProxyUpstream } from './helpers/proxy.js'
import { type RegistryTarget, startReferenceTarget, startWharfTarget } from './helpers/target.js'
import { allBlobs, blobPath, digestOf, type ImageContent, type IndexContent, RegistryClient, request } from '../test/support/index.js'

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
// The Wharf upstream once more, behind a relay that can drop blob answers halfway.
const relay = await startCuttingRelay(wharfUpstream.url)
t.teardown(() => relay.stop())
const proxy = await startProxy(t, [
  ...upstreams.filter((u) => u.target !== undefined).map((u) => ({ ...u.config, url: u.target!.url })),
  { prefix: 'cut.local', url: relay.url },
])

const runId = uniqueSuffix()
const salt = newSalt()
const clientTools: ToolName[] = ['skopeo', 'crane', 'busybox', 'busyboxArm64']
const needsOf = (u: Upstream): ToolName[] => u.kind === 'reference' ? [...clientTools, 'registry'] : clientTools

const containers = await containersEnv([proxy.wharf.address])
t.teardown(() => containers.remove())
const work = await tempDir('proxy-clients')
t.teardown(() => work.remove())

function skopeo(args: readonly string[], allowFailure = false): Promise<RunResult> {
  return run(toolPath('skopeo'), ['--policy', containers.policy, ...args], { env: containers.env, timeoutMs: 120_000, allowFailure })
}
function crane(args: readonly string[], allowFailure = false): Promise<RunResult> {
  return run('nice', ['-n', '10', toolPath('crane'), ...args, '--insecure'], { timeoutMs: 120_000, allowFailure })
}

type Client = 'skopeo' | 'crane'
interface Pulled { readonly client: Client; readonly repo: string; readonly content: IndexContent }
/** What each client pulled through the proxy while the upstreams were up. */
const pulledThrough: Pulled[] = []
let pulls = 0

/**
 * `client` pulls <proxy>/<repo>:v1 (the whole index) into a fresh directory (skopeo `dir:`, which
 * keeps Docker lists as they are, unlike its `oci:`; crane an OCI layout) and checks the digest it
 * resolved and every byte.
 */
async function pullThroughProxy(t: Tap, client: Client, repo: string, content: IndexContent): Promise<void> {
  const ref = `${proxy.wharf.address}/${repo}:v1`
  if (client === 'skopeo') {
    const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout
    t.equal(digestOf(raw), content.manifest.digest, `skopeo inspect --raw ${repo}: the upstream's index, byte for byte`)
  } else {
    t.equal((await crane(['digest', ref])).stdout.trim(), content.manifest.digest, `crane digest ${repo}: the upstream's index digest`)
  }
  const { into } = await pullAll(client, repo)
  if (client === 'skopeo') await assertDirHolds(t, into, content)
  else await assertLayoutHolds(t, into, content)
}

/** `skopeo copy --all` to `dir:` or `crane pull --format oci` of <proxy>/<repo>:v1 into a fresh directory, whatever the outcome. */
async function pullAll(client: Client, repo: string, allowFailure = false): Promise<{ into: string; result: RunResult }> {
  const ref = `${proxy.wharf.address}/${repo}:v1`
  const into = path.join(work.path, `pull-${++pulls}`)
  const result = client === 'skopeo'
    ? await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${ref}`, `dir:${into}`], allowFailure)
    : await crane(['pull', '--format', 'oci', ref, into], allowFailure)
  return { into, result }
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
        pulledThrough.push({ client, repo, content })
      }
    })
}

// The tag moves upstream after the first pull: the docker.io upstream (default tagTtlSeconds, 300)
// still answers with the cached manifest, reference.local (tagTtlSeconds 0) with the new one at once.
for (const upstream of upstreams) {
  const revalidates = upstream.config.tagTtlSeconds === 0
  await scenario(t, `a tag moved on the ${upstream.kind} upstream: crane and skopeo get ${revalidates ? 'the new manifest (tagTtlSeconds 0)' : 'the cached manifest (within tagTtlSeconds)'}`,
    { tools: needsOf(upstream), timeout: 60_000 }, async (t) => {
      const origin = new RegistryClient(upstream.target!.url, { timeoutMs: 60_000 })
      const name = `library/moving-${runId}`
      const repo = `${upstream.prefix}/${name}`
      const before = multiPlatform(upstream.format, `${salt}-${upstream.kind}-before`)
      const after = multiPlatform(upstream.format, `${salt}-${upstream.kind}-after`)
      await origin.pushContent(name, 'v1', before)
      await pullThroughProxy(t, 'crane', repo, before)
      await origin.pushContent(name, 'v1', after)
      const served = revalidates ? after : before
      await pullThroughProxy(t, 'skopeo', repo, served)
      await pullThroughProxy(t, 'crane', repo, served)
    })
}

await scenario(t, 'a push into a proxied prefix is refused: skopeo and crane print the registry\'s error, nothing is stored',
  { tools: clientTools, timeout: 60_000 }, async (t) => {
    const origin = new RegistryClient(wharfUpstream.url, { timeoutMs: 60_000 })
    const content = multiPlatform('oci', `${salt}-push`)
    await origin.pushContent(`library/push-source-${runId}`, 'v1', content)
    const source = `${wharfUpstream.address}/library/push-source-${runId}:v1`
    const into = (client: Client): string => `${proxy.wharf.address}/docker.io/library/pushed-${client}-${runId}:v1`
    const results: Record<Client, RunResult> = {
      skopeo: await skopeo(['copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${source}`, `docker://${into('skopeo')}`], true),
      crane: await crane(['copy', source, into('crane')], true),
    }
    const catalog = await proxy.client.catalog()
    for (const client of ['skopeo', 'crane'] as const) {
      const output = `${results[client].stdout}${results[client].stderr}`
      t.not(results[client].code, 0, `${client} cannot push into docker.io/ on the proxy`)
      t.match(output, /UNSUPPORTED|unsupported/, `${client} shows the spec's UNSUPPORTED code`)
      t.match(output, /pull-through cache/, `${client} shows why (${output.trim().split('\n').pop()})`)
      t.notOk(catalog.includes(`docker.io/library/pushed-${client}-${runId}`), `nothing was stored under docker.io/library/pushed-${client}-${runId}`)
    }
  })

await scenario(t, 'skopeo and crane pulling one new image at once: each blob is fetched from the upstream once',
  { tools: clientTools, timeout: 120_000 }, async (t) => {
    const origin = new RegistryClient(wharfUpstream.url, { timeoutMs: 60_000 })
    const name = `library/together-${runId}`
    const content = multiPlatform('oci', `${salt}-together`)
    await origin.pushContent(name, 'v1', content)
    const repo = `cut.local/${name}`
    const clients: Client[] = ['skopeo', 'crane', 'skopeo', 'crane']
    const pulled = await Promise.all(clients.map((client) => pullAll(client, repo)))
    t.same(pulled.map(({ result }) => result.code), clients.map(() => 0), `${clients.length} pulls at once all succeed`)
    for (const [i, { into }] of pulled.entries()) {
      if (clients[i] === 'skopeo') await assertDirHolds(t, into, content)
      else await assertLayoutHolds(t, into, content)
    }
    t.same(allBlobs(content).map((blob) => relay.blobGets(blob.digest)), allBlobs(content).map(() => 1),
      'the upstream saw one GET per blob')
  })

await scenario(t, 'upstream dropped mid-blob: skopeo and crane fail, nothing half-stored is served, the next pull is whole',
  { tools: clientTools, timeout: 120_000 }, async (t) => {
    const origin = new RegistryClient(wharfUpstream.url, { timeoutMs: 60_000 })
    for (const client of ['skopeo', 'crane'] as const) {
      const name = `library/cut-${client}-${runId}`
      const content = multiPlatform('oci', `${salt}-cut-${client}`)
      await origin.pushContent(name, 'v1', content)
      const repo = `cut.local/${name}`

      relay.cutBlobs = true
      const cutsBefore = relay.cuts
      const { result } = await pullAll(client, repo, true)
      t.not(result.code, 0, `${client} fails while the upstream drops blob answers halfway`)
      t.ok(relay.cuts > cutsBefore, `the relay cut ${relay.cuts - cutsBefore} blob answers`)
      const layer = (content.children[0] as ImageContent).layers[0]!
      const answer = await proxy.client.request(`/v2/${repo}/blobs/${layer.digest}`, { fresh: true }).catch((error: Error) => error)
      t.notOk(!(answer instanceof Error) && answer.status === 200 && digestOf(answer.body) !== layer.digest,
        `a blob GET from the proxy while the upstream still cuts is not a complete 200 of other bytes (${answer instanceof Error ? answer.message : answer.status})`)
      const halfStored: string[] = []
      for (const blob of allBlobs(content)) {
        const data = await readFile(blobPath(proxy.wharf.storage, blob.digest)).catch(() => undefined)
        if (data !== undefined && digestOf(data) !== blob.digest) halfStored.push(blob.digest)
      }
      t.same(halfStored, [], 'no blob file in the proxy\'s store holds other bytes than its digest')

      relay.cutBlobs = false
      await pullThroughProxy(t, client, repo, content)
      await assertCached(t, proxy, repo, 'v1', allBlobs(content))
      pulledThrough.push({ client, repo, content })
    }
  })

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
