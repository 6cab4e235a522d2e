// A reference that cannot name a manifest: unknown on GET, HEAD and DELETE (the OCI conformance
// suite's ".INVALID_MANIFEST_NAME"; the reference registry and zot answer 404), a bad request on PUT.
import t from 'tap'
import { errorCodes, uniqueRepo, startTestServer } from '../support/index.js'

const { client } = await startTestServer(t)

const MALFORMED = ['.INVALID_MANIFEST_NAME', '-dash', 'x'.repeat(129), 'a*b']

t.test('GET, HEAD and DELETE of a malformed tag: 404 MANIFEST_UNKNOWN', async (t) => {
  const repo = uniqueRepo('refs')
  await client.pushImage(repo, { tag: 'v1' })
  for (const tag of MALFORMED) {
    const get = await client.get(`/v2/${repo}/manifests/${tag}`)
    t.equal(get.status, 404, `GET ${tag}`)
    t.same(errorCodes(get), ['MANIFEST_UNKNOWN'], `GET ${tag}`)
    t.equal(get.header('content-type'), 'application/json')
    const head = await client.head(`/v2/${repo}/manifests/${tag}`)
    t.equal(head.status, 404, `HEAD ${tag}`)
    const del = await client.delete(`/v2/${repo}/manifests/${tag}`)
    t.equal(del.status, 404, `DELETE ${tag}`)
    t.same(errorCodes(del), ['MANIFEST_UNKNOWN'], `DELETE ${tag}`)
  }
  const unknownRepo = await client.get(`/v2/${uniqueRepo('refs')}/manifests/.INVALID_MANIFEST_NAME`)
  t.equal(unknownRepo.status, 404, 'in an unknown repository too')
  t.equal((await client.get(`/v2/${repo}/manifests/v1`)).status, 200, 'the valid tag still resolves')
})

t.test('PUT of a malformed tag stays 400 TAG_INVALID, and a malformed digest 400 DIGEST_INVALID on GET', async (t) => {
  const repo = uniqueRepo('refs')
  const { manifest } = await client.pushImage(repo)
  for (const tag of MALFORMED) {
    const put = await client.putManifest(repo, tag, manifest)
    t.equal(put.status, 400, `PUT ${tag}`)
    t.same(errorCodes(put), ['TAG_INVALID'], `PUT ${tag}`)
  }
  const badDigest = await client.get(`/v2/${repo}/manifests/sha256:abc`)
  t.equal(badDigest.status, 400)
  t.same(errorCodes(badDigest), ['DIGEST_INVALID'])
})
