// Child-process helpers: run a client command with a timeout, start and stop daemons by PID.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface RunOptions {
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly cwd?: string
  readonly timeoutMs?: number
  readonly input?: string | Buffer
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  readonly allowFailure?: boolean
}

export interface RunResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly command: string
}

export class CommandError extends Error {
  readonly result: RunResult
  constructor(result: RunResult, reason: string) {
    super(`${result.command}: ${reason}\n--- stdout ---\n${tail(result.stdout)}\n--- stderr ---\n${tail(result.stderr)}`)
    this.name = 'CommandError'
    this.result = result
  }
}

function tail(text: string, max = 4000): string {
  return text.length > max ? `…${text.slice(-max)}` : text
}

/** Runs a command to completion; kills it (by its PID) when it outlives timeoutMs. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const command = [cmd, ...args].join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk))
    if (options.input !== undefined) child.stdin!.end(options.input)
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, options.timeoutMs ?? 120_000)
    child.once('error', (error) => { clearTimeout(timer); reject(error) })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      const result: RunResult = {
        code, signal, command,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }
      if (timedOut) reject(new CommandError(result, `timed out after ${options.timeoutMs ?? 120_000} ms`))
      else if (code !== 0 && !options.allowFailure) reject(new CommandError(result, `exited with ${code ?? signal}`))
      else resolve(result)
    })
  })
}

export interface Daemon {
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  /** Everything the daemon wrote so far (stdout and stderr interleaved, truncated to the last 200 kB). */
  output(): string
  /** SIGTERM to the daemon's process group (it runs as its own group leader), SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>
}

/**
 * Starts a long-running process in its own process group, so that stopping it by its PID also
 * ends the helpers it spawned (dockerd's own containerd, for example).
 */
export function startDaemon(name: string, cmd: string, args: readonly string[], env?: Readonly<Record<string, string>>): Daemon {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`)
  const pid = child.pid
  let log = ''
  const append = (chunk: Buffer): void => { log = (log + chunk.toString('utf8')).slice(-200_000) }
  child.stdout!.on('data', append)
  child.stderr!.on('data', append)
  child.on('error', (error) => { log += `\nspawn error: ${error.message}` })
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  const signalGroup = (signal: NodeJS.Signals): void => {
    try { process.kill(-pid, signal) } catch { /* already gone */ }
  }
  return {
    name, pid, child,
    output: () => log,
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) signalGroup('SIGTERM')
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
      // Leftover group members (a daemon's helpers) are ended too.
      signalGroup('SIGKILL')
    },
  }
}

/** A fresh temporary directory and its remover. */
export async function tempDir(prefix: string): Promise<{ readonly path: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `wharf-conf-${prefix}-`))
  return { path: dir, remove: () => rm(dir, { recursive: true, force: true, maxRetries: 3 }) }
}
