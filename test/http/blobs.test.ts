import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import t from 'tap'
import { errorCodes, hexOf, makeBlob, serverErrors, startTestServer, uniqueRepo } from '../support/index.js'

const { wharf, client } = await startTestServer(t)

function blobFile(digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string]
  return path.join(wharf.storage, 'blobs', alg, hex.slice(0, 2), hex)
}

t.test('HEAD and GET a pushed blob', async (t) => {
  const repo = uniqueRepo('blobs')
  const blob = await client.pushBlob(repo, makeBlob(10_000))
  const head = await client.head(`/v2/${repo}/blobs/${blob.digest}`)
  t.equal(head.status, 200)
  t.equal(head.header('docker-content-digest'), blob.digest)
  t.equal(head.header('content-length'), '10000')
  t.equal(head.header('content-type'), 'application/octet-stream')
  t.equal(head.body.length, 0, 'HEAD has no body')
  const get = await client.get(`/v2/${repo}/blobs/${blob.digest}`)
  t.equal(get.status, 200)
  t.equal(get.header('docker-content-digest'), blob.digest)
  t.equal(get.header('content-length'), '10000')
  t.equal(get.header('content-type'), 'application/octet-stream')
  t.ok(get.body.equals(blob.data), 'identical bytes')
  t.ok((await readFile(blobFile(blob.digest))).equals(blob.data), 'stored at blobs/sha256/<2>/<hex>')
  const encoded = await client.get(`/v2/${repo}/blobs/${blob.digest.replace(':', '%3A')}`)
  t.equal(encoded.status, 200, 'a percent-encoded colon in the digest is fine')
  t.ok(encoded.body.equals(blob.data))
})

t.test('the empty blob', async (t) => {
  const repo = uniqueRepo('blobs')
  const blob = await client.pushBlob(repo, makeBlob(Buffer.alloc(0)))
  t.equal(blob.digest, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  const get = await client.get(`/v2/${repo}/blobs/${blob.digest}`)
  t.equal(get.status, 200)
  t.equal(get.header('content-length'), '0')
  t.equal(get.body.length, 0)
  const range = await client.get(`/v2/${repo}/blobs/${blob.digest}`, { range: 'bytes=0-' })
  t.equal(range.status, 416, 'no range of an empty blob is satisfiable')
  t.equal(range.header('content-range'), 'bytes */0')
})

t.test('Range requests', async (t) => {
  const repo = uniqueRepo('blobs')
  const blob = await client.pushBlob(repo, makeBlob(1000))
  const url = `/v2/${repo}/blobs/${blob.digest}`
  const partial: Array<[string, number, number]> = [
    ['bytes=0-0', 0, 0],
    ['bytes=1-3', 1, 3],
    ['bytes=500-', 500, 999],
    ['bytes=-10', 990, 999],
    ['bytes=-5000', 0, 999],
    ['bytes=990-5000', 990, 999],
    ['bytes=999-999', 999, 999],
  ]
  for (const [header, start, end] of partial) {
    const res = await client.get(url, { range: header })
    t.equal(res.status, 206, `${header}: 206`)
    t.equal(res.header('content-range'), `bytes ${start}-${end}/1000`, `${header}: Content-Range`)
    t.equal(res.header('content-length'), String(end - start + 1), `${header}: Content-Length`)
    t.equal(res.header('docker-content-digest'), blob.digest)
    t.ok(res.body.equals(blob.data.subarray(start, end + 1)), `${header}: bytes`)
  }
  for (const header of ['bytes=1000-', 'bytes=2000-3000', 'bytes=-0']) {
    const res = await client.get(url, { range: header })
    t.equal(res.status, 416, `${header}: 416`)
    t.equal(res.header('content-range'), 'bytes */1000', `${header}: Content-Range names the size`)
    t.same(errorCodes(res), ['RANGE_INVALID'])
  }
  for (const header of ['bytes=0-1,5-6', 'items=0-5', 'bytes=5-2', 'garbage']) {
    const res = await client.get(url, { range: header })
    t.equal(res.status, 200, `${header}: ignored, whole blob`)
    t.equal(res.header('content-range'), undefined)
    t.ok(res.body.equals(blob.data))
  }
})

/** GET through `agent`: status, body and whether the agent reused a connection for it. */
async function rawGet(agent: http.Agent, target: string, headers: http.OutgoingHttpHeaders = {}, pauseFirst = false): Promise<{ status: number; body: Buffer; reused: boolean }> {
  const { hostname, port } = new URL(wharf.url)
  const req = http.get({ host: hostname, port, path: target, agent, headers })
  const [res] = await once(req, 'response') as [http.IncomingMessage]
  // A reader that holds back makes the server wait on the socket (backpressure), then takes the rest.
  if (pauseFirst) {
    res.pause()
    await once(res, 'readable')
    await new Promise((resolve) => setImmediate(resolve))
  }
  const chunks: Buffer[] = []
  for await (const chunk of res) chunks.push(chunk as Buffer)
  return { status: res.statusCode!, body: Buffer.concat(chunks), reused: req.reusedSocket }
}

t.test('a blob larger than the server reads at once: whole, in ranges across reads, slowly read, on one kept-alive connection', async (t) => {
  const repo = uniqueRepo('blobs')
  const size = 9 * 1024 * 1024 + 123
  const blob = await client.pushBlob(repo, makeBlob(size))
  const target = `/v2/${repo}/blobs/${blob.digest}`
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const whole = await rawGet(agent, target)
  t.equal(whole.status, 200)
  t.ok(whole.body.equals(blob.data), 'whole blob, exact bytes')
  const ranges: Array<[number, number]> = [[1, size - 2], [4 * 1024 * 1024 - 5, 8 * 1024 * 1024 + 5], [size - 1, size - 1]]
  for (const [start, end] of ranges) {
    const part = await rawGet(agent, target, { range: `bytes=${start}-${end}` })
    t.equal(part.status, 206)
    t.ok(part.body.equals(blob.data.subarray(start, end + 1)), `bytes ${start}-${end}: exact bytes`)
    t.ok(part.reused, 'the connection of the previous full body served it')
  }
  const slow = await rawGet(agent, target, {}, true)
  t.ok(slow.body.equals(blob.data), 'a slow reader gets every byte')
})

t.test('a blob is visible only in the repository it was pushed or mounted into', async (t) => {
  const a = uniqueRepo('blobs')
  const b = uniqueRepo('blobs')
  const c = uniqueRepo('blobs')
  const blob = await client.pushBlob(a, makeBlob(500))
  await client.pushBlob(b, makeBlob(10)) // b exists, without this blob
  for (const repo of [b, c]) {
    const head = await client.head(`/v2/${repo}/blobs/${blob.digest}`)
    t.equal(head.status, 404, `HEAD in ${repo}`)
    t.equal(head.body.length, 0)
    const get = await client.get(`/v2/${repo}/blobs/${blob.digest}`)
    t.equal(get.status, 404, `GET in ${repo}`)
    t.same(errorCodes(get), ['BLOB_UNKNOWN'])
  }
  const mount = await client.request(`/v2/${b}/blobs/uploads/?mount=${blob.digest}&from=${a}`, { method: 'POST' })
  t.equal(mount.status, 201)
  t.equal((await client.get(`/v2/${b}/blobs/${blob.digest}`)).status, 200, 'visible after the mount')
})

t.test('DELETE a blob: 202, then 404 in that repository only', async (t) => {
  const a = uniqueRepo('blobs')
  const b = uniqueRepo('blobs')
  const blob = await client.pushBlob(a, makeBlob(300))
  t.equal((await client.request(`/v2/${b}/blobs/uploads/?mount=${blob.digest}&from=${a}`, { method: 'POST' })).status, 201)
  const del = await client.delete(`/v2/${a}/blobs/${blob.digest}`)
  t.equal(del.status, 202)
  t.equal(del.body.length, 0)
  t.equal((await client.head(`/v2/${a}/blobs/${blob.digest}`)).status, 404, 'HEAD after delete')
  const get = await client.get(`/v2/${a}/blobs/${blob.digest}`)
  t.equal(get.status, 404)
  t.same(errorCodes(get), ['BLOB_UNKNOWN'])
  const again = await client.delete(`/v2/${a}/blobs/${blob.digest}`)
  t.equal(again.status, 404, 'second delete')
  t.same(errorCodes(again), ['BLOB_UNKNOWN'])
  const other = await client.get(`/v2/${b}/blobs/${blob.digest}`)
  t.equal(other.status, 200, 'the other repository keeps it')
  t.ok(other.body.equals(blob.data))
  const never = await client.delete(`/v2/${a}/blobs/${makeBlob(1).digest}`)
  t.equal(never.status, 404, 'deleting a blob never pushed')
  t.same(errorCodes(never), ['BLOB_UNKNOWN'])
})

t.test('invalid digests are 400 DIGEST_INVALID', async (t) => {
  const repo = uniqueRepo('blobs')
  await client.pushBlob(repo, makeBlob(10))
  const hex = 'a'.repeat(64)
  for (const digest of ['sha256:abc', `sha256:${hex.toUpperCase()}`, `md5:${'a'.repeat(32)}`, 'latest', `sha256:${hex}0`, `sha512:${hex}`]) {
    const get = await client.get(`/v2/${repo}/blobs/${digest}`)
    t.equal(get.status, 400, `GET ${digest}`)
    t.same(errorCodes(get), ['DIGEST_INVALID'], `GET ${digest}`)
    const head = await client.head(`/v2/${repo}/blobs/${digest}`)
    t.equal(head.status, 400, `HEAD ${digest}`)
    const del = await client.delete(`/v2/${repo}/blobs/${digest}`)
    t.equal(del.status, 400, `DELETE ${digest}`)
    t.same(errorCodes(del), ['DIGEST_INVALID'])
  }
})

t.test('sha512 blobs', async (t) => {
  const repo = uniqueRepo('blobs')
  const blob = makeBlob(4000, 'sha512')
  await client.pushBlob(repo, blob)
  const get = await client.get(`/v2/${repo}/blobs/${blob.digest}`)
  t.equal(get.status, 200)
  t.equal(get.header('docker-content-digest'), blob.digest)
  t.ok(get.body.equals(blob.data))
  t.ok((await readFile(blobFile(blob.digest))).equals(blob.data), 'stored under blobs/sha512/')
  const sha256 = makeBlob(blob.data)
  t.equal((await client.head(`/v2/${repo}/blobs/${sha256.digest}`)).status, 404, 'the sha256 of the same bytes is another blob')
  t.equal(hexOf(blob.digest).length, 128)
})

t.test('a blob of an unknown repository is 404 BLOB_UNKNOWN', async (t) => {
  const res = await client.get(`/v2/${uniqueRepo('nothing')}/blobs/${makeBlob(5).digest}`)
  t.equal(res.status, 404)
  t.same(errorCodes(res), ['BLOB_UNKNOWN'])
})

t.test('a deleted blob can be pushed again, and is no longer mountable from where it was deleted', async (t) => {
  const a = uniqueRepo('blobs')
  const blob = await client.pushBlob(a, makeBlob(2048))
  t.equal((await client.delete(`/v2/${a}/blobs/${blob.digest}`)).status, 202)
  const target = uniqueRepo('blobs')
  const mount = await client.request(`/v2/${target}/blobs/uploads/?mount=${blob.digest}&from=${a}`, { method: 'POST' })
  t.equal(mount.status, 202, 'mount from a repository that deleted it falls back to a session')
  t.equal((await client.delete(mount.header('location')!)).status, 204)
  await client.pushBlob(a, blob)
  const get = await client.get(`/v2/${a}/blobs/${blob.digest}`)
  t.equal(get.status, 200, 'pushed again')
  t.ok(get.body.equals(blob.data))
  t.ok((await readFile(blobFile(blob.digest))).equals(blob.data), 'one intact file')
})

t.test('no request ended in a server error (nothing logged at level error)', async (t) => {
  t.same(serverErrors(wharf), [])
})
