import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The compiled Wharf CLI, beside dist/bench/. */
/** The compiled Wharf CLI, beside dist/bench/ (WHARF_BENCH_CLI overrides it, e.g. a snapshot of dist/ that a rebuild cannot change mid-run). */
export const WHARF_CLI = process.env.WHARF_BENCH_CLI ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/index.js')
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

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function delay(ms: number): Promise<void> { return new Promise((resolve) => setTimeout(resolve, ms)) }

async function waitFor<T>(what: string, timeoutMs: number, child: ChildProcess, logFile: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited early (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}`)
    }
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    await delay(50)
  }
  child.kill('SIGKILL')
  throw new Error(`${what} did not start within ${timeoutMs} ms:\n${tail(logFile)}`)
}

function tail(file: string): string {
  try { return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n') } catch { return '' }
}

function makeServer(kind: ServerKind, child: ChildProcess, url: string, storage: string, logFile: string, keepStorage: boolean): BenchServer {
  const pid = child.pid!
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  return {
    kind, url, pid, storage, logFile,
    cpuSeconds: () => processCpuSeconds(pid),
    peakRssBytes: () => processStatusKb(pid, 'VmHWM') * 1024,
    rssBytes: () => processStatusKb(pid, 'VmRSS') * 1024,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
      if (!keepStorage) await rm(storage, { recursive: true, force: true })
    },
  }
}

async function probeV2(url: string): Promise<true | undefined> {
  const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) })
  await response.arrayBuffer()
  return response.status === 200 ? true : undefined
}

/** The reference registry: filesystem storage in a temp dir, delete enabled, access log off. */
export async function startReference(options: { keepStorage?: boolean } = {}): Promise<BenchServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-bench-ref-'))
  const storage = path.join(dir, 'data')
  const port = await freePort()
  const config = path.join(dir, 'config.yml')
  await writeFile(config, [
    'version: 0.1',
    'log:',
    '  accesslog:',
    '    disabled: true',
    '  level: error',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n'))
  const logFile = path.join(dir, 'server.log')
  const fd = openSync(logFile, 'a')
  const child = spawn(REFERENCE_BIN, ['serve', config], { stdio: ['ignore', fd, fd] })
  closeSync(fd)
  const url = `http://127.0.0.1:${port}`
  await waitFor('reference registry', 20_000, child, logFile, () => probeV2(url))
  const server = makeServer('reference', child, url, storage, logFile, options.keepStorage ?? false)
  const stop = server.stop
  return { ...server, stop: async () => { await stop(); if (!options.keepStorage) await rm(dir, { recursive: true, force: true }) } }
}

export function wharfAvailable(): boolean {
  return existsSync(WHARF_CLI)
}

/**
 * Wharf: `wharf serve` on a free loopback port with fresh temp storage. Its stdout goes straight to a
 * file (not through this process), so request logging cannot cost the load generator anything.
 */
export async function startWharfServer(options: { keepStorage?: boolean; extraArgs?: readonly string[]; nodeArgs?: readonly string[] } = {}): Promise<BenchServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-bench-wharf-'))
  const storage = path.join(dir, 'storage')
  const logFile = path.join(dir, 'server.log')
  const fd = openSync(logFile, 'a')
  const extra = options.extraArgs ?? (process.env.WHARF_BENCH_ARGS ? process.env.WHARF_BENCH_ARGS.split(' ').filter(Boolean) : [])
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), WHARF_CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--storage', storage, ...extra], {
    stdio: ['ignore', fd, fd], cwd: dir, env: { ...process.env },
  })
  closeSync(fd)
  const url = await waitFor('wharf', 30_000, child, logFile, async () => {
    const text = readFileSync(logFile, 'utf8')
    for (const line of text.split('\n')) {
      if (!line.includes('wharf listening')) continue
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string }
        if (entry.msg === 'wharf listening' && typeof entry.url === 'string') return entry.url.replace(/\/$/, '')
      } catch { /* not JSON */ }
    }
    return undefined
  })
  await waitFor('wharf /v2/', 10_000, child, logFile, () => probeV2(url))
  const server = makeServer('wharf', child, url, storage, logFile, options.keepStorage ?? false)
  const stop = server.stop
  return { ...server, stop: async () => { await stop(); if (!options.keepStorage) await rm(dir, { recursive: true, force: true }) } }
}
