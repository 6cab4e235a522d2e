// If-None-Match on blob and manifest GET and HEAD (RFC 9110 §13.1.2): 304 Not Modified when the
// client's ETag matches (any of a list, weak or strong) or is "*", as the reference registry answers.
import t from 'tap'
import type { Test } from 'tap'
import { MediaTypes, descriptor, makeBlob, ociManifest, uniqueRepo, type HttpResponse, startTestServer } from '../support/index.js'

const { client } = await startTestServer(t)

function matchingForms(digest: string): string[] {
  return [`"${digest}"`, '*', `"sha256:${'0'.repeat(64)}", "${digest}"`, `W/"${digest}"`, digest]
}

function checkNotModified(t: Test, res: HttpResponse, digest: string, what: string): void {
  t.equal(res.status, 304, what)
  t.equal(res.body.length, 0, `${what}: no body`)
  t.equal(res.header('etag'), `"${digest}"`, `${what}: ETag`)
}

t.test('blobs: ETag is the quoted digest; a matching If-None-Match gets 304 on GET and HEAD', async (t) => {
  const repo = uniqueRepo('cond')
  const blob = await client.pushBlob(repo, makeBlob(5000))
  const path = `/v2/${repo}/blobs/${blob.digest}`
  const plain = await client.get(path)
  t.equal(plain.status, 200)
  t.equal(plain.header('etag'), `"${blob.digest}"`)
  for (const value of matchingForms(blob.digest)) {
    checkNotModified(t, await client.get(path, { 'if-none-match': value }), blob.digest, `GET If-None-Match: ${value}`)
    checkNotModified(t, await client.head(path, { 'if-none-match': value }), blob.digest, `HEAD If-None-Match: ${value}`)
  }
  checkNotModified(t, await client.get(path, { 'if-none-match': `"${blob.digest}"`, range: 'bytes=0-9' }), blob.digest, 'before Range')
  const other = await client.get(path, { 'if-none-match': `"${makeBlob('other').digest}"` })
  t.equal(other.status, 200, 'another ETag: the blob')
  t.same(other.body, blob.data)
  const missing = await client.get(`/v2/${repo}/blobs/${makeBlob('absent').digest}`, { 'if-none-match': '*' })
  t.equal(missing.status, 404, '"*" matches only something that exists')
})

t.test('manifests: by tag and digest, 304 while the tag points at the ETag, 200 once it moved', async (t) => {
  const repo = uniqueRepo('cond')
  const { manifest, config } = await client.pushImage(repo, { tag: 'v1' })
  for (const reference of ['v1', manifest.digest]) {
    const path = `/v2/${repo}/manifests/${reference}`
    const plain = await client.get(path)
    t.equal(plain.status, 200)
    t.equal(plain.header('etag'), `"${manifest.digest}"`)
    for (const value of matchingForms(manifest.digest)) {
      checkNotModified(t, await client.get(path, { 'if-none-match': value }), manifest.digest, `GET ${reference} If-None-Match: ${value}`)
      checkNotModified(t, await client.head(path, { 'if-none-match': value }), manifest.digest, `HEAD ${reference} If-None-Match: ${value}`)
    }
  }
  const moved = ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: [], annotations: { moved: 'yes' } })
  await client.pushManifest(repo, 'v1', moved)
  const after = await client.get(`/v2/${repo}/manifests/v1`, { 'if-none-match': `"${manifest.digest}"` })
  t.equal(after.status, 200, 'the tag moved: the new manifest')
  t.equal(after.header('docker-content-digest'), moved.digest)
  t.same(after.body, moved.body)
  const unknown = await client.get(`/v2/${repo}/manifests/nope`, { 'if-none-match': '*' })
  t.equal(unknown.status, 404)
})
