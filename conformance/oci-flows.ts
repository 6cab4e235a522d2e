// The four workflows of the OCI distribution-spec conformance suite (pull, push, content
// discovery, content management) as tap tests against any registry base URL. Optional features
// are checked when the registry's Capabilities say it has them (compare the upstream suite's
// OCI_TEST_* and OCI_*_FEATURE switches).
import { randomBytes } from 'node:crypto'
import type { Tap } from './helpers/env.js'
import { ACCEPT_ALL_MANIFESTS, type Blob, descriptor, digestOf, errorCodes, expectStatus, type HttpResponse, jsonBytes, type Manifest, makeBlob, manifestOf, MediaTypes, RegistryClient, withQuery } from '../test/support/index.js'
import type { Capabilities } from './helpers/target.js'

const EMPTY = makeBlob('{}', { mediaType: MediaTypes.ociEmpty })

function configBlob(salt: string): Blob {
  return makeBlob(jsonBytes({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, salt }), { mediaType: MediaTypes.ociConfig })
}

function manifestFor(config: Blob, layers: readonly Blob[], extra: Record<string, unknown> = {}): Manifest {
  return manifestOf(jsonBytes({
    schemaVersion: 2, mediaType: MediaTypes.ociManifest, ...extra, config: descriptor(config), layers: layers.map((l) => descriptor(l)),
  }), MediaTypes.ociManifest)
}

function errorCode(t: Tap, res: HttpResponse, code: string, what: string): void {
  t.ok(errorCodes(res).includes(code), `${what}: error body has ${code} (${res.text().slice(0, 200)})`)
}

function locationPath(reg: RegistryClient, res: HttpResponse): string | undefined {
  const location = res.header('location')
  return location === undefined ? undefined : new URL(reg.resolve(location)).pathname
}

/**
 * Registers the OCI conformance workflows as subtests of `t`, against `baseUrl`. Every run uses a
 * fresh namespace under `namespace`, so it can run repeatedly against a long-lived registry.
 */
export async function ociConformanceFlows(t: Tap, baseUrl: string, caps: Capabilities, namespace: string): Promise<void> {
  const reg = new RegistryClient(baseUrl, { timeoutMs: 60_000 })
  const salt = randomBytes(6).toString('hex')
  const repo = `${namespace}/oci-${salt}`
  const crossRepo = `${namespace}/oci-${salt}-cross`
  const config = configBlob(salt)
  const layer = makeBlob(randomBytes(4096), { mediaType: MediaTypes.ociLayer })
  const manifest = manifestFor(config, [layer])
  const tag = 'tagtest0'

  await t.test('pull', async (t) => {
    t.equal((await reg.get('/v2/')).status, 200, 'GET /v2/ answers 200 [end-1]')
    await reg.pushBlobMonolithic(repo, config.data)
    await reg.pushBlobMonolithic(repo, layer.data)
    await reg.pushManifest(repo, tag, manifest)

    const byTag = await reg.get(`/v2/${repo}/manifests/${tag}`, { Accept: MediaTypes.ociManifest })
    t.equal(byTag.status, 200, 'GET manifest by tag [end-3]')
    t.ok(byTag.body.equals(manifest.body), 'the manifest bytes are exactly the pushed bytes')
    t.equal(byTag.header('docker-content-digest'), manifest.digest, 'Docker-Content-Digest on GET by tag')
    t.equal(byTag.header('content-type')?.split(';')[0], MediaTypes.ociManifest, 'Content-Type is the pushed media type')
    const byDigest = await reg.get(`/v2/${repo}/manifests/${manifest.digest}`, { Accept: MediaTypes.ociManifest })
    t.equal(byDigest.status, 200, 'GET manifest by digest')
    t.ok(byDigest.body.equals(manifest.body), 'same bytes by digest')
    const head = await reg.head(`/v2/${repo}/manifests/${tag}`, { Accept: MediaTypes.ociManifest })
    t.equal(head.status, 200, 'HEAD manifest')
    t.equal(head.header('docker-content-digest'), manifest.digest, 'HEAD manifest Docker-Content-Digest')
    t.equal(Number(head.header('content-length')), manifest.size, 'HEAD manifest Content-Length')
    t.equal(head.body.length, 0, 'HEAD has no body')

    const blob = await reg.get(`/v2/${repo}/blobs/${layer.digest}`)
    t.equal(blob.status, 200, 'GET blob [end-2]')
    t.ok(blob.body.equals(layer.data), 'blob bytes')
    t.equal(blob.header('docker-content-digest'), layer.digest, 'GET blob Docker-Content-Digest')
    const headBlob = await reg.head(`/v2/${repo}/blobs/${layer.digest}`)
    t.equal(headBlob.status, 200, 'HEAD blob')
    t.equal(Number(headBlob.header('content-length')), layer.size, 'HEAD blob Content-Length')
    t.equal(headBlob.header('docker-content-digest'), layer.digest, 'HEAD blob Docker-Content-Digest')
    const range = await reg.request(`/v2/${repo}/blobs/${layer.digest}`, { method: 'GET', headers: { Range: 'bytes=10-19' } })
    if (range.status === 206) t.ok(range.body.equals(layer.data.subarray(10, 20)), 'Range GET returns the requested bytes (SHOULD)')
    else t.equal(range.status, 200, 'a registry without Range support answers the whole blob')

    const missing = digestOf(randomBytes(16))
    const m404 = await reg.get(`/v2/${repo}/manifests/${missing}`, { Accept: ACCEPT_ALL_MANIFESTS })
    t.equal(m404.status, 404, 'unknown manifest digest: 404')
    errorCode(t, m404, 'MANIFEST_UNKNOWN', 'unknown manifest')
    t.equal((await reg.get(`/v2/${repo}/manifests/no-such-tag`, { Accept: ACCEPT_ALL_MANIFESTS })).status, 404, 'unknown tag: 404')
    const b404 = await reg.get(`/v2/${repo}/blobs/${missing}`)
    t.equal(b404.status, 404, 'unknown blob: 404')
    errorCode(t, b404, 'BLOB_UNKNOWN', 'unknown blob')
    t.equal((await reg.head(`/v2/${repo}/blobs/${missing}`)).status, 404, 'HEAD unknown blob: 404')
    t.equal((await reg.get(`/v2/${namespace}/never-pushed-${salt}/manifests/latest`)).status, 404, 'pull from a nonexistent repository: 404')
  })

  await t.test('push', async (t) => {
    // POST then PUT
    const a = makeBlob(randomBytes(1000), { mediaType: MediaTypes.ociLayer })
    const start = await reg.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } })
    t.equal(start.status, 202, 'POST upload: 202 [end-4a]')
    const location = start.header('location')
    t.ok(location, 'POST upload has a Location')
    const put = await reg.request(withQuery(location ?? '', { digest: a.digest }), { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: a.data })
    t.equal(put.status, 201, 'PUT upload: 201 [end-6]')
    t.equal(locationPath(reg, put), `/v2/${repo}/blobs/${a.digest}`, 'PUT Location is the blob URL')
    t.ok((await reg.get(`/v2/${repo}/blobs/${a.digest}`)).body.equals(a.data), 'the blob is pullable')

    // Single POST (MAY: 201, or 202 then PUT)
    const b = makeBlob(randomBytes(1000), { mediaType: MediaTypes.ociLayer })
    const single = await reg.request(`/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: b.data })
    t.ok(single.status === 201 || single.status === 202, `single POST: 201 or 202 [end-4b] (got ${single.status})`)
    if (single.status === 202) {
      const done = await reg.request(withQuery(single.header('location') ?? '', { digest: b.digest }), { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: b.data })
      t.equal(done.status, 201, 'PUT after a 202 single POST')
    }
    t.equal((await reg.head(`/v2/${repo}/blobs/${b.digest}`)).status, 200, 'single-POST blob exists')

    // Chunked
    const c = makeBlob(randomBytes(3000), { mediaType: MediaTypes.ociLayer })
    const cs = await reg.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } })
    t.equal(cs.status, 202, 'chunked: POST 202')
    const p1 = await reg.request(cs.header('location') ?? '', { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-999' }, body: c.data.subarray(0, 1000), })
    t.equal(p1.status, 202, 'chunked: first PATCH 202 [end-5]')
    t.equal(p1.header('range'), '0-999', 'first PATCH Range: 0-999')
    t.ok(p1.header('location'), 'first PATCH has a Location')
    const status = await reg.get(p1.header('location') ?? '')
    t.equal(status.status, 204, 'GET upload status: 204 [end-13]')
    t.equal(status.header('range'), '0-999', 'upload status Range: 0-999')
    if (caps.outOfOrder416) {
      const bad = await reg.request(p1.header('location') ?? '', { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '2000-2999' }, body: c.data.subarray(2000, 3000), })
      t.equal(bad.status, 416, 'out-of-order PATCH: 416 Requested Range Not Satisfiable')
      const after = await reg.get(p1.header('location') ?? '')
      t.equal(after.header('range'), '0-999', 'the session is unchanged after a 416')
    }
    const p2 = await reg.request(p1.header('location') ?? '', { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '1000-1999' }, body: c.data.subarray(1000, 2000), })
    t.equal(p2.status, 202, 'second PATCH 202')
    t.equal(p2.header('range'), '0-1999', 'second PATCH Range: 0-1999')
    const close = await reg.request(withQuery(p2.header('location') ?? '', { digest: c.digest }), { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '2000-2999' }, body: c.data.subarray(2000), })
    t.equal(close.status, 201, 'closing PUT with the final chunk: 201')
    t.ok((await reg.get(`/v2/${repo}/blobs/${c.digest}`)).body.equals(c.data), 'chunked blob pullable and intact')

    // Wrong digest
    const ws = await reg.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } })
    const wrong = await reg.request(withQuery(ws.header('location') ?? '', { digest: digestOf('something else') }), { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: randomBytes(100), })
    t.equal(wrong.status, 400, 'PUT with a digest that does not match: 400')
    errorCode(t, wrong, 'DIGEST_INVALID', 'digest mismatch')

    // Cancel
    const cancelStart = await reg.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } })
    const cancel = await reg.request(cancelStart.header('location') ?? '', { method: 'DELETE', headers: { 'Content-Length': '0' } })
    t.equal(cancel.status, 204, 'DELETE upload: 204 [end-14]')
    const gone = await reg.get(cancelStart.header('location') ?? '')
    t.equal(gone.status, 404, 'cancelled upload: 404')
    errorCode(t, gone, 'BLOB_UPLOAD_UNKNOWN', 'cancelled upload')

    // Mount
    const mount = await reg.request(`/v2/${crossRepo}/blobs/uploads/?mount=${layer.digest}&from=${repo}`, { method: 'POST', headers: { 'Content-Length': '0' } })
    t.equal(mount.status, 201, 'cross-repository mount: 201 [end-11]')
    t.equal(locationPath(reg, mount), `/v2/${crossRepo}/blobs/${layer.digest}`, 'mount Location is the blob URL')
    t.equal((await reg.head(`/v2/${crossRepo}/blobs/${layer.digest}`)).status, 200, 'mounted blob exists in the target repository')
    const noMount = await reg.request(`/v2/${crossRepo}/blobs/uploads/?mount=${digestOf(randomBytes(8))}&from=${repo}`, { method: 'POST', headers: { 'Content-Length': '0' } })
    t.equal(noMount.status, 202, 'mount of an unknown blob starts an ordinary upload: 202')
    if (noMount.header('location')) await reg.request(noMount.header('location')!, { method: 'DELETE' })

    // Manifests
    const m = await reg.request(`/v2/${repo}/manifests/${manifest.digest}`, { method: 'PUT', headers: { 'Content-Type': MediaTypes.ociManifest }, body: manifest.body })
    t.equal(m.status, 201, 'PUT manifest by digest: 201 [end-7a]')
    t.equal(m.header('docker-content-digest'), manifest.digest, 'PUT manifest Docker-Content-Digest')
    t.equal(locationPath(reg, m), `/v2/${repo}/manifests/${manifest.digest}`, 'PUT manifest Location')
    const byTag = await reg.request(`/v2/${repo}/manifests/tagtest1`, { method: 'PUT', headers: { 'Content-Type': MediaTypes.ociManifest }, body: manifest.body })
    t.equal(byTag.status, 201, 'PUT manifest by tag: 201')
    const invalid = await reg.request(`/v2/${repo}/manifests/broken`, { method: 'PUT', headers: { 'Content-Type': MediaTypes.ociManifest }, body: '{"schemaVersion":2,' })
    t.equal(invalid.status, 400, 'PUT of an invalid manifest: 400')
    errorCode(t, invalid, 'MANIFEST_INVALID', 'invalid manifest')
    if (caps.multiTagPut) {
      const multi = await reg.request(`/v2/${repo}/manifests/${manifest.digest}?tag=multi-a&tag=multi-b`, { method: 'PUT', headers: { 'Content-Type': MediaTypes.ociManifest }, body: manifest.body })
      t.equal(multi.status, 201, 'PUT by digest with ?tag=: 201 [end-7b]')
      t.same(multi.headerValues('oci-tag').sort(), ['multi-a', 'multi-b'], 'OCI-Tag names every accepted tag')
      t.equal((await reg.head(`/v2/${repo}/manifests/multi-b`, { Accept: MediaTypes.ociManifest })).header('docker-content-digest'), manifest.digest, 'the tags resolve')
    }
  })

  await t.test('content discovery', async (t) => {
    const tagsRepo = `${repo}-tags`
    await reg.ensureBlob(tagsRepo, config)
    await reg.ensureBlob(tagsRepo, layer)
    const tags = ['b', 'a', 'c1', 'C2', 'd', 'e']
    for (const tg of tags) await reg.pushManifest(tagsRepo, tg, manifest)
    const sorted = [...tags].sort()
    const all = await reg.get(`/v2/${tagsRepo}/tags/list`)
    t.equal(all.status, 200, 'tags/list: 200 [end-8a]')
    const listed = all.json<{ name: string; tags: string[] }>()
    t.equal(listed.name, tagsRepo, 'tags/list names the repository')
    if (caps.sortedTags) t.same(listed.tags, sorted, 'every tag, in lexical order')
    else t.same([...listed.tags].sort(), sorted, 'every tag (order not checked)')
    if (caps.tagPagination) {
      const first = await reg.get(`/v2/${tagsRepo}/tags/list?n=2`)
      t.same(first.json<{ tags: string[] }>().tags, sorted.slice(0, 2), 'n=2: the first two tags [end-8b]')
      const link = first.header('link')
      t.match(link ?? '', /rel="next"/, 'n=2: Link rel="next" while more tags remain')
      const next = await reg.get(`/v2/${tagsRepo}/tags/list?n=2&last=${sorted[1]}`)
      t.same(next.json<{ tags: string[] }>().tags, sorted.slice(2, 4), 'last: the tags after it')
      if (link) {
        const url = /<([^>]+)>/.exec(link)?.[1]
        const followed = url ? await reg.get(url) : undefined
        t.same(followed?.json<{ tags: string[] }>().tags, sorted.slice(2, 4), 'following Link gives the next page')
      }
      const zero = await reg.get(`/v2/${tagsRepo}/tags/list?n=0`)
      t.same(zero.json<{ tags?: string[] | null }>().tags ?? [], [], 'n=0: empty list')
      t.notOk(zero.header('link'), 'n=0: no Link header')
      const end = await reg.get(`/v2/${tagsRepo}/tags/list?n=10&last=${sorted[sorted.length - 1]}`)
      t.same(end.json<{ tags?: string[] | null }>().tags ?? [], [], 'last = final tag: empty list')
      t.notOk(end.header('link'), 'final page has no Link')
    }
    t.equal((await reg.get(`/v2/${namespace}/never-pushed-${salt}/tags/list`)).status, 404, 'tags/list of an unknown repository: 404')

    if (caps.referrers) {
      const refRepo = `${repo}-referrers`
      await reg.pushContent(refRepo, 'subject', { kind: 'image', manifest, config, layers: [layer] })
      const payload = makeBlob(randomBytes(64), { mediaType: 'application/vnd.example.payload' })
      await reg.ensureBlob(refRepo, EMPTY)
      await reg.ensureBlob(refRepo, payload)
      const subject = descriptor(manifest)
      const sbom = manifestOf(jsonBytes({
        schemaVersion: 2, mediaType: MediaTypes.ociManifest, artifactType: 'application/vnd.example.sbom.v1',
        config: descriptor(EMPTY), layers: [descriptor(payload)], subject, annotations: { 'org.example.kind': 'sbom' },
      }), MediaTypes.ociManifest)
      const sigConfig = makeBlob('{"sig":true}', { mediaType: 'application/vnd.example.signature.config.v1+json' })
      await reg.ensureBlob(refRepo, sigConfig)
      const sig = manifestOf(jsonBytes({
        schemaVersion: 2, mediaType: MediaTypes.ociManifest,
        config: descriptor(sigConfig), layers: [descriptor(payload)], subject, annotations: { 'org.example.kind': 'signature' },
      }), MediaTypes.ociManifest)
      const idx = manifestOf(jsonBytes({
        schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [descriptor(sbom)], subject, annotations: { 'org.example.kind': 'index' },
      }), MediaTypes.ociIndex)
      for (const referrer of [sbom, sig]) {
        const res = expectStatus(`PUT referrer ${referrer.digest}`, await reg.putManifest(refRepo, referrer.digest, referrer), 201)
        t.equal(res.header('oci-subject'), manifest.digest, 'PUT of a manifest with subject answers OCI-Subject')
      }
      const idxRes = expectStatus(`PUT index ${idx.digest}`, await reg.putManifest(refRepo, idx.digest, idx), 201)
      t.equal(idxRes.header('oci-subject'), manifest.digest, 'PUT of an index with subject answers OCI-Subject')
      const list = await reg.get(`/v2/${refRepo}/referrers/${manifest.digest}`)
      t.equal(list.status, 200, 'referrers: 200 [end-12a]')
      t.equal(list.header('content-type')?.split(';')[0], MediaTypes.ociIndex, 'referrers Content-Type is an image index')
      const body = list.json<{ schemaVersion: number; mediaType: string; manifests: Array<Record<string, unknown>> }>()
      t.equal(body.schemaVersion, 2)
      const byDigest = new Map(body.manifests.map((d) => [d.digest as string, d]))
      t.same(byDigest.get(sbom.digest), { mediaType: MediaTypes.ociManifest, digest: sbom.digest, size: sbom.size, artifactType: 'application/vnd.example.sbom.v1', annotations: { 'org.example.kind': 'sbom' } }, 'manifest with artifactType: listed with it and its annotations')
      t.same(byDigest.get(sig.digest), { mediaType: MediaTypes.ociManifest, digest: sig.digest, size: sig.size, artifactType: 'application/vnd.example.signature.config.v1+json', annotations: { 'org.example.kind': 'signature' } }, 'manifest without artifactType: config media type')
      t.same(byDigest.get(idx.digest), { mediaType: MediaTypes.ociIndex, digest: idx.digest, size: idx.size, annotations: { 'org.example.kind': 'index' } }, 'index without artifactType: none')
      t.equal(body.manifests.length, 3, 'exactly the three referrers')
      const filtered = await reg.get(`/v2/${refRepo}/referrers/${manifest.digest}?artifactType=${encodeURIComponent('application/vnd.example.sbom.v1')}`)
      t.equal(filtered.status, 200, 'filtered referrers: 200 [end-12b]')
      const filteredDigests = filtered.json<{ manifests: Array<{ digest: string }> }>().manifests.map((d) => d.digest)
      if (filtered.header('oci-filters-applied')) {
        t.equal(filtered.header('oci-filters-applied'), 'artifactType', 'OCI-Filters-Applied: artifactType')
        t.same(filteredDigests, [sbom.digest], 'only the matching referrer')
      } else {
        t.equal(filteredDigests.length, 3, 'filter not applied: the whole list')
      }
      const none = await reg.get(`/v2/${refRepo}/referrers/${digestOf(randomBytes(8))}`)
      t.equal(none.status, 200, 'referrers of a digest nothing refers to: 200')
      t.same(none.json<{ manifests: unknown[] }>().manifests, [], 'an empty manifests list')
      t.equal((await reg.get(`/v2/${refRepo}/referrers/sha256:not-a-digest`)).status, 400, 'referrers with an invalid digest: 400')
      if (caps.deleteTags) {
        t.equal((await reg.delete(`/v2/${refRepo}/manifests/${sig.digest}`)).status, 202, 'delete a referrer')
        const after = (await reg.get(`/v2/${refRepo}/referrers/${manifest.digest}`)).json<{ manifests: Array<{ digest: string }> }>()
        t.notOk(after.manifests.some((d) => d.digest === sig.digest), 'a deleted referrer leaves the list')
      }
    }
  })

  await t.test('content management', async (t) => {
    const mgmt = `${repo}-mgmt`
    await reg.pushContent(mgmt, 'keep', { kind: 'image', manifest, config, layers: [layer] })
    await reg.pushManifest(mgmt, 'drop', manifest)
    if (caps.deleteTags) {
      const delTag = await reg.delete(`/v2/${mgmt}/manifests/drop`)
      t.equal(delTag.status, 202, 'DELETE tag: 202 [end-9]')
      t.equal((await reg.get(`/v2/${mgmt}/manifests/drop`, { Accept: MediaTypes.ociManifest })).status, 404, 'the deleted tag: 404')
      t.equal((await reg.get(`/v2/${mgmt}/manifests/keep`, { Accept: MediaTypes.ociManifest })).status, 200, 'other tags of the same manifest stay')
      t.equal((await reg.get(`/v2/${mgmt}/manifests/${manifest.digest}`, { Accept: MediaTypes.ociManifest })).status, 200, 'the manifest stays')
    } else {
      const delTag = await reg.delete(`/v2/${mgmt}/manifests/drop`)
      t.ok(delTag.status === 400 || delTag.status === 405, `tag deletion disabled: 400 or 405 (got ${delTag.status})`)
    }
    const delManifest = await reg.delete(`/v2/${mgmt}/manifests/${manifest.digest}`)
    t.equal(delManifest.status, 202, 'DELETE manifest by digest: 202 [end-9]')
    t.equal((await reg.get(`/v2/${mgmt}/manifests/${manifest.digest}`, { Accept: MediaTypes.ociManifest })).status, 404, 'the deleted manifest: 404')
    t.equal((await reg.get(`/v2/${mgmt}/manifests/keep`, { Accept: MediaTypes.ociManifest })).status, 404, 'tags of the deleted manifest: 404')
    t.equal((await reg.delete(`/v2/${mgmt}/manifests/${manifest.digest}`)).status, 404, 'DELETE of a deleted manifest: 404')
    for (const blob of [layer, config]) {
      t.equal((await reg.delete(`/v2/${mgmt}/blobs/${blob.digest}`)).status, 202, `DELETE blob ${blob.digest.slice(7, 19)}: 202 [end-10]`)
      t.equal((await reg.get(`/v2/${mgmt}/blobs/${blob.digest}`)).status, 404, 'the deleted blob: 404')
    }
    t.equal((await reg.delete(`/v2/${mgmt}/blobs/${layer.digest}`)).status, 404, 'DELETE of an unknown blob: 404')
    t.equal((await reg.get(`/v2/${repo}/blobs/${layer.digest}`)).status, 200, 'the blob stays in the other repository')
  })
}
