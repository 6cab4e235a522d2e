import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { readFile, stat } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { digestOf, errorCodes, listFiles, makeBlob, requestHeadOnly, serverErrors, startTestServer, uniqueRepo, withQuery } from '../support/index.js'

const { wharf, client } = await startTestServer(t)

const uploadsDir = path.join(wharf.storage, 'uploads')
function blobFile(digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string]
  return path.join(wharf.storage, 'blobs', alg, hex.slice(0, 2), hex)
}
async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false)
}
function slowly(data: Buffer, chunk: number): Readable {
  return Readable.from((async function* () {
    for (let offset = 0; offset < data.length; offset += chunk) {
      await new Promise((resolve) => setTimeout(resolve, 1))
      yield data.subarray(offset, offset + chunk)
    }
  })())
}

t.test('POST opens a session: 202, Location, Docker-Upload-UUID, Range 0-0', async (t) => {
  const repo = uniqueRepo('up')
  const res = await client.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' })
  t.equal(res.status, 202)
  const uuid = res.header('docker-upload-uuid')
  t.ok(uuid !== undefined && /^[A-Za-z0-9-]+$/.test(uuid), 'a UUID')
  t.equal(res.header('location'), `/v2/${repo}/blobs/uploads/${uuid}`)
  t.equal(res.header('range'), '0-0')
  t.equal(res.header('content-length'), '0')
  t.ok(await exists(path.join(uploadsDir, uuid!)), 'upload file created')
  const status = await client.get(res.header('location')!)
  t.equal(status.status, 204)
  t.equal(status.header('range'), '0-0')
  t.equal(status.header('docker-upload-uuid'), uuid)
  t.equal(status.header('location'), res.header('location'))
  const noSlash = await client.request(`/v2/${repo}/blobs/uploads`, { method: 'POST' })
  t.equal(noSlash.status, 202, 'also without the trailing slash')
  t.not(noSlash.header('docker-upload-uuid'), uuid, 'a new session each time')
})

t.test('monolithic POST ?digest= with the body: 201', async (t) => {
  const repo = uniqueRepo('up')
  const blob = makeBlob(50_000)
  const res = await client.request(`/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(res.status, 201)
  t.equal(res.header('location'), `/v2/${repo}/blobs/${blob.digest}`)
  t.equal(res.header('docker-content-digest'), blob.digest)
  t.ok((await readFile(blobFile(blob.digest))).equals(blob.data))
  const get = await client.get(`/v2/${repo}/blobs/${blob.digest}`)
  t.ok(get.body.equals(blob.data))
  const noType = await client.request(`/v2/${repo}/blobs/uploads/?digest=${makeBlob('x').digest}`, { method: 'POST', body: Buffer.from('x') })
  t.equal(noType.status, 201, 'without Content-Type')
  const chunked = makeBlob(100_000)
  const streamed = await client.request(`/v2/${repo}/blobs/uploads/?digest=${chunked.digest}`, { method: 'POST', body: slowly(chunked.data, 7000) })
  t.equal(streamed.status, 201, 'chunked transfer-encoding')
  t.ok((await client.get(`/v2/${repo}/blobs/${chunked.digest}`)).body.equals(chunked.data))
})

t.test('monolithic POST of the empty blob without a body', async (t) => {
  const repo = uniqueRepo('up')
  const empty = makeBlob(Buffer.alloc(0))
  const res = await client.request(`/v2/${repo}/blobs/uploads/?digest=${empty.digest}`, { method: 'POST', headers: { 'content-length': 0 } })
  t.equal(res.status, 201)
  t.equal(res.header('docker-content-digest'), empty.digest)
  const noLength = await client.request(`/v2/${repo}/blobs/uploads/?digest=${empty.digest}`, { method: 'POST' })
  t.equal(noLength.status, 201, 'without any Content-Length')
  const head = await client.head(`/v2/${repo}/blobs/${empty.digest}`)
  t.equal(head.status, 200)
  t.equal(head.header('content-length'), '0')
  const wrong = await client.request(`/v2/${repo}/blobs/uploads/?digest=${makeBlob('x').digest}`, { method: 'POST', headers: { 'content-length': 0 } })
  t.equal(wrong.status, 400, 'an empty body under the digest of something else')
  t.same(errorCodes(wrong), ['DIGEST_INVALID'])
})

t.test('monolithic POST with the wrong digest: 400 DIGEST_INVALID and nothing stored', async (t) => {
  const repo = uniqueRepo('up')
  const blob = makeBlob(20_000)
  const claimed = makeBlob(20_000).digest
  const before = await listFiles(uploadsDir)
  const res = await client.request(`/v2/${repo}/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: blob.data })
  t.equal(res.status, 400)
  t.same(errorCodes(res), ['DIGEST_INVALID'])
  t.same(await listFiles(uploadsDir), before, 'no upload file left')
  t.notOk(await exists(blobFile(claimed)), 'no blob under the claimed digest')
  t.notOk(await exists(blobFile(blob.digest)), 'no blob under the actual digest')
  t.equal((await client.head(`/v2/${repo}/blobs/${claimed}`)).status, 404)
  const bad = await client.request(`/v2/${repo}/blobs/uploads/?digest=sha256:nothex`, { method: 'POST', body: blob.data })
  t.equal(bad.status, 400, 'a malformed digest')
  t.same(errorCodes(bad), ['DIGEST_INVALID'])
})

t.test('chunked upload: PATCHes with Content-Range in order, GET status, PUT ?digest=', async (t) => {
  const repo = uniqueRepo('up')
  const blob = makeBlob(30_000)
  const { location, uuid } = await client.startUpload(repo)
  let loc = location
  const cuts = [0, 1, 10_000, 10_001, 30_000]
  for (let i = 0; i + 1 < cuts.length; i++) {
    const start = cuts[i]!
    const end = cuts[i + 1]! - 1
    const res = await client.patch(loc, blob.data.subarray(start, end + 1), { contentRange: `${start}-${end}` })
    t.equal(res.status, 202, `PATCH ${start}-${end}`)
    t.equal(res.header('range'), `0-${end}`, 'Range reports the bytes received')
    t.equal(res.header('docker-upload-uuid'), uuid)
    t.equal(res.header('content-length'), '0')
    loc = res.header('location')!
    t.equal(loc, `/v2/${repo}/blobs/uploads/${uuid}`)
    const status = await client.get(loc)
    t.equal(status.status, 204)
    t.equal(status.header('range'), `0-${end}`)
  }
  t.equal((await stat(path.join(uploadsDir, uuid))).size, 30_000, 'bytes on disk in uploads/<uuid>')
  const put = await client.putUpload(loc, blob.digest)
  t.equal(put.status, 201)
  t.equal(put.header('location'), `/v2/${repo}/blobs/${blob.digest}`)
  t.equal(put.header('docker-content-digest'), blob.digest)
  t.notOk(await exists(path.join(uploadsDir, uuid)), 'upload file gone')
  t.ok((await readFile(blobFile(blob.digest))).equals(blob.data))
  const after = await client.get(loc)
  t.equal(after.status, 404, 'session ended')
  t.same(errorCodes(after), ['BLOB_UPLOAD_UNKNOWN'])
})

t.test('Content-Range in the "bytes a-b/total" form is accepted too', async (t) => {
  const repo = uniqueRepo('up')
  const blob = makeBlob(2000)
  const { location } = await client.startUpload(repo)
  t.equal((await client.patch(location, blob.data.subarray(0, 1000), { contentRange: 'bytes 0-999/2000' })).status, 202)
  t.equal((await client.patch(location, blob.data.subarray(1000), { contentRange: 'bytes 1000-1999/*' })).status, 202)
  t.equal((await client.putUpload(location, blob.digest)).status, 201)
})

t.test('an out-of-order PATCH is 416 with the current Range, and changes nothing', async (t) => {
  const repo = uniqueRepo('up')
  const blob = makeBlob(3000)
  const { location, uuid } = await client.startUpload(repo)
  t.equal((await client.patch(location, blob.data.subarray(0, 1000), { contentRange: '0-999' })).status, 202)
  for (const range of ['2000-2999', '500-1499', '0-999', '1001-1500']) {
    const res = await requestHeadOnly(wharf.url, location, {
      method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-range': range, 'content-length': 1000 },
    })
    t.equal(res.status, 416, `${range}: 416`)
    t.equal(res.header('range'), '0-999', `${range}: Range says where to resume`)
    t.same(errorCodes(res), ['RANGE_INVALID'])
  }
  const small = await client.patch(location, Buffer.from('abc'), { contentRange: '2000-2002' })
  t.equal(small.status, 416, 'also when the whole chunk was sent')
  t.equal((await stat(path.join(uploadsDir, uuid))).size, 1000, 'nothing appended')
  const status = await client.get(location)
  t.equal(status.header('range'), '0-999', 'state unchanged')
  t.equal((await client.patch(location, blob.data.subarray(1000), { contentRange: '1000-2999' })).status, 202, 'the right chunk still goes')
  t.equal((await client.putUpload(location, blob.digest)).status, 201)
})

t.test('a client still sending a refused chunk reads its 416, not a reset: the rest of its body is read and dropped', async (t) => {
  const repo = uniqueRepo('up')
  const { location } = await client.startUpload(repo)
  const body = 4 * 1024 * 1024
  for (let round = 1; round <= 3; round++) {
    // Half-open, as an HTTP client that keeps sending after the server's FIN.
    const socket = net.connect({ port: Number(new URL(wharf.url).port), host: '127.0.0.1', allowHalfOpen: true })
    await once(socket, 'connect')
    const errors: string[] = []
    socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message))
    let answer = ''
    socket.setEncoding('latin1').on('data', (chunk: string) => { answer += chunk })
    socket.write(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Range: 100-${100 + body - 1}\r\nContent-Length: ${body}\r\n\r\n`)
    // The refusal comes before the body is sent; only then does the client send it, all of it.
    const deadline = Date.now() + 5000
    while (!answer.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    for (let sent = 0; sent < body && errors.length === 0; sent += 64 * 1024) {
      if (!socket.write(Buffer.alloc(64 * 1024, round))) await Promise.race([once(socket, 'drain'), once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 5000))])
    }
    socket.end()
    await once(socket, 'close')
    t.same(errors, [], `round ${round}: no EPIPE or reset while sending the rest`)
    t.match(answer, /^HTTP\/1\.1 416 /, `round ${round}: the 416 was read`)
    t.match(answer, /\r\nconnection: close\r\n/i, `round ${round}: and the connection closes after it`)
  }
  t.equal((await client.get(location)).header('range'), '0-0', 'nothing appended')
})

t.test('Content-Range that disagrees with Content-Length, or is malformed, is 416', async (t) => {
  const repo = uniqueRepo('up')
  const { location, uuid } = await client.startUpload(repo)
  const mismatch = await requestHeadOnly(wharf.url, location, {
    method: 'PATCH', headers: { 'content-range': '0-99', 'content-length': 50 },
  })
  t.equal(mismatch.status, 416)
  for (const range of ['abc', '10-5', 'bytes */100']) {
    const res = await requestHeadOnly(wharf.url, location, { method: 'PATCH', headers: { 'content-range': range, 'content-length': 10 } })
    t.equal(res.status, 416, `malformed ${range}`)
    t.same(errorCodes(res), ['RANGE_INVALID'])
  }
  t.equal((await stat(path.join(uploadsDir, uuid))).size, 0)
})

t.test('a malformed Content-Range on the final PUT is 416 as on PATCH, and completes nothing', async (t) => {
  const repo = uniqueRepo('up')
  const blob = makeBlob(2000)
  const { location, uuid } = await client.startUpload(repo)
  await client.patch(location, blob.data.subarray(0, 1000), { contentRange: '0-999' })
  for (const range of ['abc', '1999-1000', 'bytes */2000']) {
    const res = await requestHeadOnly(wharf.url, withQuery(location, { digest: blob.digest }), {
      method: 'PUT', headers: { 'content-range': range, 'content-length': 1000 },
    })
    t.equal(res.status, 416, `malformed ${range}: 416`)
    t.same(errorCodes(res), ['RANGE_INVALID'])
  }
  t.equal((await stat(path.join(uploadsDir, uuid))).size, 1000, 'nothing appended')
  t.equal((await client.head(`/v2/${repo}/blobs/${blob.digest}`)).status, 404, 'no blob committed')
  t.equal((await client.putUpload(location, blob.digest, blob.data.subarray(1000), { 'content-range': '1000-1999' })).status, 201, 'a well-formed final PUT still completes')
})

t.test('garbage pipelined after a complete PATCH on the same connection: the PATCH\'s bytes are kept', async (t) => {
  for (const size of [10_000, 300_000, 2_500_000]) {
    const repo = uniqueRepo('up')
    const blob = makeBlob(size)
    const { location } = await client.startUpload(repo)
    const { port } = new URL(wharf.url)
    const socket = net.connect({ port: Number(port), host: '127.0.0.1' })
    socket.on('error', () => undefined)
    await once(socket, 'connect')
    let answer = ''
    socket.on('data', (d: Buffer) => { answer += d.toString('latin1') })
    const closed = once(socket, 'close')
    // One write: the whole request, then bytes that are no HTTP request at all.
    socket.write(Buffer.concat([
      Buffer.from(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`),
      blob.data,
      Buffer.from('\x00\x01\x02 NOT HTTP \xff\xfe\r\n\r\n'),
    ]))
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000))])
    socket.destroy()
    t.match(answer, /^HTTP\/1\.1 202/, `${size}: the complete PATCH was answered 202 before the connection closed`)
    const status = await client.get(location)
    t.equal(status.status, 204)
    t.equal(status.header('range'), `0-${size - 1}`, `${size}: the status on a new connection reports the PATCH's bytes`)
    t.equal((await client.putUpload(location, blob.digest)).status, 201, `${size}: and the upload completes with them`)
  }
})

t.test('a streamed PATCH without Content-Range (chunked transfer-encoding)', async (t) => {
  const repo = uniqueRepo('up')
  const blob = makeBlob(300_000)
  const { location } = await client.startUpload(repo)
  const first = await client.patch(location, slowly(blob.data.subarray(0, 200_000), 8192))
  t.equal(first.status, 202)
  t.equal(first.header('range'), '0-199999')
  const second = await client.patch(first.header('location')!, slowly(blob.data.subarray(200_000), 5000))
  t.equal(second.status, 202)
  t.equal(second.header('range'), '0-299999')
  const put = await client.putUpload(second.header('location')!, blob.digest)
  t.equal(put.status, 201)
  t.ok((await client.get(`/v2/${repo}/blobs/${blob.digest}`)).body.equals(blob.data))
})

t.test('PUT with the final chunk (with and without Content-Range, streamed)', async (t) => {
  const repo = uniqueRepo('up')
  const blob = makeBlob(5000)
  const a = await client.startUpload(repo)
  await client.patch(a.location, blob.data.subarray(0, 4000), { contentRange: '0-3999' })
  const put = await client.putUpload(a.location, blob.digest, blob.data.subarray(4000))
  t.equal(put.status, 201, 'final chunk without Content-Range')
  t.equal(put.header('docker-content-digest'), blob.digest)

  const repo2 = uniqueRepo('up')
  const b = await client.startUpload(repo2)
  await client.patch(b.location, blob.data.subarray(0, 1000), { contentRange: '0-999' })
  const withRange = await client.putUpload(b.location, blob.digest, blob.data.subarray(1000), { 'content-range': '1000-4999' })
  t.equal(withRange.status, 201, 'final chunk with Content-Range')

  const repo3 = uniqueRepo('up')
  const c = await client.startUpload(repo3)
  const whole = await client.putUpload(c.location, blob.digest, slowly(blob.data, 999))
  t.equal(whole.status, 201, 'the whole blob streamed in the PUT')

  const d = await client.startUpload(uniqueRepo('up'))
  await client.patch(d.location, blob.data.subarray(0, 1000), { contentRange: '0-999' })
  const wrongStart = await requestHeadOnly(wharf.url, withQuery(d.location, { digest: blob.digest }), {
    method: 'PUT', headers: { 'content-range': '2000-4999', 'content-length': 3000 },
  })
  t.equal(wrongStart.status, 416, 'a final chunk out of order')
  t.equal((await client.get(d.location)).header('range'), '0-999')

  for (const repoName of [repo, repo2, repo3]) {
    const get = await client.get(`/v2/${repoName}/blobs/${blob.digest}`)
    t.ok(get.body.equals(blob.data), `${repoName} has the blob`)
  }
})

t.test('PUT of an empty session completes the empty blob', async (t) => {
  const repo = uniqueRepo('up')
  const empty = makeBlob(Buffer.alloc(0))
  const { location } = await client.startUpload(repo)
  const put = await client.putUpload(location, empty.digest)
  t.equal(put.status, 201)
  t.equal((await client.get(`/v2/${repo}/blobs/${empty.digest}`)).header('content-length'), '0')
})

t.test('PUT with the wrong digest: 400 DIGEST_INVALID, the session is gone and nothing stays on disk', async (t) => {
  const repo = uniqueRepo('up')
  const blob = makeBlob(20_000)
  const claimed = makeBlob(20_000).digest
  const { location, uuid } = await client.startUpload(repo)
  await client.patch(location, blob.data, { contentRange: '0-19999' })
  const put = await client.putUpload(location, claimed)
  t.equal(put.status, 400)
  t.same(errorCodes(put), ['DIGEST_INVALID'])
  const status = await client.get(location)
  t.equal(status.status, 404, 'session gone')
  t.same(errorCodes(status), ['BLOB_UPLOAD_UNKNOWN'])
  t.equal((await client.patch(location, Buffer.from('x'))).status, 404, 'PATCH after')
  t.equal((await client.putUpload(location, blob.digest)).status, 404, 'PUT with the right digest after')
  t.notOk(await exists(path.join(uploadsDir, uuid)), 'no file in uploads/')
  t.notOk(await exists(blobFile(claimed)), 'no blob under the claimed digest')
  t.notOk(await exists(blobFile(blob.digest)), 'no blob under the actual digest')

  const b = await client.startUpload(repo)
  await client.patch(b.location, blob.data.subarray(0, 100), { contentRange: '0-99' })
  const wrongAlg = await client.putUpload(b.location, digestOf(blob.data.subarray(0, 100), 'sha512').replace(/.$/, (c) => (c === '0' ? '1' : '0')))
  t.equal(wrongAlg.status, 400, 'wrong sha512 digest')
  t.notOk(await exists(path.join(uploadsDir, b.uuid)))
})

t.test('PUT without a digest or with a malformed one is refused and keeps the session', async (t) => {
  const repo = uniqueRepo('up')
  const blob = makeBlob(100)
  const { location } = await client.startUpload(repo)
  await client.patch(location, blob.data, { contentRange: '0-99' })
  const none = await client.request(location, { method: 'PUT', headers: { 'content-length': 0 } })
  t.equal(none.status, 400)
  t.same(errorCodes(none), ['DIGEST_INVALID'])
  const bad = await client.putUpload(location, 'sha256:123')
  t.equal(bad.status, 400)
  t.same(errorCodes(bad), ['DIGEST_INVALID'])
  const status = await client.get(location)
  t.equal(status.status, 204, 'session still there')
  t.equal(status.header('range'), '0-99')
  t.equal((await client.putUpload(location, blob.digest)).status, 201)
})

t.test('DELETE cancels a session: 204, then 404', async (t) => {
  const repo = uniqueRepo('up')
  const { location, uuid } = await client.startUpload(repo)
  await client.patch(location, randomBytes(1000), { contentRange: '0-999' })
  const del = await client.delete(location)
  t.equal(del.status, 204)
  t.notOk(await exists(path.join(uploadsDir, uuid)), 'file removed')
  for (const [method, res] of [
    ['GET', await client.get(location)],
    ['PATCH', await client.patch(location, Buffer.from('x'))],
    ['PUT', await client.putUpload(location, makeBlob('x').digest)],
    ['DELETE', await client.delete(location)],
  ] as const) {
    t.equal(res.status, 404, `${method} after cancel`)
    t.same(errorCodes(res), ['BLOB_UPLOAD_UNKNOWN'], `${method} after cancel`)
  }
  t.notOk(await exists(path.join(uploadsDir, uuid)), 'PATCH after cancel did not recreate the file')
})

t.test('a session id is valid only in its own repository', async (t) => {
  const repo = uniqueRepo('up')
  const other = uniqueRepo('up')
  const blob = makeBlob(2000)
  const { uuid, location } = await client.startUpload(repo)
  await client.patch(location, blob.data.subarray(0, 1000), { contentRange: '0-999' })
  const foreign = `/v2/${other}/blobs/uploads/${uuid}`
  const results = [
    ['GET', await client.get(foreign)],
    ['PATCH', await client.patch(foreign, blob.data.subarray(1000), { contentRange: '1000-1999' })],
    ['PUT', await client.putUpload(foreign, blob.digest, blob.data.subarray(1000))],
    ['DELETE', await client.delete(foreign)],
  ] as const
  for (const [method, res] of results) {
    t.equal(res.status, 404, `${method} from another repository`)
    t.same(errorCodes(res), ['BLOB_UPLOAD_UNKNOWN'], method)
  }
  t.equal((await client.head(`/v2/${other}/blobs/${blob.digest}`)).status, 404)
  const status = await client.get(location)
  t.equal(status.status, 204, 'still alive in its own repository')
  t.equal(status.header('range'), '0-999', 'and untouched')
  t.equal((await client.putUpload(location, blob.digest, blob.data.subarray(1000))).status, 201)
})

t.test('unknown and hostile session ids are 404 and touch no file', async (t) => {
  const repo = uniqueRepo('up')
  await client.pushBlob(repo, makeBlob(10))
  const before = await listFiles(wharf.storage)
  for (const id of [randomUUID(), 'nope', '..%2F..%2Fmetadata.db', '..%2F..%2Fblobs', '%2E%2E', 'x'.repeat(200)]) {
    const loc = `/v2/${repo}/blobs/uploads/${id}`
    for (const [method, res] of [
      ['GET', await client.get(loc)],
      ['PATCH', await client.patch(loc, Buffer.from('evil'))],
      ['PUT', await client.putUpload(loc, makeBlob('evil').digest, Buffer.from('evil'))],
      ['DELETE', await client.delete(loc)],
    ] as const) {
      t.equal(res.status, 404, `${method} ${id.slice(0, 30)}`)
      t.same(errorCodes(res), ['BLOB_UPLOAD_UNKNOWN'])
    }
  }
  const after = (await listFiles(wharf.storage)).filter((f) => !f.startsWith('metadata.db'))
  t.same(after, before.filter((f) => !f.startsWith('metadata.db')), 'no file created or removed')
  t.equal((await client.get('/v2/')).status, 200)
})

t.test('cross-repository mount', async (t) => {
  const source = uniqueRepo('mount')
  const blob = await client.pushBlob(source, makeBlob(1234))

  const target = uniqueRepo('mount')
  const mounted = await client.request(`/v2/${target}/blobs/uploads/?mount=${blob.digest}&from=${source}`, { method: 'POST' })
  t.equal(mounted.status, 201, 'mount with from')
  t.equal(mounted.header('location'), `/v2/${target}/blobs/${blob.digest}`)
  t.equal(mounted.header('docker-content-digest'), blob.digest)
  t.ok((await client.get(`/v2/${target}/blobs/${blob.digest}`)).body.equals(blob.data))

  const lacking = uniqueRepo('mount')
  await client.pushBlob(lacking, makeBlob(5))
  const target2 = uniqueRepo('mount')
  const fallback = await client.request(`/v2/${target2}/blobs/uploads/?mount=${blob.digest}&from=${lacking}`, { method: 'POST' })
  t.equal(fallback.status, 202, 'from a repository lacking it: an upload session')
  t.match(fallback.header('location'), new RegExp(`^/v2/${target2}/blobs/uploads/[A-Za-z0-9-]+$`))
  t.ok(fallback.header('docker-upload-uuid'))
  t.equal(fallback.header('range'), '0-0')
  t.equal((await client.head(`/v2/${target2}/blobs/${blob.digest}`)).status, 404, 'not mounted')
  t.equal((await client.putUpload(fallback.header('location')!, blob.digest, blob.data)).status, 201, 'the session works')

  const fromUnknown = await client.request(`/v2/${uniqueRepo('mount')}/blobs/uploads/?mount=${blob.digest}&from=${uniqueRepo('none')}`, { method: 'POST' })
  t.equal(fromUnknown.status, 202, 'from a repository that does not exist')

  const fromInvalid = await client.request(`/v2/${uniqueRepo('mount')}/blobs/uploads/?mount=${blob.digest}&from=Bad..Name`, { method: 'POST' })
  t.equal(fromInvalid.status, 202, 'from an invalid name: an ordinary session')

  const target3 = uniqueRepo('mount')
  const anywhere = await client.request(`/v2/${target3}/blobs/uploads/?mount=${blob.digest}`, { method: 'POST' })
  t.equal(anywhere.status, 201, 'without from, a blob the registry has')
  t.equal((await client.head(`/v2/${target3}/blobs/${blob.digest}`)).status, 200)

  const unknown = makeBlob(77)
  const target4 = uniqueRepo('mount')
  const notAnywhere = await client.request(`/v2/${target4}/blobs/uploads/?mount=${unknown.digest}`, { method: 'POST' })
  t.equal(notAnywhere.status, 202, 'without from, an unknown blob: a session')

  const badDigest = await client.request(`/v2/${target4}/blobs/uploads/?mount=sha256:zz&from=${source}`, { method: 'POST' })
  t.equal(badDigest.status, 400)
  t.same(errorCodes(badDigest), ['DIGEST_INVALID'])

  t.equal((await listFiles(path.join(wharf.storage, 'blobs'))).filter((f) => f.endsWith(blob.digest.slice(7))).length, 1, 'one file for every mount')
})

t.test('sha512 end to end: monolithic, chunked, mount', async (t) => {
  const repo = uniqueRepo('sha512')
  const mono = makeBlob(10_000, 'sha512')
  t.equal((await client.request(`/v2/${repo}/blobs/uploads/?digest=${mono.digest}`, { method: 'POST', body: mono.data })).status, 201)
  const chunked = makeBlob(25_000, 'sha512')
  const { location } = await client.startUpload(repo)
  await client.patch(location, chunked.data.subarray(0, 12_000), { contentRange: '0-11999' })
  await client.patch(location, chunked.data.subarray(12_000), { contentRange: '12000-24999' })
  const put = await client.putUpload(location, chunked.digest)
  t.equal(put.status, 201)
  t.equal(put.header('docker-content-digest'), chunked.digest)
  for (const blob of [mono, chunked]) {
    const get = await client.get(`/v2/${repo}/blobs/${blob.digest}`)
    t.equal(get.status, 200)
    t.equal(get.header('docker-content-digest'), blob.digest)
    t.ok(get.body.equals(blob.data))
    t.ok((await readFile(blobFile(blob.digest))).equals(blob.data), 'on disk under sha512/')
  }
  const other = uniqueRepo('sha512')
  t.equal((await client.request(`/v2/${other}/blobs/uploads/?mount=${mono.digest}&from=${repo}`, { method: 'POST' })).status, 201)
})

t.test('pushing a blob that already exists keeps one file', async (t) => {
  const blob = makeBlob(4096)
  const a = uniqueRepo('dup')
  const b = uniqueRepo('dup')
  await client.pushBlob(a, blob)
  await client.pushBlob(b, blob)
  await client.pushBlobChunked(a, blob, 1000)
  t.equal((await listFiles(path.join(wharf.storage, 'blobs'))).filter((f) => f.endsWith(blob.digest.slice(7))).length, 1)
  t.ok((await client.get(`/v2/${b}/blobs/${blob.digest}`)).body.equals(blob.data))
})

t.test('no request ended in a server error (nothing logged at level error)', async (t) => {
  t.same(serverErrors(wharf), [])
})
