import t from 'tap'
import type { Test } from 'tap'
import { descriptor, errorCodes, type HttpResponse, makeBlob, MediaTypes, ociIndex, ociManifest, RegistryClient, serverErrors, startTestServer, uniqueRepo } from '../support/index.js'

const { wharf, client } = await startTestServer(t)

/** The next-page path of a Link header, checking its shape. */
function nextLink(t: Test, res: HttpResponse): string | undefined {
  const link = res.header('link')
  if (link === undefined) return undefined
  const match = /^<([^>]+)>; rel="next"$/.exec(link)
  t.ok(match, `Link header shape: ${link}`)
  return match?.[1]
}

async function taggedImage(repo: string, tags: string[]): Promise<string> {
  const config = await client.pushBlob(repo, makeBlob(JSON.stringify({ n: Math.random() })))
  const layer = await client.pushBlob(repo, makeBlob(100))
  const m = ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: [descriptor(layer, MediaTypes.ociLayer)] })
  const query = tags.length > 0 ? `?${tags.map((x) => `tag=${x}`).join('&')}` : ''
  const res = await client.putManifest(repo, m.digest, m, { query })
  if (res.status !== 201) throw new Error(`push failed: ${res.status} ${res.text()}`)
  return m.digest
}

t.test('tags/list is sorted', async (t) => {
  const repo = uniqueRepo('tags')
  const tags = ['v2', 'latest', 'v10', 'A', 'v1', '1.0', '_x', 'beta', 'Z-last']
  await taggedImage(repo, tags.slice(0, 4))
  await taggedImage(repo, tags.slice(4))
  const res = await client.get(`/v2/${repo}/tags/list`)
  t.equal(res.status, 200)
  t.match(res.header('content-type'), /^application\/json/)
  t.same(res.json(), { name: repo, tags: [...tags].sort() })
  t.equal(res.header('link'), undefined, 'no Link when everything fits')
})

t.test('tags/list pagination with n, last and Link rel="next"', async (t) => {
  const repo = uniqueRepo('tags')
  const tags = Array.from({ length: 11 }, (_, i) => `t${String(i).padStart(2, '0')}`)
  await taggedImage(repo, tags)
  const first = await client.get(`/v2/${repo}/tags/list?n=4`)
  t.equal(first.status, 200)
  t.same(first.json<{ tags: string[] }>().tags, tags.slice(0, 4))
  t.equal(first.header('link'), `</v2/${repo}/tags/list?n=4&last=t03>; rel="next"`)
  const seen: string[] = []
  let path: string | undefined = `/v2/${repo}/tags/list?n=4`
  let pages = 0
  while (path !== undefined && pages < 10) {
    const res = await client.get(path)
    t.equal(res.status, 200)
    const page = res.json<{ name: string; tags: string[] }>()
    t.equal(page.name, repo)
    t.ok(page.tags.length <= 4, 'at most n')
    seen.push(...page.tags)
    path = nextLink(t, res)
    pages++
  }
  t.same(seen, tags, 'following Link visits every tag once, in order')
  t.equal(pages, 3)
  t.same((await client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list?last=t05`)).tags, tags.slice(6), 'last alone')
  t.same((await client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list?n=2&last=t05`)).tags, ['t06', 't07'])
  t.same((await client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list?last=t10`)).tags, [], 'after the last tag')
  t.same((await client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list?last=a`)).tags, tags, 'last before every tag')
  const exact = await client.get(`/v2/${repo}/tags/list?n=11`)
  t.equal(exact.json<{ tags: string[] }>().tags.length, 11)
  t.equal(exact.header('link'), undefined, 'n equal to the count: no Link')
  const big = await client.get(`/v2/${repo}/tags/list?n=1000`)
  t.same(big.json<{ tags: string[] }>().tags, tags)
  t.equal(big.header('link'), undefined)
  const zero = await client.get(`/v2/${repo}/tags/list?n=0`)
  t.equal(zero.status, 200, 'n=0')
  t.same(zero.json<{ tags: string[] }>().tags, [])
})

t.test('tags/list errors', async (t) => {
  const unknown = await client.get(`/v2/${uniqueRepo('tags')}/tags/list`)
  t.equal(unknown.status, 404)
  t.same(errorCodes(unknown), ['NAME_UNKNOWN'])
  const repo = uniqueRepo('tags')
  await taggedImage(repo, ['a'])
  for (const n of ['abc', '-1', '1.5', '', '1e3', '+5']) {
    const res = await client.get(`/v2/${repo}/tags/list?n=${n}`)
    t.equal(res.status, 400, `n=${n}`)
    t.same(errorCodes(res), ['PAGINATION_NUMBER_INVALID'], `n=${n}`)
  }
  const blobsOnly = uniqueRepo('tags')
  await client.pushBlob(blobsOnly, makeBlob(5))
  const empty = await client.get(`/v2/${blobsOnly}/tags/list`)
  t.equal(empty.status, 200, 'a repository with blobs only exists')
  t.same(empty.json(), { name: blobsOnly, tags: [] })
})

t.test('a deleted tag disappears from the list', async (t) => {
  const repo = uniqueRepo('tags')
  await taggedImage(repo, ['one', 'two'])
  await client.delete(`/v2/${repo}/manifests/one`)
  t.same((await client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list`)).tags, ['two'])
})

t.test('catalog: sorted, paginated with Link, bad n refused (on a server of its own)', async (t) => {
  const { client: own } = await startTestServer(t)
  const empty = await own.get('/v2/_catalog')
  t.equal(empty.status, 200)
  t.same(empty.json(), { repositories: [] }, 'empty registry')
  const names = ['zeta', 'alpha/beta', 'alpha', 'alpha-x', 'm/n/o', 'b', 'alpha/beta/gamma']
  for (const name of names) await own.pushBlob(name, makeBlob(8))
  const sorted = [...names].sort()
  const all = await own.get('/v2/_catalog')
  t.same(all.json(), { repositories: sorted })
  t.equal(all.header('link'), undefined)
  const seen: string[] = []
  let path: string | undefined = '/v2/_catalog?n=3'
  let pages = 0
  while (path !== undefined && pages < 10) {
    const res = await own.get(path)
    t.equal(res.status, 200)
    const page = res.json<{ repositories: string[] }>()
    t.ok(page.repositories.length <= 3)
    seen.push(...page.repositories)
    path = nextLink(t, res)
    if (path !== undefined) t.match(path, /^\/v2\/_catalog\?n=3&last=/)
    pages++
  }
  t.same(seen, sorted, 'Link pagination visits every repository once')
  t.same((await own.getJson<{ repositories: string[] }>(`/v2/_catalog?n=2&last=${encodeURIComponent('alpha/beta')}`)).repositories, sorted.slice(sorted.indexOf('alpha/beta') + 1, sorted.indexOf('alpha/beta') + 3))
  for (const n of ['x', '-2']) {
    const res = await own.get(`/v2/_catalog?n=${n}`)
    t.equal(res.status, 400)
    t.same(errorCodes(res), ['PAGINATION_NUMBER_INVALID'])
  }
  t.ok(own instanceof RegistryClient)
})

t.test('referrers: an OCI index of the manifests whose subject is the digest', async (t) => {
  const repo = uniqueRepo('refs')
  const subjectDigest = await taggedImage(repo, ['app'])
  const subjectBody = (await client.get(`/v2/${repo}/manifests/app`)).body
  const subject = { mediaType: MediaTypes.ociManifest, digest: subjectDigest, size: subjectBody.length }
  const empty = await client.pushBlob(repo, makeBlob('{}'))
  const sigBlob = await client.pushBlob(repo, makeBlob(128))
  const sbomConfig = await client.pushBlob(repo, makeBlob(JSON.stringify({ sbom: true })))
  const sbomBlob = await client.pushBlob(repo, makeBlob(512))
  const signature = ociManifest({
    artifactType: 'application/vnd.example.signature.v1', config: descriptor(empty, MediaTypes.ociEmpty),
    layers: [descriptor(sigBlob, 'application/vnd.example.signature.v1')], subject,
    annotations: { 'org.opencontainers.image.created': '2024-05-01T00:00:00Z', 'org.example.signer': 'alice' },
  })
  const sbom = ociManifest({ config: descriptor(sbomConfig, 'application/vnd.example.sbom.config.v1+json'), layers: [descriptor(sbomBlob, 'application/spdx+json')], subject })
  const bundle = ociIndex([], { subject, artifactType: 'application/vnd.example.bundle.v1', annotations: { kind: 'bundle' } })
  for (const m of [signature, sbom, bundle]) {
    const put = await client.putManifest(repo, m.digest, m)
    t.equal(put.status, 201)
    t.equal(put.header('oci-subject'), subjectDigest)
  }
  const res = await client.get(`/v2/${repo}/referrers/${subjectDigest}`)
  t.equal(res.status, 200)
  t.equal(res.header('content-type')?.split(';')[0], MediaTypes.ociIndex)
  t.equal(res.header('oci-filters-applied'), undefined, 'no filter applied')
  const index = res.json<{ schemaVersion: number; mediaType: string; manifests: Array<Record<string, unknown>> }>()
  t.equal(index.schemaVersion, 2)
  t.equal(index.mediaType, MediaTypes.ociIndex)
  const byDigest = new Map(index.manifests.map((m) => [m.digest, m]))
  t.equal(index.manifests.length, 3)
  t.same(byDigest.get(signature.digest), {
    mediaType: MediaTypes.ociManifest, digest: signature.digest, size: signature.size, artifactType: 'application/vnd.example.signature.v1',
    annotations: { 'org.opencontainers.image.created': '2024-05-01T00:00:00Z', 'org.example.signer': 'alice' },
  }, 'artifactType and annotations')
  t.same(byDigest.get(sbom.digest), { mediaType: MediaTypes.ociManifest, digest: sbom.digest, size: sbom.size, artifactType: 'application/vnd.example.sbom.config.v1+json' }, 'artifactType falls back to the config media type')
  t.same(byDigest.get(bundle.digest), { mediaType: MediaTypes.ociIndex, digest: bundle.digest, size: bundle.size, artifactType: 'application/vnd.example.bundle.v1', annotations: { kind: 'bundle' } }, 'an index as a referrer')

  const filtered = await client.get(`/v2/${repo}/referrers/${subjectDigest}?artifactType=${encodeURIComponent('application/vnd.example.signature.v1')}`)
  t.equal(filtered.status, 200)
  t.equal(filtered.header('oci-filters-applied'), 'artifactType')
  t.same(filtered.json<{ manifests: Array<{ digest: string }> }>().manifests.map((m) => m.digest), [signature.digest])
  const none = await client.get(`/v2/${repo}/referrers/${subjectDigest}?artifactType=application/vnd.nothing`)
  t.equal(none.header('oci-filters-applied'), 'artifactType')
  t.same(none.json<{ manifests: unknown[] }>().manifests, [])

  const other = uniqueRepo('refs')
  const elsewhere = await client.get(`/v2/${other}/referrers/${subjectDigest}`)
  t.equal(elsewhere.status, 200, 'another repository: empty, not 404')
  t.same(elsewhere.json(), { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] })

  await client.delete(`/v2/${repo}/manifests/${signature.digest}`)
  const after = await client.getJson<{ manifests: Array<{ digest: string }> }>(`/v2/${repo}/referrers/${subjectDigest}`)
  t.same(after.manifests.map((m) => m.digest).sort(), [sbom.digest, bundle.digest].sort(), 'a deleted referrer disappears')
})

t.test('referrers of an unknown digest and of an invalid one', async (t) => {
  const repo = uniqueRepo('refs')
  await taggedImage(repo, ['x'])
  const unknown = await client.get(`/v2/${repo}/referrers/${makeBlob(9).digest}`)
  t.equal(unknown.status, 200)
  t.same(unknown.json(), { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] })
  const unknownRepo = await client.get(`/v2/${uniqueRepo('refs')}/referrers/${makeBlob(9).digest}`)
  t.equal(unknownRepo.status, 200, 'an unknown repository')
  for (const digest of ['sha256:123', 'latest', `sha256:${'A'.repeat(64)}`]) {
    const res = await client.get(`/v2/${repo}/referrers/${digest}`)
    t.equal(res.status, 400, digest)
    t.same(errorCodes(res), ['DIGEST_INVALID'])
  }
})

t.test('no request ended in a server error (nothing logged at level error)', async (t) => {
  t.same(serverErrors(wharf), [])
})
