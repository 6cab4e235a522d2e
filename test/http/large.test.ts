import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import type { Test } from 'tap'
import { makeBlob, memoryOf, serverErrors, SlowRandomStream, startTestServer, uniqueRepo, type HttpResponse } from '../support/index.js'

const MiB = 1024 * 1024
const SIZE = Number(process.env.WHARF_TEST_LARGE_MIB ?? 64) * MiB
const CHUNK = 64 * 1024
/** Peak RSS may grow by this much at most while the blobs stream through (they are 64 MiB each). */
const MAX_GROWTH = 48 * MiB

const { wharf, client } = await startTestServer(t)
const pid = wharf.child.pid!

/** The sha256 of what a SlowRandomStream of this seed and size produces, computed without the server. */
async function digestOfStream(size: number, seed: Buffer): Promise<string> {
  const hash = createHash('sha256')
  const stream = new SlowRandomStream(size, { chunkSize: CHUNK, delayEvery: 0, seed, hash })
  for await (const _ of stream) { /* hashed as produced */ }
  return `sha256:${hash.digest('hex')}`
}

// Warm up the streaming paths with 16 MiB blobs first (JIT, SQLite, V8's young generation growing
// to its working size): the baseline then holds the fixed overhead, and any growth measured after
// it is memory that scales with the blob.
const warmRepo = uniqueRepo('warm')
await client.pushImage(warmRepo, { tag: 'w' })
// Several rounds: Node 24's young generation keeps growing over the first few (about 20 MiB more
// than Node 20's after one round), and that fixed overhead belongs in the baseline.
for (let round = 0; round < 4; round++) {
  const warm = makeBlob(16 * MiB)
  await client.pushBlob(warmRepo, warm)
  await client.pushBlobChunked(uniqueRepo('warm'), warm, 4 * MiB)
  await client.request(`/v2/${warmRepo}/blobs/${warm.digest}`, { hashBody: 'sha256' })
}
const baseline = await memoryOf(pid)
t.comment(`baseline: VmRSS ${(baseline.rss / MiB).toFixed(1)} MiB, VmHWM ${(baseline.hwm / MiB).toFixed(1)} MiB`)

async function pullAndCheck(t: Test, repo: string, digest: string): Promise<void> {
  const res: HttpResponse = await client.request(`/v2/${repo}/blobs/${digest}`, { hashBody: 'sha256' })
  t.equal(res.status, 200)
  t.equal(res.header('content-length'), String(SIZE))
  t.equal(res.bodyLength, SIZE, 'every byte came back')
  t.equal(res.bodyDigest, digest, 'pulled bytes hash to the digest')
}

t.test('64 MiB pushed monolithically through a slow stream, then pulled back', async (t) => {
  const repo = uniqueRepo('large')
  const seed = randomBytes(CHUNK + 251)
  const digest = await digestOfStream(SIZE, seed)
  const body = new SlowRandomStream(SIZE, { chunkSize: CHUNK, delayEvery: 8, delayMs: 1, seed })
  const res = await client.request(`/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'content-length': SIZE },
  })
  t.equal(res.status, 201, 'monolithic POST')
  t.equal(res.header('docker-content-digest'), digest)
  await pullAndCheck(t, repo, digest)
})

t.test('64 MiB pushed in streamed chunks (PATCH without Content-Length), then pulled back', async (t) => {
  const repo = uniqueRepo('large')
  const hash = createHash('sha256')
  const { location } = await client.startUpload(repo)
  let loc = location
  const parts = 4
  for (let i = 0; i < parts; i++) {
    const part = new SlowRandomStream(SIZE / parts, { chunkSize: CHUNK, delayEvery: 8, delayMs: 1, hash })
    const res = await client.patch(loc, part)
    t.equal(res.status, 202, `PATCH ${i + 1}/${parts}`)
    t.equal(res.header('range'), `0-${((i + 1) * SIZE) / parts - 1}`)
    loc = res.header('location')!
  }
  const digest = `sha256:${hash.digest('hex')}`
  const put = await client.putUpload(loc, digest)
  t.equal(put.status, 201, 'PUT ?digest=')
  await pullAndCheck(t, repo, digest)
  const ranged = await client.request(`/v2/${repo}/blobs/${digest}`, { headers: { range: `bytes=${SIZE - 10 * MiB}-` }, hashBody: 'sha256' })
  t.equal(ranged.status, 206)
  t.equal(ranged.bodyLength, 10 * MiB, 'a large range streams too')
})

t.test('the server memory stays flat: peak RSS grows far less than the blob size', async (t) => {
  const after = await memoryOf(pid)
  const growth = after.hwm - baseline.hwm
  t.comment(`after: VmRSS ${(after.rss / MiB).toFixed(1)} MiB, VmHWM ${(after.hwm / MiB).toFixed(1)} MiB, peak growth ${(growth / MiB).toFixed(1)} MiB`)
  t.ok(growth < MAX_GROWTH, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB (< ${MAX_GROWTH / MiB} MiB) while moving 4 × ${SIZE / MiB} MiB`)
  // Against the start-up peak: Node 24 hands start-up memory back, so the baseline's current RSS can
  // sit tens of MiB below its peak, and growth from there is not growth of the server's footprint.
  t.ok(after.rss - Math.max(baseline.rss, baseline.hwm) < MAX_GROWTH, `current RSS ${(after.rss / MiB).toFixed(1)} MiB stays within ${MAX_GROWTH / MiB} MiB of the start-up peak`)
})

t.test('no request ended in a server error (nothing logged at level error)', async (t) => {
  t.same(serverErrors(wharf), [])
})
