import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { stringify as toYaml } from 'yaml'
import { RegistryClient } from './registry-client.js'

/** The compiled CLI entry point (tests run from dist/, so this resolves beside them). */
export const WHARF_CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/index.js')

export interface WharfProcess {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string
  /** host:port, as clients name a registry. */
  readonly address: string
  readonly storage: string
  readonly child: ChildProcess
  readonly pid: number
  /** Log lines the server printed so far (pino JSON); empty when they go to `logFile`. */
  readonly logs: string[]
  /** SIGTERM and wait for exit; `removeStorage` deletes the storage directory too. */
  stop(options?: { readonly removeStorage?: boolean; readonly signal?: NodeJS.Signals }): Promise<void>
}

export interface StartWharfOptions {
  /** Storage directory; a fresh temp directory when absent. */
  readonly storage?: string
  readonly port?: number
  readonly extraArgs?: readonly string[]
  readonly env?: Readonly<Record<string, string>>
  readonly timeoutMs?: number
  /**
   * Server output appended to this file instead of piped through this process (`logs` stays
   * empty), so that logging costs a load generator nothing.
   */
  readonly logFile?: string
  /** Options for node itself (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[]
  readonly cwd?: string
  /** Another build of the CLI (WHARF_CLI by default). */
  readonly cli?: string
}

/** The URL of a "wharf listening" log line, if it is one. */
function listeningUrl(line: string): string | undefined {
  if (!line.includes('wharf listening')) return undefined
  try {
    const entry = JSON.parse(line) as { msg?: string; url?: string }
    return entry.msg === 'wharf listening' && typeof entry.url === 'string' ? entry.url.replace(/\/$/, '') : undefined
  } catch {
    return undefined
  }
}

function tail(file: string): string {
  try { return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n') } catch { return '' }
}

/** Starts `wharf serve` as a real child process on a free loopback port and waits until it listens. */
export async function startWharf(options: StartWharfOptions = {}): Promise<WharfProcess> {
  const storage = options.storage ?? await mkdtemp(path.join(tmpdir(), 'wharf-test-'))
  const args = [...(options.nodeArgs ?? []), options.cli ?? WHARF_CLI, 'serve', '--host', '127.0.0.1', '--port', String(options.port ?? 0),
    '--storage', storage, ...(options.extraArgs ?? [])]
  const env = { ...process.env, ...options.env }
  const timeoutMs = options.timeoutMs ?? 20000
  const logs: string[] = []
  let child: ChildProcess
  let url: string
  if (options.logFile !== undefined) {
    const fd = openSync(options.logFile, 'a')
    child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env, ...(options.cwd !== undefined ? { cwd: options.cwd } : {}) })
    closeSync(fd)
    const logFile = options.logFile
    url = await new Promise<string>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs
      const poll = (): void => {
        if (child.exitCode !== null || child.signalCode !== null) { reject(new Error(`wharf exited early (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}`)); return }
        let text = ''
        try { text = readFileSync(logFile, 'utf8') } catch { /* not yet written */ }
        for (const line of text.split('\n')) {
          const found = listeningUrl(line)
          if (found !== undefined) { resolve(found); return }
        }
        if (Date.now() > deadline) { child.kill('SIGKILL'); reject(new Error(`wharf did not start within ${timeoutMs} ms:\n${tail(logFile)}`)); return }
        setTimeout(poll, 50)
      }
      poll()
    })
  } else {
    child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env, ...(options.cwd !== undefined ? { cwd: options.cwd } : {}) })
    const lines = createInterface({ input: child.stdout! })
    const errLines = createInterface({ input: child.stderr! })
    errLines.on('line', (line) => logs.push(line))
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`wharf did not start within ${timeoutMs} ms:\n${logs.join('\n')}`)), timeoutMs)
      lines.on('line', (line) => {
        logs.push(line)
        const found = listeningUrl(line)
        if (found !== undefined) { clearTimeout(timer); resolve(found) }
      })
      child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`wharf exited early (${code ?? signal}):\n${logs.join('\n')}`)) })
    })
  }
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  return {
    url,
    address: new URL(url).host,
    storage,
    child,
    pid: child.pid!,
    logs,
    async stop(stopOptions = {}) {
      if (child.exitCode === null && child.signalCode === null) child.kill(stopOptions.signal ?? 'SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000)
      await exited
      clearTimeout(timer)
      if (stopOptions.removeStorage) await rm(storage, { recursive: true, force: true })
    },
  }
}

export interface TestServer {
  readonly wharf: WharfProcess
  readonly client: RegistryClient
}

/** Starts a real `wharf serve` for `t` (a file's tap or one subtest) and stops it, storage removed, at teardown. */
export async function startTestServer(t: Test, options: StartWharfOptions & { keepStorage?: boolean } = {}): Promise<TestServer> {
  const wharf = await startWharf(options)
  t.teardown(() => wharf.stop({ removeStorage: !options.keepStorage }))
  return { wharf, client: new RegistryClient(wharf.url) }
}

/** Log lines of level error (50) or worse: requests that failed with a server error. */
export function serverErrors(wharf: WharfProcess): string[] {
  return wharf.logs.filter((line) => {
    try {
      return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50
    } catch {
      return false
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Configuration files, temp directories and the CLI

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `wharf-test-${prefix}-`))
}

/** Writes a config file (YAML; `log.level` info unless given) into `dir` and returns its path. */
export async function writeConfig(dir: string, config: Record<string, unknown>): Promise<string> {
  await mkdir(dir, { recursive: true })
  const file = path.join(dir, `wharf-${process.pid}-${Math.random().toString(36).slice(2)}.yaml`)
  await writeFile(file, toYaml({ log: { level: 'info' }, ...config }))
  return file
}

/** Runs a program inside new PID and mount namespaces, where it is PID 1 (as in a container). */
export const IN_PID_NAMESPACE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'] as const

export interface CliResult {
  /** The exit code, null when a signal ended it. */
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** How long the process ran. */
  readonly ms: number
}

export interface CliOptions {
  readonly env?: Readonly<Record<string, string>>
  /** A program the CLI runs under, e.g. IN_PID_NAMESPACE. */
  readonly prefix?: readonly string[]
  /** Written to the CLI's standard input, which is then closed (else it has none). */
  readonly input?: string
}

/** A `wharf` child process started by spawnWharf, its output collected as it comes. */
export interface SpawnedWharf {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves with the URL once the server logs "wharf listening", or undefined if it exits first. */
  readonly listening: Promise<string | undefined>
  /** Rejects only if the process could not be started. */
  readonly finished: Promise<CliResult>
}

/**
 * Starts the compiled `wharf <args>` as a child process and returns at once: for commands whose
 * start may fail (a refused lock, a port taken), or that run under a `prefix`. startWharf is the
 * one to use for a server that must start.
 */
export function spawnWharf(args: readonly string[], options: CliOptions = {}): SpawnedWharf {
  const argv = [...(options.prefix ?? []), process.execPath, WHARF_CLI, ...args]
  const started = Date.now()
  const child = spawn(argv[0]!, argv.slice(1), { stdio: [options.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } })
  // A CLI that exits before reading its input must not fail the test with EPIPE.
  if (options.input !== undefined) child.stdin!.on('error', () => undefined).end(options.input)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const finished = once(child, 'close').then(([code]) => ({ code: code as number | null, stdout, stderr, ms: Date.now() - started }))
  const listening = new Promise<string | undefined>((resolve) => {
    let scanned = 0
    const look = (): void => {
      const end = stdout.lastIndexOf('\n')
      if (end < scanned) return
      const lines = stdout.slice(scanned, end).split('\n')
      scanned = end + 1
      for (const line of lines) {
        const url = listeningUrl(line)
        if (url !== undefined) { child.stdout!.off('data', look); resolve(url); return }
      }
    }
    child.stdout!.on('data', look)
    finished.then(() => resolve(undefined), () => resolve(undefined))
  })
  return { child, stdout: () => stdout, stderr: () => stderr, listening, finished }
}

/**
 * Runs the compiled `wharf <args>` to its end and resolves with its exit code and output (never
 * rejects on the exit code). With `timeoutMs` it is killed (code null) if it runs longer.
 */
export async function runCli(args: readonly string[], env: Readonly<Record<string, string>> = {}, options: Omit<CliOptions, 'env'> & { readonly timeoutMs?: number } = {}): Promise<CliResult> {
  const run = spawnWharf(args, { env, ...(options.prefix !== undefined ? { prefix: options.prefix } : {}), ...(options.input !== undefined ? { input: options.input } : {}) })
  const timer = options.timeoutMs !== undefined ? setTimeout(() => run.child.kill('SIGKILL'), options.timeoutMs) : undefined
  try {
    return await run.finished
  } finally {
    clearTimeout(timer)
  }
}

/** The PID of the process that `unshare --fork` started (its only child), as the host sees it. */
export async function namespacedChild(unshare: ChildProcess): Promise<number> {
  const children = await readFile(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8')
  const pid = Number(children.trim().split(/\s+/)[0])
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`no child under unshare ${unshare.pid}`)
  return pid
}

/** SIGTERM to a process started by spawnWharf (through its PID namespace if any); resolves when it has exited. */
export async function stopSpawned(spawned: SpawnedWharf, inNamespace = false): Promise<CliResult> {
  if (spawned.child.exitCode === null && spawned.child.signalCode === null) {
    process.kill(inNamespace ? await namespacedChild(spawned.child) : spawned.child.pid!, 'SIGTERM')
  }
  const timer = setTimeout(() => spawned.child.kill('SIGKILL'), 15_000)
  try {
    return await spawned.finished
  } finally {
    clearTimeout(timer)
  }
}

// ---------------------------------------------------------------------------------------------
// A server for garbage-collection tests: no scheduled collection, grace and retention as given

export interface GcConfig {
  graceSeconds?: number
  uploadTtlSeconds?: number
  retention?: ReadonlyArray<Record<string, unknown>>
  logLevel?: string
}

export interface GcServer {
  readonly wharf: WharfProcess
  readonly client: RegistryClient
  readonly configFile: string
  readonly storage: string
  stop(removeStorage?: boolean): Promise<void>
}

/** `wharf serve` with a config of `gc.intervalSeconds: 0` (collections only on demand) and these options. */
export async function startGcServer(options: GcConfig & { storage?: string } = {}): Promise<GcServer> {
  const configFile = await writeConfig(await tempDir('gc-config'), {
    gc: { intervalSeconds: 0, ...(options.graceSeconds !== undefined ? { graceSeconds: options.graceSeconds } : {}) },
    log: { level: options.logLevel ?? 'info' },
    ...(options.uploadTtlSeconds !== undefined ? { uploads: { ttlSeconds: options.uploadTtlSeconds } } : {}),
    ...(options.retention !== undefined ? { retention: options.retention } : {}),
  })
  const wharf = await startWharf({ extraArgs: ['--config', configFile], ...(options.storage !== undefined ? { storage: options.storage } : {}) })
  return {
    wharf, configFile, storage: wharf.storage, client: new RegistryClient(wharf.url),
    stop: (removeStorage = false) => wharf.stop({ removeStorage }),
  }
}
