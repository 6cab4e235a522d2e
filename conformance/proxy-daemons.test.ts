// dockerd and containerd pulling docker.io images through Wharf's pull-through cache (issue 13).
// An upstream Wharf holds multi-platform images under library/<name>, as Docker Hub does; a
// second Wharf proxies it as `docker.io` with `mirror: true`. dockerd with daemon.json
// `registry-mirrors` sends `GET /v2/library/<name>/...` to it; ctr with a hosts.toml mirror for
// docker.io sends the same with `?ns=docker.io`, and for ghcr.io (a second upstream, not the
// mirror) with `?ns=ghcr.io`. Every pull must get the upstream's digests, and the proxy must keep
// what it served under <registry>/<name>. There is no Docker Hub (or ghcr.io) here: a pull that
// did not go through the mirror fails.
import t from 'tap'
import { startContainerd, startDockerd, startedOnce, type ContainerdDaemon, type DockerDaemon } from './helpers/daemons.js'
import { missingRequirements, scenario, uniqueSuffix, type Requirements, type Tap } from './helpers/env.js'
import { busyboxImage, multiPlatform, newSalt } from './helpers/fixtures.js'
import { tempDir } from './helpers/proc.js'
import { assertCached, containerdMirrorHosts, requestsTo, startProxy } from './helpers/proxy.js'
import { startWharfTarget } from './helpers/target.js'
import { ACCEPT_ALL_MANIFESTS, allBlobs, allManifests, type ImageContent, type IndexContent, RegistryClient, request } from '../test/support/index.js'

const upstream = await startWharfTarget()
t.teardown(() => upstream.stop())
const ghcrUpstream = await startWharfTarget()
t.teardown(() => ghcrUpstream.stop())
const proxy = await startProxy(t, [
  { prefix: 'docker.io', url: upstream.url, mirror: true },
  { prefix: 'ghcr.io', url: ghcrUpstream.url },
])
const upstreamRegistry = new RegistryClient(upstream.url, { timeoutMs: 60_000 })
const ghcrRegistry = new RegistryClient(ghcrUpstream.url, { timeoutMs: 60_000 })
const runId = uniqueSuffix()
const salt = newSalt()

const docker = startedOnce(t, () => startDockerd([proxy.wharf.address], { registryMirrors: [proxy.wharf.url] }))
const containerd = startedOnce(t, () => startContainerd())
const dockerNeeds: Requirements = { tools: ['dockerd', 'docker', 'containerd', 'busybox', 'busyboxArm64'], root: true }
const ctrNeeds: Requirements = { tools: ['containerd', 'ctr', 'busybox', 'busyboxArm64'], root: true }
// Both daemons start while the first scenario seeds the upstream.
if (missingRequirements(dockerNeeds) === undefined) void docker().catch(() => undefined)
if (missingRequirements(ctrNeeds) === undefined) void containerd().catch(() => undefined)

const work = await tempDir('proxy-daemons')
t.teardown(() => work.remove())

/** `docker pull <name>:v1` (docker.io/library/<name>) into a daemon that does not have it; checks what dockerd reports. */
async function dockerPull(t: Tap, d: DockerDaemon, name: string, list: IndexContent): Promise<void> {
  const amd = list.children[0] as ImageContent
  const pulled = await d.docker(['pull', `${name}:v1`])
  t.match(pulled.stdout, `Digest: ${list.manifest.digest}`, 'docker pull reports the upstream\'s manifest list digest')
  const [inspect] = JSON.parse((await d.docker(['image', 'inspect', `${name}:v1`])).stdout) as Array<{ Id: string; RepoDigests: string[] }>
  t.equal(inspect?.Id, amd.config.digest, 'the image ID is the upstream\'s linux/amd64 config digest')
  t.ok(inspect?.RepoDigests.some((d) => d.endsWith(`${name}@${list.manifest.digest}`)), `RepoDigests names the list digest (${inspect?.RepoDigests.join(', ')})`)
}

/** `ctr images pull --all-platforms` of `ref` through the hosts directory; checks the digest and that every manifest and blob arrived. */
async function ctrPull(t: Tap, c: ContainerdDaemon, hosts: string, ref: string, index: IndexContent): Promise<void> {
  const pulled = await c.ctr(['images', 'pull', '--hosts-dir', hosts, '--all-platforms', '--snapshotter', 'native', ref])
  t.match(pulled.stdout, index.manifest.digest.slice(7), 'ctr resolved the upstream\'s index digest')
  const listed = (await c.ctr(['images', 'ls'])).stdout.split('\n').find((line) => line.startsWith(`${ref} `))
  t.match(listed ?? '', index.manifest.digest, 'ctr images ls names the upstream\'s index digest')
  const content = (await c.ctr(['content', 'ls', '-q'])).stdout
  const missing = [...allManifests(index), ...allBlobs(index)].map((item) => item.digest).filter((digest) => !content.includes(digest))
  t.same(missing, [], 'containerd holds every manifest and blob of both platforms')
}

/** Removes an image and (synchronously) the content only it used, so that the next pull fetches everything again. */
async function ctrForget(t: Tap, c: ContainerdDaemon, ref: string, index: IndexContent): Promise<void> {
  await c.ctr(['images', 'rm', '--sync', ref])
  const content = (await c.ctr(['content', 'ls', '-q'])).stdout
  t.notOk(allBlobs(index).some((blob) => content.includes(blob.digest)), `containerd no longer holds any blob of ${ref}`)
}

let dockerPulled: { name: string; list: IndexContent } | undefined
const ctrPulled: Array<{ ref: string; index: IndexContent; hosts: string }> = []

await scenario(t, 'docker pull through registry-mirrors', { ...dockerNeeds, timeout: 180_000 }, async (t) => {
  const d = await docker()
  const name = `wharf-mirror-${runId}`
  const list = multiPlatform('docker', `${salt}-docker`)
  await upstreamRegistry.pushContent(`library/${name}`, 'v1', list)
  await dockerPull(t, d, name, list)
  t.ok(requestsTo(proxy, `/v2/library/${name}/manifests/v1`).length > 0, 'dockerd asked the mirror for library/<name>, without a prefix')
  const amd = list.children[0] as ImageContent
  await assertCached(t, proxy, `docker.io/library/${name}`, 'v1', [amd.config, ...amd.layers])
  const cached = await proxy.client.pullVerified(`docker.io/library/${name}`, list.manifest.digest)
  t.equal(cached.digest, list.manifest.digest, 'the proxy serves the list by digest under docker.io/library/<name>')
  dockerPulled = { name, list }
})

await scenario(t, 'docker pull by prefix: <proxy>/ghcr.io/<name>', { ...dockerNeeds, timeout: 120_000 }, async (t) => {
  const d = await docker()
  const name = `wharf/prefix-${runId}`
  const image = busyboxImage('amd64', 'docker', `${salt}-prefix`)
  await ghcrRegistry.pushContent(name, 'v1', image)
  const ref = `${proxy.wharf.address}/ghcr.io/${name}:v1`
  const pulled = await d.docker(['pull', ref])
  t.match(pulled.stdout, `Digest: ${image.manifest.digest}`, 'docker pull reports the upstream\'s manifest digest')
  const [inspect] = JSON.parse((await d.docker(['image', 'inspect', ref])).stdout) as Array<{ Id: string }>
  t.equal(inspect?.Id, image.config.digest, 'the image ID is the upstream\'s config digest')
  await assertCached(t, proxy, `ghcr.io/${name}`, 'v1', [image.config, ...image.layers])
})

// docker.io is the mirror upstream; ghcr.io is another upstream that only a prefix or `?ns=ghcr.io`
// reaches, so a proxy that ignored `ns` (and answered as the docker.io mirror) would not find it.
for (const registry of ['docker.io', 'ghcr.io'] as const) {
  await scenario(t, `ctr pull through a hosts.toml mirror for ${registry} (?ns=${registry})`, { ...ctrNeeds, timeout: 180_000 }, async (t) => {
    const c = await containerd()
    const name = `${registry === 'docker.io' ? 'library' : 'wharf'}/ns-${runId}`
    const index = multiPlatform('oci', `${salt}-ctr-${registry}`)
    await (registry === 'docker.io' ? upstreamRegistry : ghcrRegistry).pushContent(name, 'v1', index)
    const hosts = await containerdMirrorHosts(work.path, registry, proxy.wharf.url)
    const ref = `${registry}/${name}:v1`
    await ctrPull(t, c, hosts, ref, index)
    t.ok(requestsTo(proxy, `/v2/${name}/manifests/v1?ns=${registry}`).length > 0, `ctr asked the mirror with ?ns=${registry}`)
    const answer = await proxy.client.get(`/v2/${name}/manifests/v1?ns=${registry}`, { Accept: ACCEPT_ALL_MANIFESTS })
    t.equal(answer.header('oci-namespace'), registry, `the proxy answers ?ns=${registry} with OCI-Namespace: ${registry}`)
    await assertCached(t, proxy, `${registry}/${name}`, 'v1', allBlobs(index))
    await ctrForget(t, c, ref, index)
    ctrPulled.push({ ref, index, hosts })
  })
}

// containerd sends `?ns=quay.io` when a hosts.toml for quay.io (or `_default`, for every registry)
// names Wharf as its mirror. Wharf proxies no quay.io: answering from its docker.io mirror would hand
// out Docker Hub's library/<name> as quay.io/library/<name>, another publisher's image.
await scenario(t, 'ctr pull of a registry the proxy does not cache (?ns=quay.io): not answered from the docker.io mirror', { ...ctrNeeds, timeout: 120_000 }, async (t) => {
  const c = await containerd()
  const name = `library/elsewhere-${runId}`
  const image = busyboxImage('amd64', 'oci', `${salt}-elsewhere`)
  await upstreamRegistry.pushContent(name, 'v1', image)
  // The fallback server refuses at once (there is no quay.io here).
  const hosts = await containerdMirrorHosts(work.path, 'quay.io', proxy.wharf.url, 'http://127.0.0.1:1')
  const pulled = await c.ctr(['images', 'pull', '--hosts-dir', hosts, '--snapshotter', 'native', `quay.io/${name}:v1`], { allowFailure: true })
  t.not(pulled.code, 0, `ctr cannot pull quay.io/${name} through a Wharf that proxies no quay.io`)
  t.notOk(`${pulled.stdout}${pulled.stderr}`.includes(image.manifest.digest.slice(7)), 'and never saw the docker.io image\'s digest')
  const answer = await proxy.client.get(`/v2/${name}/manifests/v1?ns=quay.io`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(answer.status, 404, 'the proxy answers ?ns=quay.io with 404')
  t.notOk((await proxy.client.catalog()).includes(`docker.io/${name}`), `nothing was fetched into docker.io/${name}`)
})

await scenario(t, 'upstreams stopped: dockerd and ctr pull the same images again from the cache', { ...dockerNeeds, ...ctrNeeds, tools: [...new Set([...dockerNeeds.tools!, ...ctrNeeds.tools!])], timeout: 180_000 }, async (t) => {
  t.ok(dockerPulled !== undefined && ctrPulled.length === 2, 'dockerd and ctr pulled through the proxy while the upstreams were up')
  for (const target of [upstream, ghcrUpstream]) {
    await target.stop()
    const down = await request(target.url, '/v2/', { timeoutMs: 2000, fresh: true }).then((res) => `answered ${res.status}`, () => 'down')
    t.equal(down, 'down', `the upstream at ${target.url} is stopped`)
  }
  if (dockerPulled !== undefined) {
    const d = await docker()
    await d.docker(['rmi', `${dockerPulled.name}:v1`])
    await dockerPull(t, d, dockerPulled.name, dockerPulled.list)
  }
  const c = await containerd()
  for (const { ref, index, hosts } of ctrPulled) await ctrPull(t, c, hosts, ref, index)
})
