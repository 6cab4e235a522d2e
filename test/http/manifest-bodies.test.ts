/**
 * Manifest bodies are held whole while they are read, parsed and stored: the bytes held at once
 * are bounded (48 concurrent 4 MiB PUTs once grew the process by 600 MiB to 1 GiB), and a body
 * over the limit is answered 413 in a way Node's own client can read (it once saw EPIPE instead).
 */
import http from 'node:http'
import t from 'tap'
import { descriptor, makeBlob, MediaTypes, memoryOf, ociManifest, request, serverErrors, startTestServer, uniqueRepo, type Manifest } from '../support/index.js'

const MiB = 1024 * 1024
/**
 * Peak RSS growth allowed while 48 manifests of 4 MiB (192 MiB) are pushed at once. With the default
 * budget (8 MiB: two such manifests at a time) it measures about 130 MiB; unbounded, 400 MiB to 1 GiB.
 */
const MAX_GROWTH = 256 * MiB

const { wharf, client } = await startTestServer(t)
const pid = wharf.child.pid!

/** A valid OCI manifest of about `size` bytes (a large annotation), distinct per `n`. */
function bigManifest(config: ReturnType<typeof makeBlob>, layer: ReturnType<typeof makeBlob>, n: number, size: number): Manifest {
  const base = ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: [descriptor(layer, MediaTypes.ociLayer)], annotations: { n: String(n), pad: '' } })
  return ociManifest({
    config: descriptor(config, MediaTypes.ociConfig), layers: [descriptor(layer, MediaTypes.ociLayer)],
    annotations: { n: String(n), pad: String(n % 10).repeat(size - base.size) },
  })
}

t.test('48 concurrent PUTs of 4 MiB manifests all succeed and peak RSS stays bounded', async (t) => {
  const repo = uniqueRepo('bigman')
  const config = await client.pushBlob(repo, makeBlob(200))
  const layer = await client.pushBlob(repo, makeBlob(1000))
  const size = 4 * MiB - 1024
  // Warm up (JIT, SQLite, the writer thread) with a few sequential pushes, then measure from there.
  for (let i = 0; i < 3; i++) t.equal((await client.putManifest(repo, `warm${i}`, bigManifest(config, layer, 1000 + i, size))).status, 201)
  const baseline = await memoryOf(pid)
  const manifests = Array.from({ length: 48 }, (_v, i) => bigManifest(config, layer, i, size))
  t.ok(manifests.every((m) => m.size === size), 'each manifest is 4 MiB - 1 KiB')
  const results = await Promise.all(manifests.map((m, i) => request(wharf.url, `/v2/${repo}/manifests/t${i}`, {
    method: 'PUT', body: m.body, fresh: true, headers: { 'content-type': m.mediaType },
  })))
  t.same(results.filter((r) => r.status !== 201).map((r) => r.status), [], 'every PUT got 201 (none refused, none failed)')
  const after = await memoryOf(pid)
  const growth = after.hwm - baseline.hwm
  t.comment(`baseline VmHWM ${(baseline.hwm / MiB).toFixed(1)} MiB, after ${(after.hwm / MiB).toFixed(1)} MiB`)
  t.ok(growth < MAX_GROWTH, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB (< ${MAX_GROWTH / MiB} MiB) for 48 × 4 MiB at once`)
  for (const i of [0, 47]) {
    const get = await client.get(`/v2/${repo}/manifests/t${i}`)
    t.ok(get.body.equals(manifests[i]!.body), `t${i} stored exactly`)
  }
})

/** A PUT with Node's http client, the whole body written at once; resolves with what the client saw. */
function nodeClientPut(path: string, body: Buffer): Promise<{ status?: number; body?: string; error?: string }> {
  const url = new URL(wharf.url)
  return new Promise((resolve) => {
    const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path, agent: false,
      headers: { 'content-type': MediaTypes.ociManifest, 'content-length': body.length } }, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }))
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }))
    req.end(body)
  })
}

t.test('a 6 MiB manifest: Node\'s http client reads the 413 and its JSON every time', async (t) => {
  const repo = uniqueRepo('bigman')
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, pad: 'x'.repeat(6 * MiB) }))
  for (let run = 0; run < 10; run++) {
    const seen = await nodeClientPut(`/v2/${repo}/manifests/big`, body)
    t.equal(seen.status, 413, `run ${run}: 413, not ${seen.error ?? 'another status'}`)
    const error = (JSON.parse(seen.body ?? '{}') as { errors?: Array<{ code: string }> }).errors?.[0]
    t.equal(error?.code, 'SIZE_INVALID', `run ${run}: the spec's JSON error`)
  }
  t.equal((await client.get(`/v2/${repo}/manifests/big`)).status, 404, 'nothing stored')
})

t.test('no request ended in a server error', async (t) => {
  t.same(serverErrors(wharf), [])
})
