/**
 * What metrics cost on manifest GET: two servers, metrics on and off, the same image, loaded at the
 * same time with keep-alive GETs by tag (so that whatever else the machine does weighs on both
 * alike); each round reports requests per second and each server's CPU per request.
 *
 *   node dist/bench/metrics-cost.js [--rounds N] [--seconds S] [--connections C] [--push] [--aa] [--events | --events-all]
 *
 * --push: small pushes instead (a unique 1 KiB blob in one POST each: body counted, a metadata write).
 * --aa: metrics off on both, to see the difference the setup itself makes (the first server's rate).
 * --events: the first server also has a webhook endpoint (default actions: push, delete, mount) whose
 *   receiver, in this process, answers 204 at once: every push is queued durably and delivered.
 * --events-all: the same with pull events too (every GET queued and delivered: the worst case).
 */
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { FastClient } from './fast-client.js'
import { startWharfServer, type BenchServer } from './servers.js'
import { MANIFEST_ACCEPT } from './load-client.js'
import { RegistryClient, writeConfig } from '../test/support/index.js'

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}

/** One operation: a manifest GET by tag, or (--push) a unique 1 KiB blob pushed in one POST. */
async function operation(client: FastClient, push: boolean): Promise<void> {
  if (push) {
    const body = randomBytes(1024)
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`
    const res = await client.request({ method: 'POST', path: `/v2/bench/push/blobs/uploads/?digest=${digest}`, headers: { 'content-type': 'application/octet-stream' }, body })
    if (res.status !== 201) throw new Error(`push: ${res.status}`)
    return
  }
  const res = await client.request({ method: 'GET', path: '/v2/bench/app/manifests/v1', headers: { accept: MANIFEST_ACCEPT } })
  if (res.status !== 200) throw new Error(`GET manifest: ${res.status}`)
}

async function round(server: BenchServer, seconds: number, connections: number, push: boolean): Promise<{ rate: number; cpuMicros: number }> {
  const client = new FastClient(server.url, connections)
  const cpuBefore = server.cpuSeconds()
  const started = performance.now()
  const deadline = started + seconds * 1000
  let count = 0
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      await operation(client, push)
      count++
    }
  }))
  const elapsed = (performance.now() - started) / 1000
  const cpu = server.cpuSeconds() - cpuBefore
  client.close()
  return { rate: count / elapsed, cpuMicros: cpu / count * 1e6 }
}

async function main(): Promise<void> {
  const rounds = option('rounds', 3)
  const seconds = option('seconds', 5)
  const connections = option('connections', 8)
  const push = process.argv.includes('--push')
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-metrics-cost-'))
  const events = process.argv.includes('--events-all') ? ['push', 'delete', 'mount', 'pull'] : process.argv.includes('--events') ? ['push', 'delete', 'mount'] : undefined
  let delivered = 0
  const receiver = http.createServer((request, response) => {
    request.resume()
    request.on('end', () => { delivered++; response.writeHead(204).end() })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  const receiverPort = (receiver.address() as { port: number }).port
  const notifications = events === undefined ? {} : { notifications: { endpoints: [{ name: 'bench', url: `http://127.0.0.1:${receiverPort}/events`, actions: events }] } }
  const servers: Record<'on' | 'off', BenchServer> = {
    on: await startWharfServer({ extraArgs: ['--config', await writeConfig(dir, { log: { level: 'info' }, metrics: { enabled: !process.argv.includes('--aa') }, ...notifications })] }),
    off: await startWharfServer({ extraArgs: ['--config', await writeConfig(dir, { log: { level: 'info' }, metrics: { enabled: false } })] }),
  }
  try {
    for (const server of Object.values(servers)) await new RegistryClient(server.url).pushImage('bench/app', { tag: 'v1' })
    const results: Record<'on' | 'off', Array<{ rate: number; cpuMicros: number }>> = { on: [], off: [] }
    // A warm-up round, not counted: the JIT, the page cache and SQLite's first pages.
    await Promise.all([round(servers.on, seconds, connections, push), round(servers.off, seconds, connections, push)])
    for (let r = 0; r < rounds; r++) {
      // Both at once: whatever else the machine does in that window weighs on both alike.
      const [on, off] = await Promise.all([
        round(servers.on, seconds, connections, push),
        round(servers.off, seconds, connections, push),
      ])
      results.on.push(on)
      results.off.push(off)
      process.stdout.write(`round ${r + 1}: metrics on ${on.rate.toFixed(0)} req/s, ${on.cpuMicros.toFixed(1)} µs CPU per request; ` +
        `off ${off.rate.toFixed(0)} req/s, ${off.cpuMicros.toFixed(1)} µs\n`)
    }
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
    const summary = (kind: 'on' | 'off') => ({ rate: median(results[kind].map((x) => x.rate)), cpu: median(results[kind].map((x) => x.cpuMicros)) })
    const on = summary('on')
    const off = summary('off')
    // Each round loads both at once, so the round's ratio is the fair comparison; its median says the cost.
    const paired = (read: (x: { rate: number; cpuMicros: number }) => number): number =>
      (median(results.on.map((x, i) => read(x) / read(results.off[i]!))) - 1) * 100
    process.stdout.write(`median: on ${on.rate.toFixed(0)} req/s ${on.cpu.toFixed(1)} µs; off ${off.rate.toFixed(0)} req/s ${off.cpu.toFixed(1)} µs; ` +
      `median of the rounds' ratios: rate ${paired((x) => x.rate).toFixed(1)}%, CPU per request ${paired((x) => x.cpuMicros).toFixed(1)}%\n`)
    if (events !== undefined) process.stdout.write(`webhook deliveries received (batches of events): ${delivered}\n`)
  } finally {
    receiver.close()
    await servers.on.stop()
    await servers.off.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
