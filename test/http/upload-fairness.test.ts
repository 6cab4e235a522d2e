/**
 * Slow uploads must not starve everyone (issue 9): clients trickling bytes from several addresses
 * hold upload slots; a slot costs them their bandwidth (cut off below the minimum rate after the
 * grace window) and part of the capacity stays for clients not already holding many.
 */
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { makeBlob, serverErrors, startTestServer, uniqueRepo } from '../support/index.js'

const GRACE_SECONDS = 3
const { wharf, client } = await startTestServer(t, {
  env: {
    WHARF_LIMITS_UPLOADSPERCLIENT: '4',
    WHARF_LIMITS_UPLOADSTOTAL: '8',
    WHARF_LIMITS_UPLOADMINBYTESPERSECOND: '1024',
    WHARF_LIMITS_UPLOADMINRATEGRACESECONDS: String(GRACE_SECONDS),
  },
})
const url = new URL(wharf.url)

interface Trickle {
  readonly location: string
  /** The status the server answered with, or 'closed'; and when, in ms from the start. */
  readonly ended: Promise<{ outcome: number | 'closed'; ms: number; body: string }>
  stop(): void
}

/** A PATCH announcing 1 MB that sends one byte every 300 ms from `localAddress`. */
function trickle(location: string, localAddress: string): Trickle {
  const started = performance.now()
  const req = http.request({ host: url.hostname, port: url.port, method: 'PATCH', path: location, localAddress, agent: false,
    headers: { 'content-type': 'application/octet-stream', 'content-length': 1_000_000 } })
  let timer: NodeJS.Timeout | undefined
  const ended = new Promise<{ outcome: number | 'closed'; ms: number; body: string }>((resolve) => {
    req.on('response', (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ outcome: res.statusCode ?? 0, ms: performance.now() - started, body }))
      res.on('error', () => resolve({ outcome: res.statusCode ?? 0, ms: performance.now() - started, body }))
    })
    req.on('error', () => resolve({ outcome: 'closed', ms: performance.now() - started, body: '' }))
  })
  void ended.then(() => clearInterval(timer))
  req.flushHeaders()
  timer = setInterval(() => { if (!req.destroyed) req.write(Buffer.from('x')) }, 300)
  return { location, ended, stop: () => { clearInterval(timer); req.destroy() } }
}

t.test('tricklers from several addresses: a normal client still uploads, and they are cut off after the grace', async (t) => {
  const repo = uniqueRepo('fair')
  const addresses = ['127.0.0.2', '127.0.0.3', '127.0.0.4']
  const sessions = await Promise.all(addresses.flatMap(() => [0, 1, 2, 3].map(() => client.startUpload(repo))))
  const trickles = sessions.map((s, i) => trickle(s.location, addresses[i % addresses.length]!))
  t.teardown(() => { for (const tr of trickles) tr.stop() })
  await sleep(500)

  // While they trickle: a client from another address pushes a blob, monolithic and chunked.
  const blob = makeBlob(1 << 20)
  const started = performance.now()
  const post = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: 'POST', path: `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`,
      localAddress: '127.0.0.5', agent: false, headers: { 'content-length': blob.size } }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end(blob.data)
  })
  t.equal(post.status, 201, `a client from another address gets its upload through while they trickle (${post.body})`)
  t.ok(performance.now() - started < GRACE_SECONDS * 1000, 'and before the tricklers were cut off')
  t.equal((await client.head(`/v2/${repo}/blobs/${blob.digest}`)).status, 200)

  const outcomes = await Promise.all(trickles.map((tr) => tr.ended))
  const refused = outcomes.filter((o) => o.outcome === 429)
  const cut = outcomes.filter((o) => o.outcome !== 429)
  t.ok(cut.length >= 6, `the tricklers held slots (${cut.length} admitted, ${refused.length} refused with 429)`)
  for (const o of refused) t.ok(o.ms < 1000, 'a refusal is immediate')
  for (const o of cut) {
    t.equal(o.outcome, 408, 'a trickler is cut off with 408')
    t.equal((JSON.parse(o.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'BLOB_UPLOAD_INVALID', 'in the spec\'s JSON')
    t.ok(o.ms >= GRACE_SECONDS * 1000 - 100 && o.ms < GRACE_SECONDS * 1000 + 3000, `after the grace, not before (${Math.round(o.ms)} ms)`)
  }

  // A dropped upload stays resumable from what was written.
  const admitted = trickles.filter((_tr, i) => outcomes[i]!.outcome !== 429)
  const resumed = makeBlob(5000)
  const location = admitted[0]!.location
  const status = await client.get(location)
  t.equal(status.status, 204, 'the session of a cut-off upload is still there')
  const end = Number(status.header('range')!.split('-')[1])
  const size = end === 0 ? 0 : end + 1
  t.ok(size < 100, `it holds what was written of the trickle (${size} bytes)`)
  const data = Buffer.concat([Buffer.alloc(size, 'x'), resumed.data])
  const whole = makeBlob(data)
  t.equal((await client.patch(location, data.subarray(size), { contentRange: `${size}-${data.length - 1}` })).status, 202, 'resumed from its Range')
  t.equal((await client.putUpload(location, whole.digest)).status, 201, 'and completed')
})

t.test('no request ended in a server error', async (t) => {
  t.same(serverErrors(wharf), [])
})
