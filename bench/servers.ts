import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { request, startReferenceRegistry, startWharf, WHARF_CLI } from '../test/support/index.js'

/** The Wharf CLI the benchmark runs: test/support's WHARF_CLI unless WHARF_BENCH_CLI names another (e.g. a snapshot of dist/ that a rebuild cannot change mid-run). */
const BENCH_CLI = process.env.WHARF_BENCH_CLI ?? WHARF_CLI
export const REFERENCE_BIN = process.env.WHARF_BENCH_REFERENCE ?? '/usr/bin/docker-registry'

export type ServerKind = 'reference' | 'wharf'

export interface BenchServer {
  readonly kind: ServerKind
  readonly url: string
  readonly pid: number
  readonly storage: string
  readonly logFile: string
  /** utime+stime of the server process (all threads), seconds. */
  cpuSeconds(): number
  /** VmHWM (peak resident set) in bytes. */
  peakRssBytes(): number
  /** Current VmRSS in bytes. */
  rssBytes(): number
  alive(): boolean
  stop(): Promise<void>
}

const CLOCK_TICKS = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { return 100 }
})()

export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based)
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

export function processStatusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  return match ? Number(match[1]) : Number.NaN
}

async function probeV2(url: string): Promise<true | undefined> {
  return (await request(url, '/v2/', { timeoutMs: 1000, fresh: true })).status === 200 ? true : undefined
}

/** The reference registry: filesystem storage in a temp dir, delete enabled, access log off. */
export async function startReferenceServer(options: { keepStorage?: boolean } = {}): Promise<BenchServer> {
  const reference = await startReferenceRegistry({ binary: REFERENCE_BIN, ...(options.keepStorage !== undefined ? { keepStorage: options.keepStorage } : {}) })
  const pid = reference.pid
  return {
    kind: 'reference', url: reference.url, pid, storage: reference.storage, logFile: reference.logFile,
    cpuSeconds: () => processCpuSeconds(pid),
    peakRssBytes: () => processStatusKb(pid, 'VmHWM') * 1024,
    rssBytes: () => processStatusKb(pid, 'VmRSS') * 1024,
    alive: () => reference.alive(),
    stop: () => reference.stop(),
  }
}

export function wharfAvailable(): boolean {
  return existsSync(BENCH_CLI)
}

/**
 * Wharf: `wharf serve` on a free loopback port with fresh temp storage. Its output goes straight to a
 * file (not through this process), so request logging cannot cost the load generator anything.
 */
export async function startWharfServer(options: { keepStorage?: boolean; extraArgs?: readonly string[]; nodeArgs?: readonly string[] } = {}): Promise<BenchServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-bench-wharf-'))
  const storage = path.join(dir, 'storage')
  const logFile = path.join(dir, 'server.log')
  const extra = options.extraArgs ?? (process.env.WHARF_BENCH_ARGS ? process.env.WHARF_BENCH_ARGS.split(' ').filter(Boolean) : [])
  const wharf = await startWharf({ storage, logFile, cwd: dir, cli: BENCH_CLI, extraArgs: extra, nodeArgs: options.nodeArgs ?? [], timeoutMs: 30_000 })
  const deadline = Date.now() + 10_000
  while (await probeV2(wharf.url).catch(() => undefined) === undefined) {
    if (Date.now() > deadline || wharf.child.exitCode !== null) { await wharf.stop(); throw new Error(`wharf /v2/ did not answer 200 within 10 s`) }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const pid = wharf.pid
  return {
    kind: 'wharf', url: wharf.url, pid, storage, logFile,
    cpuSeconds: () => processCpuSeconds(pid),
    peakRssBytes: () => processStatusKb(pid, 'VmHWM') * 1024,
    rssBytes: () => processStatusKb(pid, 'VmRSS') * 1024,
    alive: () => wharf.child.exitCode === null && wharf.child.signalCode === null,
    async stop() {
      await wharf.stop()
      if (!options.keepStorage) await rm(dir, { recursive: true, force: true })
    },
  }
}
