import path from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { descriptor, digestOf, errorCodes, listFiles, makeBlob, MediaTypes, ociManifest, serverErrors, startTestServer, uniqueRepo } from '../support/index.js'

const { wharf, client } = await startTestServer(t)

function slowly(data: Buffer, chunk: number, delayMs = 2): Readable {
  return Readable.from((async function* () {
    for (let offset = 0; offset < data.length; offset += chunk) {
      await new Promise((resolve) => setTimeout(resolve, delayMs))
      yield data.subarray(offset, offset + chunk)
    }
  })())
}

async function blobFiles(digest: string): Promise<string[]> {
  return (await listFiles(path.join(wharf.storage, 'blobs'))).filter((f) => f.endsWith(digest.slice(digest.indexOf(':') + 1)))
}

t.test('two clients pushing the same blob at once both get 201 and one file is stored', async (t) => {
  const repo = uniqueRepo('conc')
  const blob = makeBlob(512 * 1024)
  const [a, b] = await Promise.all([0, 1].map(() => client.request(`/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
    method: 'POST', body: slowly(blob.data, 16 * 1024),
  })))
  t.equal(a!.status, 201)
  t.equal(b!.status, 201)
  t.same(await blobFiles(blob.digest), [`sha256/${blob.digest.slice(7, 9)}/${blob.digest.slice(7)}`], 'one file')
  t.ok((await client.get(`/v2/${repo}/blobs/${blob.digest}`)).body.equals(blob.data))

  // The same through sessions, in two repositories, completing at the same moment.
  const blob2 = makeBlob(256 * 1024)
  const repos = [uniqueRepo('conc'), uniqueRepo('conc'), uniqueRepo('conc')]
  const sessions = await Promise.all(repos.map((r) => client.startUpload(r)))
  await Promise.all(sessions.map((s) => client.patch(s.location, slowly(blob2.data, 32 * 1024))))
  const puts = await Promise.all(sessions.map((s) => client.putUpload(s.location, blob2.digest)))
  t.same(puts.map((p) => p.status), [201, 201, 201])
  t.equal((await blobFiles(blob2.digest)).length, 1)
  for (const r of repos) t.ok((await client.get(`/v2/${r}/blobs/${blob2.digest}`)).body.equals(blob2.data), r)
  t.same((await listFiles(path.join(wharf.storage, 'uploads'))).filter((f) => sessions.some((s) => s.uuid === f)), [], 'no session file left')
})

t.test('two pushes of the same tag at once both succeed and the tag resolves to one of them', async (t) => {
  const repo = uniqueRepo('conc')
  const config = await client.pushBlob(repo, makeBlob(100))
  const layers = await Promise.all([0, 1].map(() => client.pushBlob(repo, makeBlob(1000))))
  const manifests = layers.map((l) => ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: [descriptor(l, MediaTypes.ociLayer)] }))
  for (let round = 0; round < 5; round++) {
    const puts = await Promise.all(manifests.map((m) => client.putManifest(repo, 'race', m)))
    t.same(puts.map((p) => p.status), [201, 201], `round ${round}`)
    const get = await client.get(`/v2/${repo}/manifests/race`)
    t.equal(get.status, 200)
    const digest = get.header('docker-content-digest')
    t.ok(manifests.some((m) => m.digest === digest), 'one of the two')
    t.ok(get.body.equals(manifests.find((m) => m.digest === digest)!.body), 'body consistent with the digest')
  }
  t.same((await client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list`)).tags, ['race'])
})

t.test('concurrent PATCHes to one session are serialised: no interleaving', async (t) => {
  const repo = uniqueRepo('conc')
  const chunk = makeBlob(400 * 1024).data
  const { location } = await client.startUpload(repo)
  const results = await Promise.all([0, 1].map(() => client.patch(location, slowly(chunk, 8 * 1024, 1))))
  const statuses = results.map((r) => r.status).sort()
  t.ok(statuses.every((s) => s === 202 || s === 416 || s === 409 || s === 423), `each PATCH accepted or cleanly refused: ${statuses}`)
  const accepted = results.filter((r) => r.status === 202).length
  t.ok(accepted >= 1, 'at least one went through')
  const status = await client.get(location)
  t.equal(status.status, 204)
  const expected = Buffer.concat(Array.from({ length: accepted }, () => chunk))
  t.equal(status.header('range'), `0-${expected.length - 1}`, 'size is a whole number of chunks')
  const put = await client.putUpload(location, digestOf(expected))
  t.equal(put.status, 201, 'the final digest matches: chunks were not interleaved')
})

t.test('concurrent PATCHes with the same Content-Range: one is appended, the other refused', async (t) => {
  const repo = uniqueRepo('conc')
  const chunk = makeBlob(300 * 1024).data
  const { location } = await client.startUpload(repo)
  // The refused PATCH is answered before its body is read; the rest of its body is still read and
  // dropped before the connection closes, so its client reads the 416 rather than a reset.
  const results = await Promise.all([0, 1].map(() => client.patch(location, slowly(chunk, 8 * 1024, 1), {
    contentRange: `0-${chunk.length - 1}`, headers: { 'content-length': chunk.length },
  })))
  t.same(results.map((r) => r.status).sort(), [202, 416], 'exactly one appended, the other refused and told so')
  const refused = results.find((r) => r.status === 416)!
  t.same(errorCodes(refused), ['RANGE_INVALID'])
  t.equal(refused.header('range'), `0-${chunk.length - 1}`, 'the refusal says where the upload is')
  t.equal((await client.get(location)).header('range'), `0-${chunk.length - 1}`)
  t.equal((await client.putUpload(location, digestOf(chunk))).status, 201)
})

t.test('two PUTs completing one session at once: one 201, the other 404', async (t) => {
  const repo = uniqueRepo('conc')
  const blob = makeBlob(200 * 1024)
  const { location } = await client.startUpload(repo)
  await client.patch(location, blob.data.subarray(0, 100 * 1024), { contentRange: `0-${100 * 1024 - 1}` })
  const puts = await Promise.all([0, 1].map(() => client.putUpload(location, blob.digest, slowly(blob.data.subarray(100 * 1024), 8 * 1024, 1))))
  t.same(puts.map((p) => p.status).sort(), [201, 404])
  t.same(errorCodes(puts.find((p) => p.status === 404)!), ['BLOB_UPLOAD_UNKNOWN'])
  t.ok((await client.get(`/v2/${repo}/blobs/${blob.digest}`)).body.equals(blob.data))
  const cancelRace = await client.startUpload(repo)
  const [patch, cancel] = await Promise.all([
    client.patch(cancelRace.location, slowly(blob.data, 8 * 1024, 1)),
    new Promise((resolve) => setTimeout(resolve, 5)).then(() => client.delete(cancelRace.location)),
  ])
  t.ok([202, 404].includes(patch.status), `PATCH racing a cancel: ${patch.status}`)
  t.equal(cancel.status, 204)
  t.equal((await client.get(cancelRace.location)).status, 404, 'cancelled in the end')
  t.same((await listFiles(path.join(wharf.storage, 'uploads'))).filter((f) => f === cancelRace.uuid), [], 'its file is gone')
})

t.test('many clients pushing images at once', async (t) => {
  const repos = Array.from({ length: 12 }, () => uniqueRepo('many'))
  const shared = makeBlob(64 * 1024)
  const results = await Promise.all(repos.map(async (repo, i) => {
    const config = await client.pushBlob(repo, makeBlob(JSON.stringify({ i })))
    const own = makeBlob(20_000 + i)
    if (i % 2 === 0) await client.pushBlob(repo, own)
    else await client.pushBlobChunked(repo, own, 7000)
    await client.pushBlob(repo, shared)
    const m = ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: [descriptor(own, MediaTypes.ociLayer), descriptor(shared, MediaTypes.ociLayer)] })
    const put = await client.putManifest(repo, 'v1', m)
    return { repo, m, status: put.status }
  }))
  t.same(results.map((r) => r.status), repos.map(() => 201))
  for (const { repo, m } of results) t.ok((await client.get(`/v2/${repo}/manifests/v1`)).body.equals(m.body), repo)
  t.equal((await blobFiles(shared.digest)).length, 1)
})

t.test('no request ended in a server error (nothing logged at level error)', async (t) => {
  t.same(serverErrors(wharf), [])
})
