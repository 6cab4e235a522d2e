// The pull-through cache against a real upstream Wharf: manifests by tag and digest, an index and
// its children, blobs, served locally once cached (the upstream stopped), and what is refused.
import t from 'tap'
import {
  configBlob, digestOf, errorBody, makeBlob, makeImage, makeIndex, MediaTypes, ACCEPT_ALL_MANIFESTS, runCli, sameContent,
  blobPath, exists,
} from '../support/index.js'
import { PREFIX, startProxy, startUpstream } from './proxy-support.js'

t.test('a pull through the cache: index, children and blobs byte for byte; then served with the upstream stopped', async (t) => {
  const upstream = await startUpstream(t)
  const amd64 = makeImage(MediaTypes.ociManifest, configBlob({ architecture: 'amd64' }), [makeBlob(200_000), makeBlob(3000)], { platform: { os: 'linux', architecture: 'amd64' } })
  const arm64 = makeImage(MediaTypes.ociManifest, configBlob({ architecture: 'arm64' }), [makeBlob(150_000)], { platform: { os: 'linux', architecture: 'arm64' } })
  const index = makeIndex(MediaTypes.ociIndex, [amd64, arm64])
  await upstream.client.pushContent('library/app', '1.0', index)
  const proxy = await startProxy(t, [{ url: upstream.wharf.url }])
  const repo = `${PREFIX}/library/app`

  const head = await proxy.client.head(`/v2/${repo}/manifests/1.0`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(head.status, 200, 'HEAD by tag of a repository never pulled')
  t.equal(head.header('docker-content-digest'), index.manifest.digest, 'the upstream\'s digest')
  const pulled = await proxy.client.pullVerified(repo, '1.0')
  t.same(sameContent(pulled, index), [], 'every manifest and blob as pushed upstream')
  t.equal(pulled.digest, index.manifest.digest)
  const byDigest = await proxy.client.get(`/v2/${repo}/manifests/${amd64.manifest.digest}`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(byDigest.status, 200)
  t.ok(byDigest.body.equals(amd64.manifest.body), 'child manifest byte for byte')
  t.equal(byDigest.header('content-type'), MediaTypes.ociManifest)

  await upstream.wharf.stop()
  const again = await proxy.client.pullVerified(repo, '1.0')
  t.same(sameContent(again, index), [], 'the whole tree served from the cache with the upstream gone')
  const tags = await proxy.client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list`)
  t.same(tags.tags, ['1.0'], 'the tag list shows what is cached')
  t.ok((await proxy.client.catalog()).includes(repo), 'the catalog lists the cached repository')

  const unknown = await proxy.client.get(`/v2/${repo}/manifests/2.0`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(unknown.status, 503, 'a tag never cached while the upstream is down')
  t.equal(errorBody(unknown)?.errors[0]?.code, 'UNAVAILABLE')
  t.match(errorBody(unknown)?.errors[0]?.message, /upstream registry is unreachable/)
  const blob = await proxy.client.getBlob(repo, digestOf('never pushed'))
  t.equal(blob.status, 503, 'an uncached blob while the upstream is down')
  t.equal(errorBody(blob)?.errors[0]?.code, 'UNAVAILABLE')

  // The cached store is consistent: fsck checks it offline.
  await proxy.wharf.stop()
  const fsck = await runCli(['fsck', '--json', '--config', proxy.configFile, '--storage', proxy.wharf.storage])
  t.equal(fsck.code, 0, fsck.stdout + fsck.stderr)
  for (const b of [amd64.config, ...amd64.layers]) t.ok(await exists(blobPath(proxy.wharf.storage, b.digest)), `blob ${b.digest} stored`)
})

t.test('unknown upstream content is the spec\'s 404; pushes to the prefix are refused with UNSUPPORTED', async (t) => {
  const upstream = await startUpstream(t)
  const proxy = await startProxy(t, [{ url: upstream.wharf.url }])
  const manifest = await proxy.client.get(`/v2/${PREFIX}/library/none/manifests/latest`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(manifest.status, 404)
  t.equal(errorBody(manifest)?.errors[0]?.code, 'MANIFEST_UNKNOWN')
  const blob = await proxy.client.getBlob(`${PREFIX}/library/none`, digestOf('nothing'))
  t.equal(blob.status, 404)
  t.equal(errorBody(blob)?.errors[0]?.code, 'BLOB_UNKNOWN')

  const layer = makeBlob(100)
  const post = await proxy.client.postBlob(`${PREFIX}/library/app`, layer)
  t.equal(post.status, 405, 'blob upload into the prefix')
  t.equal(errorBody(post)?.errors[0]?.code, 'UNSUPPORTED')
  t.match(errorBody(post)?.errors[0]?.message, /pull-through cache/)
  const image = makeImage(MediaTypes.ociManifest, configBlob(), [layer])
  const put = await proxy.client.putManifest(`${PREFIX}/library/app`, 'v1', image.manifest)
  t.equal(put.status, 405, 'manifest PUT into the prefix')
  t.equal(errorBody(put)?.errors[0]?.code, 'UNSUPPORTED')
  t.notOk(await exists(blobPath(proxy.wharf.storage, layer.digest)), 'nothing stored')
  t.equal((await proxy.client.postBlob('local/app', layer)).status, 201, 'pushes elsewhere still work')
})

t.test('allowPush: pushes into the prefix are accepted, and a tag pushed here is never re-validated upstream', async (t) => {
  const upstream = await startUpstream(t)
  const remote = makeImage(MediaTypes.ociManifest, configBlob({ remote: true }), [makeBlob(500)])
  await upstream.client.pushContent('team/app', 'v1', remote)
  const proxy = await startProxy(t, [{ url: upstream.wharf.url, allowPush: true, tagTtlSeconds: 0 }])
  const repo = `${PREFIX}/team/app`
  t.equal((await proxy.client.get(`/v2/${repo}/manifests/v1`, { Accept: ACCEPT_ALL_MANIFESTS })).header('docker-content-digest'), remote.manifest.digest, 'pulled through')
  const local = makeImage(MediaTypes.ociManifest, configBlob({ local: true }), [makeBlob(600)])
  await proxy.client.pushContent(repo, 'v1', local)
  for (let i = 0; i < 2; i++) {
    t.equal((await proxy.client.get(`/v2/${repo}/manifests/v1`, { Accept: ACCEPT_ALL_MANIFESTS })).header('docker-content-digest'), local.manifest.digest, 'the pushed tag, though the TTL is 0')
  }
  // An image built on the upstream's layer: the client's HEAD finds that layer (upstream) and skips
  // uploading it; the manifest PUT has the cache fetch it.
  const derived = makeImage(MediaTypes.ociManifest, configBlob({ derived: true }), [remote.layers[0]!, makeBlob(700)])
  t.equal((await proxy.client.headBlob(repo, remote.layers[0]!.digest)).status, 200, 'the upstream\'s layer exists for the client')
  await proxy.client.pushContent(repo, 'derived', derived)
  t.same(sameContent(await proxy.client.pullVerified(repo, 'derived'), derived), [], 'the pushed image, whole')
  t.ok(await exists(blobPath(proxy.wharf.storage, remote.layers[0]!.digest)), 'the upstream\'s layer fetched into the cache')
})
