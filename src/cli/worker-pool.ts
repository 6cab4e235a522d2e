import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import type { IpcCoordinationServer } from '../coordination/ipc-coordination-server.js'
import { CommandFailure } from './failure.js'

/** Tags the messages between `serve --workers` processes (the channel carries coordination's and cluster's too). */
export const SERVE_TAG = 'wharf:serve'

/** A worker's news: it listens (at `url`), or its start failed (one line). */
export type WorkerReport =
  | { readonly tag: typeof SERVE_TAG; readonly type: 'listening'; readonly url: string; readonly port: number }
  | { readonly tag: typeof SERVE_TAG; readonly type: 'failed'; readonly message: string }

/** The primary's requests: stop (again: end the drain early), or collect garbage now. */
export type PrimaryRequest = { readonly tag: typeof SERVE_TAG; readonly type: 'stop' | 'collect' }

/** A worker dying sooner than this after its start is restarted after a pause (a crash loop must not spin). */
const QUICK_DEATH_MS = 10_000
const MAX_RESTART_DELAY_MS = 30_000

interface Slot {
  readonly worker: Worker
  readonly name: string
  readonly startedAt: number
  listening: boolean
  stopAsked: boolean
}

export interface WorkerPoolOptions {
  readonly count: number
  readonly logger: Logger
  /** Holds the workers' locks when the metadata is SQLite; absent with PostgreSQL (its own coordination). */
  readonly coordination?: IpcCoordinationServer
  /** After a stop was asked, a worker still running this long is killed. */
  readonly stopDeadlineMs: number
}

/**
 * The workers of `serve --workers N`: forked with node:cluster (they share the listening socket),
 * restarted when one dies while serving, stopped together.
 */
export class WorkerPool {
  private readonly slots = new Set<Slot>()
  private running = false
  private stopping = false
  private restartDelayMs = 0
  private nextCollector = 0
  private url: string | undefined
  /** Workers exited on their own or killed while stopping: the stop was not clean. */
  private unclean = false

  constructor(private readonly options: WorkerPoolOptions) {}

  /**
   * Forks the first worker alone (it migrates the database and makes first-start files such as the
   * signing key), then the others; resolves with the URL they all listen on. Rejects with the
   * failed worker's one line after stopping those that started.
   */
  async start(): Promise<string> {
    try {
      this.url = (await this.fork().ready).url
      const others = Array.from({ length: this.options.count - 1 }, () => this.fork().ready)
      const urls = await Promise.all(others.map((ready) => ready.then((r) => r.url)))
      const other = urls.find((url) => url !== this.url)
      if (other !== undefined) throw new CommandFailure(`the workers listen on different addresses (${this.url}, ${other})`)
    } catch (err) {
      await this.stop()
      throw err
    }
    this.running = true
    return this.url
  }

  /** Asks one listening worker (each in turn) to collect garbage. */
  collect(): void {
    const listening = [...this.slots].filter((s) => s.listening && !s.stopAsked)
    if (listening.length === 0) return
    const slot = listening[this.nextCollector++ % listening.length]!
    this.tell(slot, 'collect')
  }

  /** Asks every worker to stop (again: their drains end early); resolves once all exited, true when each exited cleanly. */
  async stop(): Promise<boolean> {
    this.stopping = true
    const exits = [...this.slots].map((slot) => new Promise<void>((resolve) => {
      if (slot.worker.isDead()) { resolve(); return }
      slot.worker.once('exit', () => resolve())
      const kill = setTimeout(() => {
        this.options.logger.warn({ worker: slot.name }, 'worker did not stop before the deadline; killing it')
        this.unclean = true
        slot.worker.process.kill('SIGKILL')
      }, this.options.stopDeadlineMs)
      kill.unref()
      slot.worker.once('exit', () => clearTimeout(kill))
    }))
    this.stopAgain()
    await Promise.all(exits)
    return !this.unclean
  }

  /** Forwards a further stop request (a second signal) to every worker. */
  stopAgain(): void {
    // A worker still starting is told once it listens (it handles messages from then on).
    for (const slot of this.slots) if (slot.listening) this.tell(slot, 'stop')
  }

  /** Kills every worker at once (SIGKILL): the stop is then not clean. */
  kill(): void {
    for (const slot of this.slots) {
      this.unclean = true
      slot.worker.process.kill('SIGKILL')
    }
  }

  private tell(slot: Slot, type: PrimaryRequest['type']): void {
    if (type === 'stop') slot.stopAsked = true
    if (slot.worker.isConnected()) slot.worker.send({ tag: SERVE_TAG, type } satisfies PrimaryRequest, undefined, () => undefined)
  }

  private fork(): { slot: Slot; ready: Promise<{ url: string }> } {
    const worker = cluster.fork()
    const slot: Slot = { worker, name: `worker ${worker.id}`, startedAt: Date.now(), listening: false, stopAsked: false }
    this.slots.add(slot)
    this.options.coordination?.attach(worker, `worker ${worker.id} (pid ${worker.process.pid})`)
    // A send to a worker that just died must not crash the primary.
    worker.on('error', () => undefined)
    const ready = new Promise<{ url: string }>((resolve, reject) => {
      worker.on('message', (message: WorkerReport) => {
        if (message?.tag !== SERVE_TAG) return
        if (message.type === 'failed') { reject(new CommandFailure(message.message)); return }
        if (message.type !== 'listening') return
        slot.listening = true
        if (this.stopping) this.tell(slot, 'stop')
        resolve({ url: message.url })
      })
      worker.once('exit', (code, signal) => {
        this.slots.delete(slot)
        if (!slot.listening) reject(new CommandFailure(`worker ${worker.id} exited while starting (${signal ?? `code ${code}`})`))
        this.exited(slot, code, signal)
      })
    })
    ready.catch(() => undefined)
    return { slot, ready }
  }

  private exited(slot: Slot, code: number | null, signal: string | null): void {
    if (this.stopping) {
      if (code !== 0) this.unclean = true
      return
    }
    if (!this.running) return
    const quick = Date.now() - slot.startedAt < QUICK_DEATH_MS
    this.restartDelayMs = quick ? Math.min(Math.max(1000, this.restartDelayMs * 2), MAX_RESTART_DELAY_MS) : 0
    this.options.logger.error({ worker: slot.name, pid: slot.worker.process.pid, code, signal, restartInMs: this.restartDelayMs }, 'worker died; starting another')
    // Not unref'd: with every worker dead, this timer is what keeps the primary running.
    setTimeout(() => this.replace(), this.restartDelayMs)
  }

  private replace(): void {
    if (this.stopping) return
    const { slot, ready } = this.fork()
    ready.then(
      () => this.options.logger.info({ worker: slot.name, pid: slot.worker.process.pid }, 'worker replaced'),
      (err: unknown) => this.options.logger.error({ worker: slot.name, reason: (err as Error).message }, 'a replacement worker failed to start'))
  }
}
