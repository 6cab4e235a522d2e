/**
 * Misbehaving clients (issue #5): connections dropped mid-upload, mid-download and mid-manifest;
 * slowloris headers, stalled bodies and slow readers; the configured limits (header and manifest
 * size, uploads per client and in total, idle and header timeouts, upload TTL); and graceful
 * shutdown. Nothing may leak (file descriptors from /proc/PID/fd, memory, sessions, upload files)
 * and a concurrent fast client must keep getting quick answers.
 */
import { once } from 'node:events'
import { readdir, stat } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { errorBody, makeBlob, MediaTypes, memoryOf, openFdCount, request, sleep, startWharf, tempDir, type WharfProcess, withQuery, writeConfig } from '../support/index.js'
import { fsckCli, printFigures } from './harness.js'

const figures = { droppedConnections: 0, slowClients: 0, limitRefusals: 0, fiveXx: 0, worstFastLatencyMs: 0 }

/** Sends `head` (and optional body) on a raw socket from `localAddress`; resolves when connected. */
async function rawSocket(base: string, data: string | Buffer, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const { port } = new URL(base)
  const socket = net.connect({ port: Number(port), host: '127.0.0.1', localAddress })
  socket.on('error', () => undefined)
  await once(socket, 'connect')
  socket.write(data)
  return socket
}

function closedWithin(socket: net.Socket, ms: number): Promise<number | undefined> {
  const started = Date.now()
  if (socket.destroyed) return Promise.resolve(0)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms)
    socket.once('close', () => { clearTimeout(timer); resolve(Date.now() - started) })
  })
}

/**
 * Milliseconds until the server closed its side of the connection `socket` (its end leaves
 * ESTABLISHED in /proc/net/tcp). A client that is not reading cannot see the close itself.
 */
async function serverClosedWithin(base: string, socket: net.Socket, ms: number): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises')
  const serverPort = Number(new URL(base).port).toString(16).toUpperCase().padStart(4, '0')
  const clientPort = socket.localPort!.toString(16).toUpperCase().padStart(4, '0')
  const started = Date.now()
  while (Date.now() - started < ms) {
    const table = await readFile('/proc/net/tcp', 'utf8')
    const row = table.split('\n').map((line) => line.trim().split(/\s+/))
      .find((f) => f[1]?.endsWith(`:${serverPort}`) && f[2]?.endsWith(`:${clientPort}`))
    if (row === undefined || row[3] !== '01') return Date.now() - started
    await sleep(100)
  }
  return undefined
}

/** Latencies of `count` sequential GET /v2/ on fresh connections. */
async function fastClient(base: string, count: number, gapMs = 50): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    const res = await request(base, '/v2/', { fresh: true })
    out.push(performance.now() - started)
    if (res.status !== 200) throw new Error(`fast client got ${res.status}`)
    await sleep(gapMs)
  }
  return out
}

const worst = (xs: number[]): number => Math.max(...xs)

t.test('client faults and limits', async (t) => {
  const storage = await tempDir('clients')
  const config = await writeConfig(storage, {
    http: { idleTimeoutSeconds: 2, headersTimeoutSeconds: 2, maxHeaderBytes: 8192 },
    limits: { manifestMaxBytes: 4096, uploadsPerClient: 3, uploadsTotal: 5 },
    uploads: { ttlSeconds: 3 },
    gc: { intervalSeconds: 0 },
  })
  const server = await startWharf({ storage, extraArgs: ['--config', config] })
  t.teardown(() => server.stop({ removeStorage: true }))
  const url = server.url
  const pid = server.child.pid!
  const repo = 'clients/repo'
  const big = makeBlob(8 << 20)
  t.equal((await request(url, `/v2/${repo}/blobs/uploads/?digest=${big.digest}`, { method: 'POST', body: big.data })).status, 201)
  await fastClient(url, 5, 0)
  await sleep(200)
  const fdBaseline = await openFdCount(pid)
  const memBaseline = await memoryOf(pid)

  await t.test('dropped connections: mid-upload, mid-download, mid-manifest', async (t) => {
    const fast = fastClient(url, 40, 25)
    for (let i = 0; i < 20; i++) {
      // Monolithic upload: half the body, then the connection drops.
      const blob = makeBlob(600_000)
      const mono = await rawSocket(url, `POST /v2/${repo}/blobs/uploads/?digest=${blob.digest} HTTP/1.1\r\nHost: x\r\nContent-Length: ${blob.size}\r\n\r\n`)
      mono.write(blob.data.subarray(0, 300_000))
      await sleep(5)
      mono.destroy()
      // Chunked session: a PATCH drops half-way.
      const start = await request(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
      const patch = await rawSocket(url, `PATCH ${start.header('location')} HTTP/1.1\r\nHost: x\r\nContent-Length: ${blob.size}\r\n\r\n`)
      patch.write(blob.data.subarray(0, 200_000))
      await sleep(5)
      patch.destroy()
      // Download: read a little of 8 MiB, then drop.
      const get = await rawSocket(url, `GET /v2/${repo}/blobs/${big.digest} HTTP/1.1\r\nHost: x\r\n\r\n`)
      await once(get, 'data')
      get.destroy()
      // Manifest PUT: half the body, then drop.
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: {}, layers: [] }))
      const put = await rawSocket(url, `PUT /v2/${repo}/manifests/dropped HTTP/1.1\r\nHost: x\r\nContent-Type: ${MediaTypes.ociManifest}\r\nContent-Length: ${manifest.length}\r\n\r\n`)
      put.write(manifest.subarray(0, 20))
      await sleep(5)
      put.destroy()
      figures.droppedConnections += 4
      // A dropped PATCH leaves the session resumable from what the server reports.
      const status = await request(url, start.header('location')!)
      t.equal(status.status, 204, 'the session survives a dropped PATCH')
      if (i === 0) {
        const have = Number(status.header('range')!.split('-')[1]) + (status.header('range') === '0-0' ? 0 : 1)
        const rest = await request(url, status.header('location')!, { method: 'PATCH', body: blob.data.subarray(have), headers: { 'content-range': `${have}-${blob.size - 1}` } })
        t.equal(rest.status, 202, 'and resumes')
        t.equal((await request(url, withQuery(rest.header('location')!, { digest: blob.digest }), { method: 'PUT', headers: { 'content-length': 0 } })).status, 201)
      }
    }
    const latencies = await fast
    figures.worstFastLatencyMs = Math.max(figures.worstFastLatencyMs, worst(latencies))
    t.ok(worst(latencies) < 500, `a concurrent fast client stays fast (worst ${worst(latencies).toFixed(0)} ms)`)
    t.equal((await request(url, `/v2/${repo}/manifests/dropped`)).status, 404, 'no half manifest')
    await sleep(300)
    const uploads = await readdir(path.join(storage, 'uploads'))
    t.ok(uploads.length <= 20, `only the abandoned sessions' files remain (${uploads.length}), no monolithic leftovers`)
  })

  await t.test('slowloris: headers dribbled past headersTimeoutSeconds', async (t) => {
    const sockets: net.Socket[] = []
    for (let i = 0; i < 20; i++) sockets.push(await rawSocket(url, 'GET /v2/ HTTP/1.1\r\nHost: x\r\n'))
    let dribbling = true
    const dribble = (async () => {
      for (let i = 0; dribbling; i++) {
        for (const s of sockets) if (!s.destroyed) s.write(`X-${i}: y\r\n`)
        await sleep(400)
      }
    })()
    const fast = fastClient(url, 20, 100)
    const closes = await Promise.all(sockets.map((s) => closedWithin(s, 12_000)))
    dribbling = false
    await dribble
    for (const s of sockets) s.destroy()
    figures.slowClients += sockets.length
    const latencies = await fast
    figures.worstFastLatencyMs = Math.max(figures.worstFastLatencyMs, worst(latencies))
    t.ok(worst(latencies) < 500, `fast client unaffected (worst ${worst(latencies).toFixed(0)} ms)`)
    const slowest = Math.max(...closes.map((c) => c ?? Infinity))
    t.ok(slowest <= 5000, `every slowloris connection closed within headersTimeoutSeconds (2 s) + 3 s slack: slowest ${slowest} ms`)
  })

  await t.test('stalled body and slow reader are closed after idleTimeoutSeconds', async (t) => {
    const start = await request(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
    const stalled = await rawSocket(url, `PATCH ${start.header('location')} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`)
    stalled.write(Buffer.alloc(1000))
    const dribbled = await rawSocket(url, `POST /v2/${repo}/blobs/uploads/?digest=${makeBlob('z').digest} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`)
    const dribbleTimer = setInterval(() => { if (!dribbled.destroyed) dribbled.write('z') }, 2500) // slower than the idle timeout
    // 48 MiB: more than loopback socket buffers hold, so the server's response really stalls.
    const huge = makeBlob(48 << 20)
    t.equal((await request(url, `/v2/${repo}/blobs/uploads/?digest=${huge.digest}`, { method: 'POST', body: huge.data })).status, 201)
    const reader = await rawSocket(url, `GET /v2/${repo}/blobs/${huge.digest} HTTP/1.1\r\nHost: x\r\n\r\n`)
    reader.pause() // never reads: the server's writes back up
    const [a, b, c] = await Promise.all([closedWithin(stalled, 8000), closedWithin(dribbled, 8000), serverClosedWithin(url, reader, 10000)])
    clearInterval(dribbleTimer)
    for (const s of [stalled, dribbled, reader]) s.destroy()
    figures.slowClients += 3
    t.ok(a !== undefined && a <= 4500, `stalled body closed (${a} ms)`)
    t.ok(b !== undefined && b <= 4500, `body dribbled slower than the idle timeout closed (${b} ms)`)
    t.ok(c !== undefined && c <= 7000, `slow reader's connection closed by the server (idle 2 s after its buffers filled) (${c} ms)`)
  })

  await t.test('limits: uploads per client and in total (429), header size (431), manifest size (413)', async (t) => {
    const open: net.Socket[] = []
    const startUpload = async (localAddress: string): Promise<{ socket: net.Socket; response: Promise<string> }> => {
      const s = await request(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
      const socket = await rawSocket(url, `PATCH ${s.header('location')} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n`, localAddress)
      socket.write(Buffer.alloc(10))
      open.push(socket)
      const response = new Promise<string>((resolve) => {
        let text = ''
        socket.on('data', (d: Buffer) => { text += d.toString() })
        socket.on('close', () => resolve(text))
        setTimeout(() => resolve(text), 1500)
      })
      return { socket, response }
    }
    const keepAlive = setInterval(() => { for (const s of open) if (!s.destroyed) s.write(Buffer.alloc(10)) }, 300)
    try {
      for (let i = 0; i < 3; i++) await startUpload('127.0.0.1')
      await sleep(200)
      const fourth = await startUpload('127.0.0.1')
      const text = await fourth.response
      t.match(text, /^HTTP\/1\.1 429/, 'the 4th concurrent upload of one client: 429')
      t.match(text, /"code":"TOOMANYREQUESTS"/)
      figures.limitRefusals++
      for (const addr of ['127.0.0.2', '127.0.0.3']) await startUpload(addr)
      await sleep(200)
      const sixth = await startUpload('127.0.0.4')
      const text6 = await sixth.response
      t.match(text6, /^HTTP\/1\.1 429/, 'the 6th concurrent upload in total: 429')
      figures.limitRefusals++
    } finally {
      clearInterval(keepAlive)
      for (const s of open) s.destroy()
    }
    await sleep(300)
    const blob = makeBlob(1000)
    t.equal((await request(url, `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data })).status, 201, 'slots are released when the connections end')

    const hugeHeader = await request(url, '/v2/', { headers: { 'x-big': 'a'.repeat(9000) }, fresh: true }).catch((err: Error) => err)
    t.equal(hugeHeader instanceof Error ? 'error' : hugeHeader.status, 431, 'headers over maxHeaderBytes: 431')
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, pad: 'x'.repeat(5000) }))
    const tooBig = await request(url, `/v2/${repo}/manifests/big`, { method: 'PUT', body: manifest, headers: { 'content-type': MediaTypes.ociManifest } })
    t.equal(tooBig.status, 413, 'manifest over manifestMaxBytes: 413')
    t.equal(errorBody(tooBig)?.errors[0]?.code, 'SIZE_INVALID')
    figures.limitRefusals += 2
  })

  await t.test('upload TTL: idle sessions and their files go', async (t) => {
    const start = await request(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
    const id = start.header('docker-upload-uuid')!
    t.equal((await request(url, start.header('location')!, { method: 'PATCH', body: Buffer.alloc(100) })).status, 202)
    let gone = false
    for (let i = 0; i < 40 && !gone; i++) {
      await sleep(250)
      gone = (await request(url, start.header('location')!)).status === 404
    }
    t.ok(gone, 'the idle session expired after ttlSeconds')
    t.notOk(await stat(path.join(storage, 'uploads', id)).then(() => true, () => false), 'its file is removed')
    t.same(await readdir(path.join(storage, 'uploads')), [], 'every abandoned session of this test is gone (no session leak)')
  })

  await t.test('nothing leaked', async (t) => {
    await sleep(500)
    const fds = await openFdCount(pid)
    t.ok(fds <= fdBaseline + 3, `file descriptors back to baseline: ${fdBaseline} -> ${fds}`)
    const mem = await memoryOf(pid)
    t.ok(mem.rss < memBaseline.rss + 100 * 1024 * 1024, `RSS ${Math.round(memBaseline.rss / 1e6)} MB -> ${Math.round(mem.rss / 1e6)} MB`)
    t.equal((await request(url, '/v2/')).status, 200, 'still serving')
    t.equal(server.child.exitCode, null, 'still running')
  })
})

t.test('graceful shutdown: SIGTERM lets an upload in flight finish, then closes SQLite cleanly', async (t) => {
  const storage = await tempDir('shutdown')
  const server: WharfProcess = await startWharf({ storage })
  t.teardown(() => server.stop({ removeStorage: true }))
  const repo = 'shutdown/repo'
  const blob = makeBlob(3 << 20)
  // Writes so that the WAL has something to checkpoint.
  for (let i = 0; i < 20; i++) {
    const b = makeBlob(1000)
    await request(server.url, `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.data })
  }
  const paced = Readable.from((async function* () {
    for (let offset = 0; offset < blob.size; offset += 256 * 1024) {
      yield blob.data.subarray(offset, offset + 256 * 1024)
      await sleep(100)
    }
  })())
  const upload = request(server.url, `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: paced, headers: { 'content-length': blob.size }, fresh: true })
  await sleep(300)
  const exited = once(server.child, 'exit')
  server.child.kill('SIGTERM')
  await sleep(300)
  const late = await request(server.url, '/v2/', { fresh: true }).then((r) => r.status, (err: { code?: string }) => err.code)
  t.ok(late === 'ECONNREFUSED' || late === 503, `no new connections after SIGTERM (${late})`)
  const res = await upload
  t.equal(res.status, 201, 'the upload in flight completes with 201')
  const [code] = await Promise.race([exited, sleep(15_000).then(() => ['timeout'])]) as [number | string]
  t.equal(code, 0, 'exit code 0 within the deadline')
  const wal = await stat(path.join(storage, 'metadata.db-wal')).then((s) => s.size, () => 0)
  t.equal(wal, 0, 'WAL checkpointed (no -wal file left)')
  t.notOk(await stat(path.join(storage, 'wharf.pid')).then(() => true, () => false), 'pid file removed')
  const fsck = await fsckCli(storage)
  t.equal(fsck.code, 0, 'fsck ok after the shutdown')
  const again = await startWharf({ storage })
  t.equal((await request(again.url, `/v2/${repo}/blobs/${blob.digest}`, { hashBody: 'sha256' })).bodyDigest, blob.digest, 'the upload acknowledged during shutdown is there')
  await again.stop()
})

t.teardown(() => { printFigures('clients', figures) })
