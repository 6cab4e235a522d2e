import { once } from 'node:events'
import { stat } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { digestOf, makeBlob, openFdCount, serverErrors, startTestServer, uniqueRepo, waitFor } from '../support/index.js'

const { wharf, client } = await startTestServer(t)
const url = new URL(wharf.url)

/** Sends `sendBytes` of a body announced as `declared` bytes, then destroys the socket. */
async function abortedPatch(location: string, data: Buffer, sendBytes: number, headers: http.OutgoingHttpHeaders): Promise<void> {
  const req = http.request({ host: url.hostname, port: url.port, method: 'PATCH', path: location, headers, agent: false })
  req.on('error', () => { /* we destroy it */ })
  req.on('response', (res) => { res.resume() })
  req.flushHeaders()
  for (let offset = 0; offset < sendBytes; offset += 64 * 1024) {
    const ok = req.write(data.subarray(offset, Math.min(sendBytes, offset + 64 * 1024)))
    if (!ok) await once(req, 'drain')
  }
  await sleep(100)
  req.destroy()
  await sleep(50)
}

/** The upload size once GET status stops changing. */
async function settledRange(location: string): Promise<number> {
  let last = -2
  return waitFor('a settled upload size', async () => {
    const res = await client.get(location)
    if (res.status !== 204) throw new Error(`status ${res.status}`)
    const end = Number(res.header('range')!.split('-')[1])
    const size = end === 0 && last <= 0 ? end : end + 1
    if (size === last) return size
    last = size
    await sleep(50)
    return undefined
  })
}

t.test('a PATCH aborted mid-stream: the server stays healthy and the session resumes from its Range', async (t) => {
  const repo = uniqueRepo('abort')
  const blob = makeBlob(4 * 1024 * 1024)
  const fdsBefore = await openFdCount(wharf.child.pid!)
  const { location } = await client.startUpload(repo)
  await abortedPatch(location, blob.data, 1536 * 1024, { 'content-type': 'application/octet-stream', 'content-length': blob.size })
  t.equal((await client.get('/v2/')).status, 200, 'server healthy')
  const received = await settledRange(location)
  t.ok(received > 0 && received <= 1536 * 1024, `kept a prefix of what was sent (${received} bytes)`)
  const resume = await client.patch(location, blob.data.subarray(received), { contentRange: `${received}-${blob.size - 1}` })
  t.equal(resume.status, 202, 'resumed with Content-Range from the reported Range')
  t.equal(resume.header('range'), `0-${blob.size - 1}`)
  const put = await client.putUpload(location, blob.digest)
  t.equal(put.status, 201, 'final digest correct: the kept prefix is exactly what was sent')
  t.ok((await client.get(`/v2/${repo}/blobs/${blob.digest}`)).body.equals(blob.data))
  await sleep(100)
  t.ok(await openFdCount(wharf.child.pid!) <= fdsBefore + 2, 'no file descriptor leaked')
})

t.test('an aborted chunked PATCH (no Content-Length) and an aborted monolithic POST', async (t) => {
  const repo = uniqueRepo('abort')
  const blob = makeBlob(2 * 1024 * 1024)
  const { location } = await client.startUpload(repo)
  await abortedPatch(location, blob.data, 700 * 1024, { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' })
  const received = await settledRange(location)
  t.ok(received <= 700 * 1024, `prefix kept: ${received}`)
  t.equal((await client.patch(location, blob.data.subarray(received), { contentRange: `${received}-${blob.size - 1}` })).status, 202)
  t.equal((await client.putUpload(location, blob.digest)).status, 201)

  const mono = makeBlob(3 * 1024 * 1024)
  const req = http.request({ host: url.hostname, port: url.port, method: 'POST', path: `/v2/${repo}/blobs/uploads/?digest=${mono.digest}`, headers: { 'content-length': mono.size }, agent: false })
  req.on('error', () => {})
  req.write(mono.data.subarray(0, 1024 * 1024))
  await sleep(100)
  req.destroy()
  await sleep(200)
  t.equal((await client.head(`/v2/${repo}/blobs/${mono.digest}`)).status, 404, 'an aborted monolithic upload stores nothing')
  t.equal((await client.pushBlob(repo, mono)).digest, mono.digest, 'and can be pushed again')
})

t.test('downloads aborted midway do not break the server nor leak descriptors', async (t) => {
  const repo = uniqueRepo('abort')
  const blob = await client.pushBlob(repo, makeBlob(8 * 1024 * 1024))
  await sleep(100)
  const fdsBefore = await openFdCount(wharf.child.pid!)
  for (let i = 0; i < 8; i++) {
    await new Promise<void>((resolve) => {
      const req = http.get({ host: url.hostname, port: url.port, path: `/v2/${repo}/blobs/${blob.digest}`, agent: false, headers: i % 2 ? { range: 'bytes=1000-' } : {} }, (res) => {
        res.once('data', () => { req.destroy(); resolve() })
      })
      req.on('error', () => resolve())
    })
  }
  t.equal((await client.get('/v2/')).status, 200, 'server healthy')
  const full = await client.request(`/v2/${repo}/blobs/${blob.digest}`, { hashBody: 'sha256' })
  t.equal(full.status, 200)
  t.equal(full.bodyDigest, blob.digest, 'a full download afterwards is intact')
  t.equal(digestOf(blob.data), blob.digest)
  const fds = await waitFor('descriptors to be released', async () => {
    const n = await openFdCount(wharf.child.pid!)
    return n <= fdsBefore + 2 ? n : undefined
  }).catch(async () => openFdCount(wharf.child.pid!))
  t.ok(fds <= fdsBefore + 2, `open descriptors back to ${fdsBefore} (now ${fds})`)
})

t.test('a client resuming right after an aborted PATCH gets there, at most via one 416 that names the kept size', async (t) => {
  // A client whose PATCH connection died asks where to resume and resumes at once. Status waits for a
  // chunk the server is still writing; but requests on two connections have no order, so the server
  // may not even have started reading the aborted one when the status arrives. Then the resume gets
  // 416 with the Range the upload really has (distribution-spec: resume from the 416's Range).
  const repo = uniqueRepo('abort')
  for (let i = 0; i < 5; i++) {
    const blob = makeBlob(4 * 1024 * 1024)
    const { location } = await client.startUpload(repo)
    const req = http.request({ host: url.hostname, port: url.port, method: 'PATCH', path: location, headers: { 'content-length': blob.size }, agent: false })
    req.on('error', () => {})
    for (let offset = 0; offset < 2 * 1024 * 1024; offset += 64 * 1024) {
      if (!req.write(blob.data.subarray(offset, offset + 64 * 1024))) await once(req, 'drain')
    }
    req.destroy()
    const status = await client.get(location)
    t.equal(status.status, 204)
    const end = Number(status.header('range')!.split('-')[1])
    const size = end === 0 ? 0 : end + 1
    let resume = await client.patch(location, blob.data.subarray(size), { contentRange: `${size}-${blob.size - 1}` })
    if (resume.status === 416) {
      const kept = Number(resume.header('range')!.split('-')[1]) + 1
      t.ok(kept > size, `round ${i}: the 416 names the size the aborted chunk left (${kept} > ${size})`)
      resume = await client.patch(location, blob.data.subarray(kept), { contentRange: `${kept}-${blob.size - 1}` })
    }
    t.equal(resume.status, 202, `round ${i}: the resume is accepted (server says ${resume.header('range')})`)
    t.equal(resume.header('range'), `0-${blob.size - 1}`)
    t.equal((await client.putUpload(location, blob.digest)).status, 201, `round ${i}: the digest of the whole blob is right`)
  }
})

/** Sends `sendBytes` of a body announced as `data.length` bytes and then stalls, the connection left open. */
async function stalledPatch(location: string, data: Buffer, sendBytes: number): Promise<{ ended: Promise<number | 'closed'>; destroy(): void }> {
  const req = http.request({ host: url.hostname, port: url.port, method: 'PATCH', path: location, agent: false,
    headers: { 'content-type': 'application/octet-stream', 'content-length': data.length } })
  const ended = new Promise<number | 'closed'>((resolve) => {
    req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', () => resolve('closed'))
    req.on('close', () => resolve('closed'))
  })
  req.flushHeaders()
  for (let offset = 0; offset < sendBytes; offset += 64 * 1024) {
    if (!req.write(data.subarray(offset, Math.min(sendBytes, offset + 64 * 1024)))) await once(req, 'drain')
  }
  await sleep(300)
  return { ended, destroy: () => req.destroy() }
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now()
  const value = await work
  return { value, ms: performance.now() - started }
}

t.test('a stalled PATCH does not hold back the status, which names the bytes written; a resume after it goes per the spec', async (t) => {
  const repo = uniqueRepo('stall')
  const blob = makeBlob(4 * 1024 * 1024)
  const { location, uuid } = await client.startUpload(repo)
  const stalled = await stalledPatch(location, blob.data, 1536 * 1024)
  t.teardown(() => stalled.destroy())
  // The server writes in 1 MiB batches: let the first land (on a loaded machine it can take longer
  // than stalledPatch's pause), so that the status and the file are compared at rest.
  const uploadFile = path.join(wharf.storage, 'uploads', uuid)
  await waitFor('the first batch of the stalled chunk on disk', async () => (await stat(uploadFile)).size >= 1024 * 1024 || undefined)

  const { value: status, ms } = await timed(client.get(location))
  t.equal(status.status, 204, 'status of the session with a chunk stalled in flight')
  t.ok(ms < 1000, `status answered at once (${Math.round(ms)} ms), not after the idle timeout`)
  const end = Number(status.header('range')!.split('-')[1])
  const durable = end === 0 ? 0 : end + 1
  const onDisk = (await stat(uploadFile)).size
  t.equal(durable, onDisk, `the Range names the bytes written to the upload file (${onDisk})`)
  t.ok(durable <= 1536 * 1024, 'no more than was sent')

  // The client's connection dies; it resumes from 0 (it lost track): 416 with the Range to resume
  // from, then it continues from there.
  stalled.destroy()
  const { value: wrong, ms: wrongMs } = await timed(client.patch(location, blob.data, { contentRange: `0-${blob.size - 1}` }))
  t.ok(wrongMs < 2000, `the resume did not wait for an idle timeout (${Math.round(wrongMs)} ms)`)
  t.equal(wrong.status, 416, 'a chunk that does not start at the upload\'s end: 416')
  const kept = Number(wrong.header('range')!.split('-')[1]) + 1
  t.ok(kept >= durable && kept <= 1536 * 1024, `the 416 names the kept prefix (${kept})`)
  const resume = await client.patch(location, blob.data.subarray(kept), { contentRange: `${kept}-${blob.size - 1}` })
  t.equal(resume.status, 202, 'resumed from the 416\'s Range')
  t.equal(resume.header('range'), `0-${blob.size - 1}`)
  t.equal((await client.putUpload(location, blob.digest)).status, 201, 'the blob is whole: the kept prefix is exactly what was sent')
})

t.test('DELETE of a session with a stalled PATCH answers 204 at once, ends the PATCH, and the bytes are gone', async (t) => {
  const repo = uniqueRepo('stall')
  const blob = makeBlob(4 * 1024 * 1024)
  const { location, uuid } = await client.startUpload(repo)
  const stalled = await stalledPatch(location, blob.data, 1536 * 1024)
  t.teardown(() => stalled.destroy())
  const { value: cancel, ms } = await timed(client.delete(location))
  t.equal(cancel.status, 204)
  t.ok(ms < 1000, `cancel answered at once (${Math.round(ms)} ms)`)
  const ended = await Promise.race([stalled.ended, sleep(2000).then(() => 'still running' as const)])
  t.ok(ended === 404 || ended === 'closed', `the stalled PATCH ended (${ended})`)
  t.equal((await client.get(location)).status, 404, 'status afterwards: 404')
  t.equal((await client.patch(location, blob.data.subarray(0, 10), { contentRange: '0-9' })).status, 404, 'a PATCH afterwards: 404')
  await sleep(100)
  t.equal(await stat(path.join(wharf.storage, 'uploads', uuid)).then(() => true, () => false), false, 'the upload file is gone')
})

t.test('no request ended in a server error (nothing logged at level error)', async (t) => {
  t.same(serverErrors(wharf), [])
})
