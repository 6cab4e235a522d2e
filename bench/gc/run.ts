/**
 * Garbage-collection benchmark (not a test). Fills a fresh store through the HTTP API, makes about
 * half of the manifests unreachable (DELETE by digest), then measures the collection time, the
 * server's peak RSS during it (VmHWM, reset just before through /proc/PID/clear_refs) and the p99
 * latency of a small-image push loop running during the collection versus without one.
 *
 *   npm run build && node dist/bench/gc/run.js [--blobs 100000] [--manifests 10000] [--concurrency 48]
 *     [--grace 20] [--pushers 4] [--baseline-seconds 15] [--no-append]
 */
import { appendFile, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expectStatus, memoryOf, RegistryClient, startWharf, tempDir, writeConfig } from '../../test/support/index.js'

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}

const BLOBS = option('blobs', 100_000)
const MANIFESTS = option('manifests', 10_000)
const CONCURRENCY = option('concurrency', 48)
const GRACE = option('grace', 20)
const PUSHERS = option('pushers', 4)
const BASELINE_SECONDS = option('baseline-seconds', 15)
const APPEND = !process.argv.includes('--no-append')
const REPOS = 100

let client: RegistryClient

/** Pushes an image of 1 config + (n - 1) layers; returns the manifest digest. */
async function pushImage(repo: string, tag: string, blobCount: number, layerSize: number): Promise<string> {
  return (await client.pushImage(repo, { tag, layers: blobCount - 1, layerSize })).manifest.digest
}

async function pool<T>(count: number, concurrency: number, work: (i: number) => Promise<T>, progress?: (done: number) => void): Promise<T[]> {
  const out = new Array<T>(count)
  let next = 0
  let done = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    for (let i = next++; i < count; i = next++) {
      out[i] = await work(i)
      if (++done % 500 === 0) progress?.(done)
    }
  }))
  return out
}

async function vm(pid: number): Promise<{ rssMiB: number; hwmMiB: number }> {
  const { rss, hwm } = await memoryOf(pid)
  return { rssMiB: rss / 1024 / 1024, hwmMiB: hwm / 1024 / 1024 }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

interface GcResult { durationMs: number; manifestsRemoved: unknown[]; blobsRemoved: unknown[]; linksRemoved: number; bytesFreed: number; repositoriesRemoved: unknown[] }

interface LoopResult { images: number; failures: number; failureCodes: Record<string, number>; p50: number; p99: number; max: number }

/** PUSHERS concurrent loops pushing a 2-blob image (1 KiB layer) until stop() resolves. */
async function pushLoop(label: string, until: Promise<unknown>): Promise<LoopResult> {
  let stopped = false
  until.then(() => { stopped = true }, () => { stopped = true })
  const latencies: number[] = []
  const failureCodes: Record<string, number> = {}
  let n = 0
  await Promise.all(Array.from({ length: PUSHERS }, async (_, w) => {
    while (!stopped) {
      const start = performance.now()
      try {
        await pushImage(`loop/${label}${w}`, `i${n++}`, 2, 1024)
        latencies.push(performance.now() - start)
      } catch (err) {
        const key = (err as Error).message.replace(/sha256:\w+/g, '').slice(0, 60)
        failureCodes[key] = (failureCodes[key] ?? 0) + 1
      }
    }
  }))
  latencies.sort((a, b) => a - b)
  return {
    images: latencies.length, failures: Object.values(failureCodes).reduce((a, b) => a + b, 0), failureCodes,
    p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? NaN,
  }
}

async function main(): Promise<void> {
  const blobsPerManifest = Math.max(2, Math.round(BLOBS / MANIFESTS))
  const configFile = await writeConfig(await tempDir('gc-bench'), { gc: { intervalSeconds: 0, graceSeconds: GRACE } })
  const wharf = await startWharf({ extraArgs: ['--config', configFile], timeoutMs: 60_000 })
  client = new RegistryClient(wharf.url)
  const pid = wharf.pid
  console.log(`wharf pid ${pid}, storage ${wharf.storage}`)
  try {
    // 1. Fill.
    const fillStart = performance.now()
    const digests = await pool(MANIFESTS, CONCURRENCY, (i) => pushImage(`bench/r${i % REPOS}`, `m${i}`, blobsPerManifest, 200),
      (done) => process.stdout.write(`\r  filled ${done}/${MANIFESTS} manifests (${((performance.now() - fillStart) / 1000).toFixed(0)} s)`))
    const fillSeconds = (performance.now() - fillStart) / 1000
    const totalBlobs = MANIFESTS * blobsPerManifest
    console.log(`\nfill: ${MANIFESTS} manifests, ${totalBlobs} blobs in ${fillSeconds.toFixed(1)} s (${(totalBlobs / fillSeconds).toFixed(0)} blobs/s)`)
    const afterFill = await vm(pid)
    const dbBytes = (await stat(path.join(wharf.storage, 'metadata.db'))).size + await stat(path.join(wharf.storage, 'metadata.db-wal')).then((s) => s.size, () => 0)

    // 2. Half unreachable: delete every other manifest by digest.
    const deleteStart = performance.now()
    await pool(MANIFESTS, CONCURRENCY, async (i) => {
      if (i % 2 === 0) expectStatus('delete', await client.deleteManifest(`bench/r${i % REPOS}`, digests[i]!), 202)
    })
    const deleteSeconds = (performance.now() - deleteStart) / 1000
    // Links of the deleted images must be older than the grace period to be collectable.
    const waitMs = GRACE * 1000 + 1500 - deleteSeconds * 1000
    if (waitMs > 0) { console.log(`waiting ${(waitMs / 1000).toFixed(0)} s for the grace period`); await new Promise((r) => setTimeout(r, waitMs)) }

    // 3. Push latency without a collection.
    let stopBaseline!: () => void
    const baselineStop = new Promise<void>((r) => { stopBaseline = r })
    setTimeout(() => stopBaseline(), BASELINE_SECONDS * 1000)
    const baseline = await pushLoop('base', baselineStop)

    // 4. The collection, with the same push loop running.
    await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => console.log('(cannot reset VmHWM; peak covers the whole run)'))
    const beforeGc = await vm(pid)
    const gcStart = performance.now()
    // The POST may outlive the server's idle connection timeout (http.idleTimeoutSeconds): then the
    // report is lost, and the end of the collection is found by polling GET /_wharf/v1/gc.
    const gcPromise = (async () => {
      try {
        return expectStatus('gc', await client.gcRaw(), 200).json<GcResult>()
      } catch (err) {
        console.log(`POST /_wharf/v1/gc failed after ${((performance.now() - gcStart) / 1000).toFixed(0)} s: ${(err as Error).message}; polling`)
        for (;;) {
          await new Promise((r) => setTimeout(r, 1000))
          const state = (await client.get('/_wharf/v1/gc')).json<{ running: boolean }>()
          if (!state.running) return undefined
        }
      }
    })()
    const during = await pushLoop('gc', gcPromise)
    const gcWall = (performance.now() - gcStart) / 1000
    const report: GcResult = await gcPromise ?? { durationMs: NaN, manifestsRemoved: [], blobsRemoved: [], linksRemoved: NaN, bytesFreed: NaN, repositoriesRemoved: [] }
    const peak = await vm(pid)

    // 5. A second collection with nothing to remove (mark and scan cost alone), and du.
    const idle = expectStatus('gc 2', await client.gcRaw(), 200).json<{ durationMs: number; blobsRemoved: unknown[]; phases?: unknown }>()
    console.log(`phases: collection ${JSON.stringify((report as { phases?: unknown }).phases)}, nothing to free ${JSON.stringify(idle.phases)}`)
    const duStart = performance.now()
    expectStatus('du', await client.get('/_wharf/v1/du'), 200)
    const duSeconds = (performance.now() - duStart) / 1000

    const rows: Array<[string, string]> = [
      ['store', `${MANIFESTS} manifests, ${totalBlobs} blobs (${blobsPerManifest} per manifest, ${REPOS} repositories), metadata.db ${(dbBytes / 2 ** 20).toFixed(1)} MiB`],
      ['fill through HTTP', `${fillSeconds.toFixed(1)} s (${(totalBlobs / fillSeconds).toFixed(0)} blobs/s, ${CONCURRENCY} concurrent image pushes)`],
      ['made unreachable', `${MANIFESTS / 2} manifests deleted by digest in ${deleteSeconds.toFixed(1)} s`],
      ['collection time', `${(report.durationMs / 1000).toFixed(2)} s (wall ${gcWall.toFixed(2)} s): ${report.manifestsRemoved.length} manifests, ${report.linksRemoved} links, ${report.blobsRemoved.length} blobs, ${(report.bytesFreed / 2 ** 20).toFixed(1)} MiB freed`],
      ['collection with nothing to free', `${(idle.durationMs / 1000).toFixed(2)} s (${idle.blobsRemoved.length} blobs)`],
      ['GET /_wharf/v1/du (includes a dry-run collection)', `${duSeconds.toFixed(2)} s`],
      ['server RSS', `after fill ${afterFill.rssMiB.toFixed(0)} MiB (peak so far ${afterFill.hwmMiB.toFixed(0)} MiB); before GC ${beforeGc.rssMiB.toFixed(0)} MiB; peak during GC (VmHWM) ${peak.hwmMiB.toFixed(0)} MiB`],
      ['push p50 / p99 / max, no GC', `${baseline.p50.toFixed(1)} / ${baseline.p99.toFixed(1)} / ${baseline.max.toFixed(1)} ms (${baseline.images} images, ${baseline.failures} failed)`],
      ['push p50 / p99 / max, during GC', `${during.p50.toFixed(1)} / ${during.p99.toFixed(1)} / ${during.max.toFixed(1)} ms (${during.images} images, ${during.failures} failed${during.failures > 0 ? ` ${JSON.stringify(during.failureCodes)}` : ''})`],
    ]
    const width = Math.max(...rows.map(([k]) => k.length))
    console.log(`\nGarbage collection benchmark\n${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}`)

    if (APPEND) {
      const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../BENCHMARKS.md')
      const exists = await stat(file).then(() => true, () => false)
      const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`
      const md = [
        exists ? '' : '# Benchmarks\n',
        '## Garbage collection',
        '',
        `Run ${new Date().toISOString()} on ${machine}; \`node dist/bench/gc/run.js --blobs ${BLOBS} --manifests ${MANIFESTS}\` (grace ${GRACE} s, ${PUSHERS} concurrent pushers of a 2-blob image).`,
        '',
        '| measure | result |',
        '| --- | --- |',
        ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`),
        '',
      ].join('\n')
      await appendFile(file, `\n${md}\n`)
      console.log(`appended to ${file}`)
    }
  } finally {
    await wharf.stop({ removeStorage: true })
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
