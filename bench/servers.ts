import { execFileSync, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { referenceEnv, request, startReferenceRegistry, startWharf, WHARF_CLI, type ReferenceStorage } from '../test/support/index.js'

/** The Wharf CLI the benchmark runs: test/support's WHARF_CLI unless WHARF_BENCH_CLI names another (e.g. a snapshot of dist/ that a rebuild cannot change mid-run). */
const BENCH_CLI = process.env.WHARF_BENCH_CLI ?? WHARF_CLI
export const REFERENCE_BIN = process.env.WHARF_BENCH_REFERENCE ?? '/usr/bin/docker-registry'

export type ServerKind = 'reference' | 'wharf'

/** A restart in progress: `spawnedAt` is performance.now() just before the new process was spawned. */
export interface Restart {
  readonly spawnedAt: number
  /** Resolves once the new process is set up (its pid known to this object); rejects if it could not start. */
  readonly started: Promise<void>
}

export interface BenchServer {
  readonly kind: ServerKind
  /** Stays the same across restarts (same port). */
  readonly url: string
  /** The current process. */
  readonly pid: number
  readonly storage: string
  readonly logFile: string
  /** utime+stime of the server, all threads, seconds; summed over the processes a restart replaced. */
  cpuSeconds(): number
  /** VmHWM (peak resident set) in bytes: the largest of this process and the ones a restart replaced. */
  peakRssBytes(): number
  /** Current VmRSS in bytes. */
  rssBytes(): number
  alive(): boolean
  /**
   * Stops the server process (storage kept) and spawns a new one on the same storage and port. Returns
   * right after the spawn, so that the caller can time the new process's first answers.
   */
  restart(): Promise<Restart>
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

/** One server process. */
interface Proc {
  readonly pid: number
  readonly logFile: string
  alive(): boolean
  /** Ends the process; the storage stays. */
  stop(): Promise<void>
}

/**
 * A BenchServer over a sequence of processes on one storage directory: `launch(n)` spawns the n-th
 * (n >= 1) synchronously and resolves once it is set up; `cleanup` runs after the last one stopped.
 */
function benchServer(kind: ServerKind, url: string, storage: string, first: Proc,
  launch: (n: number) => Promise<Proc>, cleanup: () => Promise<void>): BenchServer {
  let current: Proc | undefined = first
  let launches = 0
  // what the processes a restart replaced used
  let cpuBefore = 0
  let peakBefore = 0
  const tryRead = <T>(read: () => T, fallback: T): T => { try { return read() } catch { return fallback } }
  return {
    kind, url, storage,
    get pid() { return current?.pid ?? Number.NaN },
    get logFile() { return (current ?? first).logFile },
    cpuSeconds: () => cpuBefore + (current ? processCpuSeconds(current.pid) : 0),
    peakRssBytes: () => Math.max(peakBefore, current ? processStatusKb(current.pid, 'VmHWM') * 1024 : 0),
    rssBytes: () => current ? processStatusKb(current.pid, 'VmRSS') * 1024 : Number.NaN,
    alive: () => current?.alive() ?? false,
    async restart() {
      const old = current
      if (old !== undefined) {
        // read before the signal: the old process's shutdown is not counted
        cpuBefore += tryRead(() => processCpuSeconds(old.pid), 0)
        peakBefore = Math.max(peakBefore, tryRead(() => processStatusKb(old.pid, 'VmHWM') * 1024, 0))
        current = undefined
        await old.stop()
      }
      const spawnedAt = performance.now()
      const started = launch(++launches).then((proc) => { current = proc })
      started.catch(() => { /* the caller sees it through `started` */ })
      return { spawnedAt, started }
    },
    async stop() {
      const proc = current
      current = undefined
      if (proc !== undefined) await proc.stop()
      await cleanup()
    },
  }
}

/** The reference registry's process from test/support's config file (same storage, same port), in its own process group. */
function spawnReference(config: string, logFile: string): Proc {
  const fd = openSync(logFile, 'a')
  const child = spawn(REFERENCE_BIN, ['serve', config], { detached: true, stdio: ['ignore', fd, fd], env: referenceEnv() })
  closeSync(fd)
  child.once('error', () => { /* exits; the caller's poll times out */ })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const alive = (): boolean => child.exitCode === null && child.signalCode === null && child.pid !== undefined
  const signal = (name: NodeJS.Signals): void => { try { process.kill(-child.pid!, name) } catch { /* gone */ } }
  return {
    pid: child.pid ?? Number.NaN, logFile, alive,
    async stop() {
      if (alive()) {
        signal('SIGTERM')
        const timer = setTimeout(() => signal('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
    },
  }
}

/** The reference registry: filesystem storage in a temp dir (or `storage`), delete enabled, access log off. */
export async function startReferenceServer(options: { keepStorage?: boolean; storage?: ReferenceStorage } = {}): Promise<BenchServer> {
  // storage kept by test/support: a restart reuses it, and this object removes it at the end
  const reference = await startReferenceRegistry({ binary: REFERENCE_BIN, keepStorage: true, ...(options.storage ? { storage: options.storage } : {}) })
  const dir = path.dirname(reference.storage)
  const first: Proc = { pid: reference.pid, logFile: reference.logFile, alive: () => reference.alive(), stop: () => reference.stop() }
  return benchServer('reference', reference.url, reference.storage, first,
    async (n) => spawnReference(path.join(dir, 'config.yml'), path.join(dir, `server-${n}.log`)),
    async () => { if (!options.keepStorage) await rm(dir, { recursive: true, force: true, maxRetries: 3 }) })
}

export function wharfAvailable(): boolean {
  return existsSync(BENCH_CLI)
}

/**
 * Wharf: `wharf serve` on a free loopback port with fresh temp storage (and `configFile`'s options,
 * e.g. blobs in S3). Its output goes straight to a file (not through this process), so request
 * logging cannot cost the load generator anything.
 */
export async function startWharfServer(options: { keepStorage?: boolean; extraArgs?: readonly string[]; nodeArgs?: readonly string[]; configFile?: string } = {}): Promise<BenchServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-bench-wharf-'))
  const storage = path.join(dir, 'storage')
  const extra = [...options.configFile ? ['--config', options.configFile] : [],
    ...options.extraArgs ?? (process.env.WHARF_BENCH_ARGS ? process.env.WHARF_BENCH_ARGS.split(' ').filter(Boolean) : [])]
  // startWharf spawns before its first await (storage given); a log file per process, as it looks for "wharf listening" in it
  const launch = async (n: number, port: number): Promise<Proc & { url: string }> => {
    const logFile = path.join(dir, n === 0 ? 'server.log' : `server-${n}.log`)
    const wharf = await startWharf({ storage, logFile, cwd: dir, cli: BENCH_CLI, extraArgs: extra, nodeArgs: options.nodeArgs ?? [], timeoutMs: 30_000, port })
    return {
      url: wharf.url, pid: wharf.pid, logFile,
      alive: () => wharf.child.exitCode === null && wharf.child.signalCode === null,
      stop: () => wharf.stop(),
    }
  }
  const cleanup = async (): Promise<void> => { if (!options.keepStorage) await rm(dir, { recursive: true, force: true }) }
  const first = await launch(0, 0)
  const deadline = Date.now() + 10_000
  while (await probeV2(first.url).catch(() => undefined) === undefined) {
    if (Date.now() > deadline || !first.alive()) { await first.stop(); await cleanup(); throw new Error(`wharf /v2/ did not answer 200 within 10 s`) }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const port = Number(new URL(first.url).port)
  return benchServer('wharf', first.url, storage, first, (n) => launch(n, port), cleanup)
}
