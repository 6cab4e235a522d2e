import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { type Blob, descriptor, digestOf, dockerManifest, dockerManifestList, errorCodes, makeBlob, type Manifest, manifestOf, MediaTypes, ociIndex, ociManifest, request, requestHeadOnly, serverErrors, startTestServer, uniqueRepo } from '../support/index.js'

const { wharf, client } = await startTestServer(t)

async function blobs(repo: string, ...sizes: number[]): Promise<Blob[]> {
  const out: Blob[] = []
  for (const size of sizes) out.push(await client.pushBlob(repo, makeBlob(size)))
  return out
}

async function image(repo: string): Promise<Manifest> {
  const [config, layer] = await blobs(repo, 200, 3000)
  return ociManifest({ config: descriptor(config!, MediaTypes.ociConfig), layers: [descriptor(layer!, MediaTypes.ociLayer)] })
}

t.test('PUT by tag, then HEAD and GET by tag and by digest return the exact bytes', async (t) => {
  const repo = uniqueRepo('man')
  const m = await image(repo)
  const put = await client.putManifest(repo, 'v1', m)
  t.equal(put.status, 201)
  t.equal(put.header('location'), `/v2/${repo}/manifests/${m.digest}`)
  t.equal(put.header('docker-content-digest'), m.digest)
  t.equal(put.header('oci-subject'), undefined, 'no subject')
  for (const ref of ['v1', m.digest]) {
    const get = await client.get(`/v2/${repo}/manifests/${ref}`)
    t.equal(get.status, 200, `GET ${ref}`)
    t.ok(get.body.equals(m.body), 'identical bytes')
    t.equal(get.header('content-type'), MediaTypes.ociManifest)
    t.equal(get.header('docker-content-digest'), m.digest)
    t.equal(get.header('content-length'), String(m.size))
    const head = await client.head(`/v2/${repo}/manifests/${ref}`)
    t.equal(head.status, 200, `HEAD ${ref}`)
    t.equal(head.header('content-type'), MediaTypes.ociManifest)
    t.equal(head.header('docker-content-digest'), m.digest)
    t.equal(head.header('content-length'), String(m.size))
    t.equal(head.body.length, 0)
  }
})

t.test('PUT by digest', async (t) => {
  const repo = uniqueRepo('man')
  const m = await image(repo)
  const put = await client.putManifest(repo, m.digest, m)
  t.equal(put.status, 201)
  t.equal(put.header('docker-content-digest'), m.digest)
  t.ok((await client.get(`/v2/${repo}/manifests/${m.digest}`)).body.equals(m.body))
  const tags = await client.get(`/v2/${repo}/tags/list`)
  t.same(tags.json<{ tags: string[] }>().tags, [], 'no tag')
})

t.test('the body is stored byte-exact: odd whitespace, key order, unicode escapes', async (t) => {
  const repo = uniqueRepo('man')
  const [config, layer] = await blobs(repo, 10, 20)
  const text = `\n  {"layers":[ {"size": ${layer!.size},"digest":"${layer!.digest}",   "mediaType":"${MediaTypes.ociLayer}"}],\n\t"config":{"digest":"${config!.digest}","mediaType":"${MediaTypes.ociConfig}","size":${config!.size}},` +
    `"annotations":{"note":"caf\\u00e9 ☕"}, "schemaVersion" : 2 ,"mediaType":"${MediaTypes.ociManifest}"}\n\n`
  const m = manifestOf(text, MediaTypes.ociManifest)
  t.equal((await client.putManifest(repo, 'odd', m)).status, 201)
  const get = await client.get(`/v2/${repo}/manifests/odd`)
  t.ok(get.body.equals(m.body), 'byte for byte')
  t.equal(get.header('docker-content-digest'), digestOf(Buffer.from(text)), 'digest of the bytes as sent')
})

t.test('PUT by digest with ?tag= answers one OCI-Tag header per tag and every tag resolves', async (t) => {
  const repo = uniqueRepo('man')
  const m = await image(repo)
  const put = await client.putManifest(repo, m.digest, m, { query: '?tag=alpha&tag=beta&tag=v1.2.3' })
  t.equal(put.status, 201)
  t.same(put.all('oci-tag'), ['alpha', 'beta', 'v1.2.3'], 'separate OCI-Tag headers')
  for (const tag of ['alpha', 'beta', 'v1.2.3']) {
    const get = await client.get(`/v2/${repo}/manifests/${tag}`)
    t.equal(get.status, 200, tag)
    t.equal(get.header('docker-content-digest'), m.digest)
  }
  t.same((await client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list`)).tags, ['alpha', 'beta', 'v1.2.3'])
  const badTag = await client.putManifest(repo, m.digest, m, { query: '?tag=ok&tag=.bad' })
  t.equal(badTag.status, 400, 'an invalid ?tag=')
  t.same(errorCodes(badTag), ['TAG_INVALID'])
  t.equal((await client.get(`/v2/${repo}/manifests/ok`)).status, 404, 'no tag of a refused PUT')
})

t.test('Accept negotiation', async (t) => {
  const repo = uniqueRepo('man')
  const child = await image(repo)
  await client.pushManifest(repo, child.digest, child)
  const index = ociIndex([descriptor(child, MediaTypes.ociManifest, { platform: { architecture: 'amd64', os: 'linux' } })])
  await client.pushManifest(repo, 'multi', index)
  const docker = `${MediaTypes.dockerManifest}, ${MediaTypes.dockerManifestList}`
  const cases: Array<[string | string[] | undefined, number, string]> = [
    [undefined, 200, 'no Accept'],
    ['*/*', 200, 'wildcard'],
    ['application/*', 200, 'type wildcard'],
    [MediaTypes.ociIndex, 200, 'exact'],
    [`${MediaTypes.ociManifest}, ${MediaTypes.ociIndex};q=0.9`, 200, 'in a list with parameters'],
    [[MediaTypes.dockerManifest, MediaTypes.ociIndex], 200, 'repeated Accept headers'],
    [`${docker}, */*;q=0.1`, 200, 'Docker types then a wildcard'],
    ['application/json', 200, 'a list naming no manifest type'],
    [docker, 404, 'only Docker types'],
    [MediaTypes.ociManifest, 404, 'only the OCI image manifest'],
    [[MediaTypes.dockerManifest, MediaTypes.dockerManifestList], 404, 'Docker types in repeated headers'],
  ]
  for (const [accept, status, why] of cases) {
    const headers = accept === undefined ? {} : { accept }
    const get = await client.get(`/v2/${repo}/manifests/multi`, headers)
    t.equal(get.status, status, `GET: ${why}`)
    if (status === 200) {
      t.ok(get.body.equals(index.body))
      t.equal(get.header('content-type'), MediaTypes.ociIndex)
    } else {
      t.same(errorCodes(get), ['MANIFEST_UNKNOWN'], why)
    }
    t.equal((await client.head(`/v2/${repo}/manifests/multi`, headers)).status, status, `HEAD: ${why}`)
  }
  t.equal((await client.get(`/v2/${repo}/manifests/${index.digest}`, { accept: docker })).status, 404, 'by digest too')
})

t.test('DELETE by digest removes the manifest and its tags', async (t) => {
  const repo = uniqueRepo('man')
  const a = await image(repo)
  const b = await image(repo)
  await client.putManifest(repo, a.digest, a, { query: '?tag=a1&tag=a2' })
  await client.pushManifest(repo, 'b1', b)
  const del = await client.delete(`/v2/${repo}/manifests/${a.digest}`)
  t.equal(del.status, 202)
  for (const ref of [a.digest, 'a1', 'a2']) {
    const get = await client.get(`/v2/${repo}/manifests/${ref}`)
    t.equal(get.status, 404, ref)
    t.same(errorCodes(get), ['MANIFEST_UNKNOWN'])
    t.equal((await client.head(`/v2/${repo}/manifests/${ref}`)).status, 404)
  }
  t.same((await client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list`)).tags, ['b1'])
  t.equal((await client.get(`/v2/${repo}/manifests/b1`)).status, 200, 'other manifests untouched')
  const again = await client.delete(`/v2/${repo}/manifests/${a.digest}`)
  t.equal(again.status, 404)
  t.same(errorCodes(again), ['MANIFEST_UNKNOWN'])
})

t.test('DELETE by tag removes only the tag', async (t) => {
  const repo = uniqueRepo('man')
  const m = await image(repo)
  await client.putManifest(repo, m.digest, m, { query: '?tag=keep&tag=drop' })
  const del = await client.delete(`/v2/${repo}/manifests/drop`)
  t.equal(del.status, 202)
  t.equal((await client.get(`/v2/${repo}/manifests/drop`)).status, 404)
  t.equal((await client.get(`/v2/${repo}/manifests/keep`)).status, 200)
  t.equal((await client.get(`/v2/${repo}/manifests/${m.digest}`)).status, 200, 'the manifest stays')
  t.same((await client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list`)).tags, ['keep'])
  const unknown = await client.delete(`/v2/${repo}/manifests/never`)
  t.equal(unknown.status, 404)
  t.same(errorCodes(unknown), ['MANIFEST_UNKNOWN'])
})

t.test('unknown manifests and invalid references', async (t) => {
  const repo = uniqueRepo('man')
  const m = await image(repo)
  await client.pushManifest(repo, 'here', m)
  const other = uniqueRepo('man')
  for (const path of [`/v2/${repo}/manifests/nothere`, `/v2/${repo}/manifests/${makeBlob(3).digest}`, `/v2/${other}/manifests/here`, `/v2/${other}/manifests/${m.digest}`]) {
    const res = await client.get(path)
    t.equal(res.status, 404, path)
    t.same(errorCodes(res), ['MANIFEST_UNKNOWN'])
  }
  const badDigest = await client.get(`/v2/${repo}/manifests/sha256:abc`)
  t.equal(badDigest.status, 400)
  t.same(errorCodes(badDigest), ['DIGEST_INVALID'])
  const badTag = await client.get(`/v2/${repo}/manifests/${'x'.repeat(129)}`)
  t.equal(badTag.status, 404, 'a malformed tag names no manifest')
  t.same(errorCodes(badTag), ['MANIFEST_UNKNOWN'])
  const putBadTag = await client.putManifest(repo, '-dash', m)
  t.equal(putBadTag.status, 400)
  t.same(errorCodes(putBadTag), ['TAG_INVALID'])
  const blobAsManifest = await client.get(`/v2/${repo}/manifests/${(await blobs(repo, 5))[0]!.digest}`)
  t.equal(blobAsManifest.status, 404, 'a blob is not a manifest')
})

t.test('refused manifests: 400 with the right code, and nothing stored', async (t) => {
  const repo = uniqueRepo('man')
  const [config, layer] = await blobs(repo, 100, 200)
  const cfg = descriptor(config!, MediaTypes.ociConfig)
  const lay = descriptor(layer!, MediaTypes.ociLayer)
  const missing = makeBlob(300)
  const elsewhere = await client.pushBlob(uniqueRepo('man'), makeBlob(400))
  const cases: Array<[string, Manifest, string | null, string]> = [
    ['bad JSON', manifestOf('{"schemaVersion": 2,', MediaTypes.ociManifest), MediaTypes.ociManifest, 'MANIFEST_INVALID'],
    ['empty body', manifestOf('', MediaTypes.ociManifest), MediaTypes.ociManifest, 'MANIFEST_INVALID'],
    ['schema1', manifestOf({ schemaVersion: 1, name: repo, tag: 'x', fsLayers: [], history: [], signatures: [] }, MediaTypes.dockerSchema1Signed), MediaTypes.dockerSchema1Signed, 'MANIFEST_INVALID'],
    ['schema1 without Content-Type', manifestOf({ schemaVersion: 1, name: repo, tag: 'x', fsLayers: [] }, ''), null, 'MANIFEST_INVALID'],
    ['unknown media type', manifestOf({ schemaVersion: 2, mediaType: 'application/vnd.example.thing+json', stuff: [] }, 'application/vnd.example.thing+json'), 'application/vnd.example.thing+json', 'MANIFEST_INVALID'],
    ['Content-Type differs from mediaType', ociManifest({ config: cfg, layers: [lay] }), MediaTypes.dockerManifest, 'MANIFEST_INVALID'],
    ['index Content-Type on a manifest', ociManifest({ config: cfg, layers: [lay] }), MediaTypes.ociIndex, 'MANIFEST_INVALID'],
    ['bad descriptor digest', manifestOf({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { ...cfg, digest: 'sha256:XYZ' }, layers: [] }, MediaTypes.ociManifest), MediaTypes.ociManifest, 'MANIFEST_INVALID'],
    ['missing fields', manifestOf({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, layers: [lay] }, MediaTypes.ociManifest), MediaTypes.ociManifest, 'MANIFEST_INVALID'],
    ['missing layer blob', ociManifest({ config: cfg, layers: [lay, descriptor(missing, MediaTypes.ociLayer)] }), MediaTypes.ociManifest, 'MANIFEST_BLOB_UNKNOWN'],
    ['missing config blob', ociManifest({ config: descriptor(missing, MediaTypes.ociConfig), layers: [lay] }), MediaTypes.ociManifest, 'MANIFEST_BLOB_UNKNOWN'],
    ['blob of another repository', ociManifest({ config: cfg, layers: [descriptor(elsewhere, MediaTypes.ociLayer)] }), MediaTypes.ociManifest, 'MANIFEST_BLOB_UNKNOWN'],
    ['descriptor size mismatch', ociManifest({ config: cfg, layers: [{ ...lay, size: lay.size + 1 }] }), MediaTypes.ociManifest, 'MANIFEST_INVALID'],
    ['missing child manifest of an index', ociIndex([{ mediaType: MediaTypes.ociManifest, digest: makeBlob(50).digest, size: 50 }]), MediaTypes.ociIndex, 'MANIFEST_BLOB_UNKNOWN'],
  ]
  for (const [why, m, contentType, code] of cases) {
    const put = await client.putManifest(repo, 'refused', m, { contentType })
    t.equal(put.status, 400, `${why}: 400`)
    t.same(errorCodes(put), [code], `${why}: ${code}`)
    t.match(put.header('content-type'), /^application\/json/)
    t.equal((await client.get(`/v2/${repo}/manifests/${m.digest}`)).status, 404, `${why}: not stored`)
  }
  t.equal((await client.get(`/v2/${repo}/manifests/refused`)).status, 404, 'the tag was never set')
  const detail = await client.putManifest(repo, 'refused', ociManifest({ config: cfg, layers: [descriptor(missing, MediaTypes.ociLayer)] }))
  t.match(detail.json(), { errors: [{ code: 'MANIFEST_BLOB_UNKNOWN', detail: { missing: [{ digest: missing.digest }] } }] }, 'the detail names the missing blob')
})

t.test('a blob deleted from the repository can no longer be referenced', async (t) => {
  const repo = uniqueRepo('man')
  const [config, layer] = await blobs(repo, 100, 200)
  t.equal((await client.delete(`/v2/${repo}/blobs/${layer!.digest}`)).status, 202)
  const m = ociManifest({ config: descriptor(config!, MediaTypes.ociConfig), layers: [descriptor(layer!, MediaTypes.ociLayer)] })
  const put = await client.putManifest(repo, 'v', m)
  t.equal(put.status, 400)
  t.same(errorCodes(put), ['MANIFEST_BLOB_UNKNOWN'])
  await client.pushBlob(repo, layer!)
  t.equal((await client.putManifest(repo, 'v', m)).status, 201, 'accepted once pushed again')
})

t.test('a refused manifest does not move an existing tag', async (t) => {
  const repo = uniqueRepo('man')
  const good = await image(repo)
  await client.pushManifest(repo, 'stable', good)
  const bad = ociManifest({ config: descriptor(makeBlob(9), MediaTypes.ociConfig), layers: [] })
  t.equal((await client.putManifest(repo, 'stable', bad)).status, 400)
  t.equal((await client.get(`/v2/${repo}/manifests/stable`)).header('docker-content-digest'), good.digest)
})

t.test('PUT by digest with a mismatching digest is 400 DIGEST_INVALID', async (t) => {
  const repo = uniqueRepo('man')
  const m = await image(repo)
  const wrong = makeBlob(10).digest
  const put = await client.putManifest(repo, wrong, m)
  t.equal(put.status, 400)
  t.same(errorCodes(put), ['DIGEST_INVALID'])
  t.equal((await client.get(`/v2/${repo}/manifests/${m.digest}`)).status, 404)
  t.equal((await client.get(`/v2/${repo}/manifests/${wrong}`)).status, 404)
  const sha512 = digestOf(m.body, 'sha512')
  const put512 = await client.putManifest(repo, sha512, m)
  t.equal(put512.status, 201, 'PUT by the sha512 digest of the bytes')
  t.equal(put512.header('docker-content-digest'), sha512)
  t.ok((await client.get(`/v2/${repo}/manifests/${sha512}`)).body.equals(m.body))
})

t.test('manifests larger than 4 MiB are 413', async (t) => {
  const repo = uniqueRepo('man')
  const limit = 4 * 1024 * 1024
  // A declared size past what the server drains before answering (8 MiB) is refused on the headers alone.
  const declared = await requestHeadOnly(wharf.url, `/v2/${repo}/manifests/big`, {
    method: 'PUT', headers: { 'content-type': MediaTypes.ociManifest, 'content-length': 64 * 1024 * 1024 },
  })
  t.equal(declared.status, 413, 'declared Content-Length over the limit')
  t.ok(errorCodes(declared).length > 0, 'a JSON error body')

  // Streamed without Content-Length: the server has to count. The stream stops right after the
  // limit and stays open, so the server has read everything that was sent when it refuses.
  let sent = 0
  const body = new Readable({
    read() {
      if (sent > limit) return
      const n = Math.min(256 * 1024, limit + 1 - sent)
      sent += n
      this.push(Buffer.alloc(n, 0x20))
    },
  })
  const streamed = await request(wharf.url, `/v2/${repo}/manifests/big`, { method: 'PUT', body, fresh: true, headers: { 'content-type': MediaTypes.ociManifest } })
  body.destroy()
  t.equal(streamed.status, 413, 'chunked body over the limit')
  t.equal((await client.get(`/v2/${repo}/manifests/big`)).status, 404)

  // Just under the limit is read (and judged on content).
  const [config] = await blobs(repo, 10)
  const padding = 'x'.repeat(limit - 1000)
  const bigButOk = ociManifest({ config: descriptor(config!, MediaTypes.ociConfig), layers: [], annotations: { padding } })
  t.ok(bigButOk.size < limit)
  t.equal((await client.putManifest(repo, 'almost', bigButOk)).status, 201, 'a manifest just under 4 MiB is accepted')
  t.ok((await client.get(`/v2/${repo}/manifests/almost`)).body.equals(bigButOk.body))
  t.equal((await client.get('/v2/')).status, 200, 'server healthy')
})

t.test('subject pointing at a manifest that does not exist yet: accepted with OCI-Subject', async (t) => {
  const repo = uniqueRepo('man')
  const future = await image(repo)
  const [emptyConfig, sig] = [await client.pushBlob(repo, makeBlob('{}')), await client.pushBlob(repo, makeBlob(64))]
  const referrer = ociManifest({
    artifactType: 'application/vnd.example.signature',
    config: descriptor(emptyConfig, MediaTypes.ociEmpty), layers: [descriptor(sig, 'application/vnd.example.signature')],
    subject: descriptor(future, MediaTypes.ociManifest),
  })
  const put = await client.putManifest(repo, referrer.digest, referrer)
  t.equal(put.status, 201)
  t.equal(put.header('oci-subject'), future.digest)
  const refs = await client.getJson<{ manifests: Array<{ digest: string }> }>(`/v2/${repo}/referrers/${future.digest}`)
  t.same(refs.manifests.map((m) => m.digest), [referrer.digest], 'listed as a referrer before the subject exists')
  await client.pushManifest(repo, 'subject', future)
  t.equal((await client.get(`/v2/${repo}/manifests/${referrer.digest}`)).status, 200)
})

t.test('BuildKit cache index: entries that are layer blobs are accepted', async (t) => {
  const repo = uniqueRepo('man')
  const [l1, l2, cacheConfig] = await blobs(repo, 1000, 2000, 300)
  const index = ociIndex([
    descriptor(l1!, MediaTypes.ociLayer, { annotations: { 'buildkit/createdat': '2024-01-01T00:00:00Z' } }),
    descriptor(l2!, 'application/vnd.oci.image.layer.v1.tar+zstd'),
    descriptor(cacheConfig!, MediaTypes.buildkitCacheConfig),
  ])
  const put = await client.putManifest(repo, 'buildcache', index)
  t.equal(put.status, 201)
  t.ok((await client.get(`/v2/${repo}/manifests/buildcache`)).body.equals(index.body))
  const missing = ociIndex([descriptor(makeBlob(10), MediaTypes.ociLayer)])
  const refused = await client.putManifest(repo, 'buildcache2', missing)
  t.equal(refused.status, 400, 'a cache entry whose blob is missing')
  t.same(errorCodes(refused), ['MANIFEST_BLOB_UNKNOWN'])
})

t.test('a tag moves between a manifest and an index and back', async (t) => {
  const repo = uniqueRepo('man')
  const m = await image(repo)
  await client.pushManifest(repo, m.digest, m)
  const index = ociIndex([descriptor(m, MediaTypes.ociManifest)])
  await client.pushManifest(repo, 'x', m)
  let get = await client.get(`/v2/${repo}/manifests/x`)
  t.equal(get.header('content-type'), MediaTypes.ociManifest)
  await client.pushManifest(repo, 'x', index)
  get = await client.get(`/v2/${repo}/manifests/x`)
  t.equal(get.header('content-type'), MediaTypes.ociIndex, 'now the index')
  t.equal(get.header('docker-content-digest'), index.digest)
  t.ok(get.body.equals(index.body))
  await client.pushManifest(repo, 'x', m)
  get = await client.get(`/v2/${repo}/manifests/x`)
  t.equal(get.header('docker-content-digest'), m.digest, 'and back')
  t.equal((await client.get(`/v2/${repo}/manifests/${index.digest}`)).status, 200, 'the index stays by digest')
})

t.test('Docker schema2 manifest and manifest list', async (t) => {
  const repo = uniqueRepo('docker')
  const config = await client.pushBlob(repo, makeBlob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })))
  const layer = await client.pushBlob(repo, makeBlob(5000))
  const m = dockerManifest(descriptor(config, MediaTypes.dockerConfig), [descriptor(layer, MediaTypes.dockerLayer)])
  t.equal((await client.putManifest(repo, 'amd64', m)).status, 201)
  const list = dockerManifestList([descriptor(m, MediaTypes.dockerManifest, { platform: { architecture: 'amd64', os: 'linux' } })])
  t.equal((await client.putManifest(repo, 'latest', list)).status, 201)
  const accept = `${MediaTypes.dockerManifest}, ${MediaTypes.dockerManifestList}`
  const getList = await client.get(`/v2/${repo}/manifests/latest`, { accept })
  t.equal(getList.status, 200)
  t.equal(getList.header('content-type'), MediaTypes.dockerManifestList)
  t.ok(getList.body.equals(list.body))
  const getManifest = await client.get(`/v2/${repo}/manifests/amd64`, { accept })
  t.equal(getManifest.header('content-type'), MediaTypes.dockerManifest)
  t.equal((await client.get(`/v2/${repo}/manifests/latest`, { accept: MediaTypes.dockerManifest })).status, 404, 'a list to a client accepting only manifests')
  const foreign = dockerManifest(descriptor(config, MediaTypes.dockerConfig), [
    descriptor(makeBlob(7), MediaTypes.dockerForeignLayer, { urls: ['https://example.com/layer.tar.gz'] }), descriptor(layer, MediaTypes.dockerLayer),
  ])
  t.equal((await client.putManifest(repo, 'windows', foreign)).status, 201, 'foreign layers with urls need not be pushed')
  const noTypeInBody = manifestOf({ schemaVersion: 2, config: descriptor(config, MediaTypes.dockerConfig), layers: [descriptor(layer, MediaTypes.dockerLayer)] }, MediaTypes.dockerManifest)
  t.equal((await client.putManifest(repo, 'notype', noTypeInBody)).status, 201, 'mediaType from Content-Type')
  t.equal((await client.get(`/v2/${repo}/manifests/notype`)).header('content-type'), MediaTypes.dockerManifest)
})

t.test('artifacts: custom config media type, artifactType, zstd and in-toto layers', async (t) => {
  const repo = uniqueRepo('art')
  const helmConfig = await client.pushBlob(repo, makeBlob(JSON.stringify({ name: 'chart', version: '1.0.0' })))
  const chart = await client.pushBlob(repo, makeBlob(2048))
  const helm = ociManifest({ config: descriptor(helmConfig, 'application/vnd.cncf.helm.config.v1+json'), layers: [descriptor(chart, 'application/vnd.cncf.helm.chart.content.v1.tar+gzip')] })
  t.equal((await client.putManifest(repo, 'chart-1.0.0', helm)).status, 201, 'Helm chart')
  const empty = await client.pushBlob(repo, makeBlob('{}'))
  const statement = await client.pushBlob(repo, makeBlob(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [] })))
  const zstd = await client.pushBlob(repo, makeBlob(4096))
  const attestation = ociManifest({
    artifactType: 'application/vnd.example.attestation.v1',
    config: descriptor(empty, MediaTypes.ociEmpty),
    layers: [descriptor(statement, MediaTypes.inToto, { annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v1' } }), descriptor(zstd, MediaTypes.ociLayerZstd)],
  })
  t.equal((await client.putManifest(repo, 'attestation', attestation)).status, 201, 'artifact with in-toto and zstd layers')
  const get = await client.get(`/v2/${repo}/manifests/attestation`)
  t.ok(get.body.equals(attestation.body))
  t.equal(get.header('content-type'), MediaTypes.ociManifest)
  const noTypeAnywhere = ociManifest({ config: descriptor(empty, MediaTypes.ociEmpty), layers: [descriptor(zstd, MediaTypes.ociLayerZstd)], omitMediaType: true })
  t.equal((await client.putManifest(repo, 'untyped', noTypeAnywhere, { contentType: 'application/json' })).status, 201, 'no mediaType anywhere: the shape decides')
  t.equal((await client.get(`/v2/${repo}/manifests/untyped`)).header('content-type'), MediaTypes.ociManifest)
})

t.test('an index whose child manifest is in the repository, and nested indexes', async (t) => {
  const repo = uniqueRepo('man')
  const amd = await image(repo)
  const arm = await image(repo)
  await client.pushManifest(repo, amd.digest, amd)
  await client.pushManifest(repo, arm.digest, arm)
  const inner = ociIndex([descriptor(amd, MediaTypes.ociManifest), descriptor(arm, MediaTypes.ociManifest)])
  t.equal((await client.putManifest(repo, 'inner', inner)).status, 201)
  const outer = ociIndex([descriptor(inner, MediaTypes.ociIndex)], { annotations: { 'org.example': 'nested' } })
  t.equal((await client.putManifest(repo, 'outer', outer)).status, 201)
  const otherRepo = uniqueRepo('man')
  await client.pushBlob(otherRepo, makeBlob(1))
  const cross = await client.putManifest(otherRepo, 'x', inner)
  t.equal(cross.status, 400, 'children must be in the same repository')
  t.same(errorCodes(cross), ['MANIFEST_BLOB_UNKNOWN'])
  const wrongSize = ociIndex([{ ...descriptor(amd, MediaTypes.ociManifest), size: amd.size + 5 }])
  t.equal((await client.putManifest(repo, 'wrongsize', wrongSize)).status, 400, 'child descriptor with the wrong size')
})

t.test('the same manifest pushed twice, and in two repositories', async (t) => {
  const a = uniqueRepo('man')
  const b = uniqueRepo('man')
  const m = await image(a)
  await client.pushManifest(a, 't1', m)
  t.equal((await client.putManifest(a, 't1', m)).status, 201, 'idempotent')
  const config = JSON.parse(m.body.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> }
  for (const digest of [config.config.digest, ...config.layers.map((l) => l.digest)]) {
    t.equal((await client.request(`/v2/${b}/blobs/uploads/?mount=${digest}&from=${a}`, { method: 'POST' })).status, 201)
  }
  await client.pushManifest(b, 't2', m)
  t.equal((await client.delete(`/v2/${a}/manifests/${m.digest}`)).status, 202)
  t.equal((await client.get(`/v2/${b}/manifests/t2`)).status, 200, 'deleting in one repository keeps it in the other')
  t.ok((await client.get(`/v2/${b}/manifests/${m.digest}`)).body.equals(m.body))
})

t.test('random bodies never crash the server', async (t) => {
  const repo = uniqueRepo('fuzz')
  for (let i = 0; i < 20; i++) {
    const body = randomBytes(1 + (i * 97) % 2000)
    const res = await client.request(`/v2/${repo}/manifests/f${i}`, { method: 'PUT', body, headers: { 'content-type': i % 2 ? MediaTypes.ociManifest : 'application/octet-stream' } })
    t.equal(res.status, 400, `random body ${i}`)
  }
  t.equal((await client.get('/v2/')).status, 200)
})

t.test('no request ended in a server error (nothing logged at level error)', async (t) => {
  t.same(serverErrors(wharf), [])
})
