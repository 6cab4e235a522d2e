import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The compiled CLI entry point (tests run from dist/, so this resolves beside them). */
export const WHARF_CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/index.js')

export interface WharfProcess {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string
  /** host:port, as clients name a registry. */
  readonly address: string
  readonly storage: string
  readonly child: ChildProcess
  /** Log lines the server printed so far (pino JSON). */
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
}

/** Starts `wharf serve` as a real child process on a free loopback port and waits until it listens. */
export async function startWharf(options: StartWharfOptions = {}): Promise<WharfProcess> {
  const storage = options.storage ?? await mkdtemp(path.join(tmpdir(), 'wharf-test-'))
  const child = spawn(process.execPath, [WHARF_CLI, 'serve', '--host', '127.0.0.1', '--port', String(options.port ?? 0),
    '--storage', storage, ...(options.extraArgs ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  })
  const logs: string[] = []
  const lines = createInterface({ input: child.stdout! })
  const errLines = createInterface({ input: child.stderr! })
  errLines.on('line', (line) => logs.push(line))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wharf did not start within ${options.timeoutMs ?? 20000} ms:\n${logs.join('\n')}`)), options.timeoutMs ?? 20000)
    lines.on('line', (line) => {
      logs.push(line)
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string }
        if (entry.msg === 'wharf listening' && typeof entry.url === 'string') { clearTimeout(timer); resolve(entry.url) }
      } catch { /* not JSON */ }
    })
    child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`wharf exited early (${code ?? signal}):\n${logs.join('\n')}`)) })
  })
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  return {
    url,
    address: new URL(url).host,
    storage,
    child,
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
