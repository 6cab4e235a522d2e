import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { WHARF_CLI } from '../helpers/wharf-process.js'

/** Runs a program inside new PID and mount namespaces, where it is PID 1 (as in a container). */
export const IN_PID_NAMESPACE = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'] as const

export interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

export interface Running {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves with the URL once the server logs "wharf listening", or undefined if it exits first. */
  readonly listening: Promise<string | undefined>
  readonly finished: Promise<Finished>
}

/** Starts the wharf CLI as a real child process, optionally behind `prefix` (e.g. IN_PID_NAMESPACE). */
export function runWharf(args: readonly string[], options: { readonly prefix?: readonly string[]; readonly env?: Readonly<Record<string, string>> } = {}): Running {
  const argv = [...(options.prefix ?? []), process.execPath, WHARF_CLI, ...args]
  const started = Date.now()
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const finished = once(child, 'close').then(([code]) => ({ code: code as number | null, stdout, stderr, ms: Date.now() - started }))
  const listening = new Promise<string | undefined>((resolve) => {
    const look = (): void => {
      const match = /"msg":"wharf listening"/.test(stdout) ? /"url":"([^"]+)","storage"/.exec(stdout) : null
      if (match !== null) { child.stdout!.off('data', look); resolve(match[1]) }
    }
    child.stdout!.on('data', look)
    void finished.then(() => resolve(undefined))
  })
  return { child, stdout: () => stdout, stderr: () => stderr, listening, finished }
}

/** Runs a wharf command to its end (killed after `timeoutMs`). */
export async function wharfCommand(args: readonly string[], options: { readonly prefix?: readonly string[]; readonly timeoutMs?: number } = {}): Promise<Finished> {
  const run = runWharf(args, options)
  const timer = setTimeout(() => run.child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
  const result = await run.finished
  clearTimeout(timer)
  return result
}

/** The PID of the process that `unshare --fork` started (its only child), as the host sees it. */
export async function namespacedChild(unshare: ChildProcess): Promise<number> {
  const children = await readFile(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8')
  const pid = Number(children.trim().split(/\s+/)[0])
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`no child under unshare ${unshare.pid}`)
  return pid
}

/** SIGTERM to a server started by runWharf (through its namespace if any); resolves when it has exited. */
export async function stopServer(server: Running, inNamespace = false): Promise<Finished> {
  if (server.child.exitCode === null && server.child.signalCode === null) {
    process.kill(inNamespace ? await namespacedChild(server.child) : server.child.pid!, 'SIGTERM')
  }
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 15_000)
  const result = await server.finished
  clearTimeout(timer)
  return result
}
