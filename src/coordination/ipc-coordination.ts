import type { Coordination, Lease } from './coordination.js'

/**
 * Coordination of the worker processes of one machine (`wharf serve --workers N`): every lock,
 * lease and invalidation is asked of the primary process over the cluster's IPC channel, where
 * IpcCoordinationServer (ipc-coordination-server.ts) holds them for all workers.
 */

/** Tags every message of this protocol: the channel also carries cluster's own messages and others. */
export const IPC_TAG = 'wharf:coordination'

/** A worker's requests. Ids are the worker's own; `repo` null stands for every repository (JSON has no undefined). */
export type WorkerMessage =
  | { readonly tag: typeof IPC_TAG; readonly op: 'hello' }
  | { readonly tag: typeof IPC_TAG; readonly op: 'lock'; readonly id: number; readonly keys: readonly string[]; readonly wait: boolean }
  | { readonly tag: typeof IPC_TAG; readonly op: 'unlock'; readonly id: number }
  | { readonly tag: typeof IPC_TAG; readonly op: 'lease'; readonly id: number; readonly name: string }
  | { readonly tag: typeof IPC_TAG; readonly op: 'release'; readonly id: number }
  | { readonly tag: typeof IPC_TAG; readonly op: 'invalidate'; readonly id: number; readonly repo: string | null }
  /** This worker's listeners ran for the primary's broadcast `id`. */
  | { readonly tag: typeof IPC_TAG; readonly op: 'applied'; readonly id: number }

/** The primary's answers, and its broadcasts of other workers' invalidations (ids of the primary). */
export type PrimaryMessage =
  | { readonly tag: typeof IPC_TAG; readonly op: 'granted' | 'refused'; readonly id: number }
  | { readonly tag: typeof IPC_TAG; readonly op: 'leased'; readonly id: number; readonly held: boolean }
  /** Every other worker dropped what invalidation `id` named (or the deadline passed). */
  | { readonly tag: typeof IPC_TAG; readonly op: 'invalidated'; readonly id: number }
  | { readonly tag: typeof IPC_TAG; readonly op: 'invalidate'; readonly id: number; readonly repo: string | null }

/** One end of an IPC channel: `process` in a worker; a ChildProcess or a cluster Worker in the primary. */
export interface IpcPeer {
  // `any`: process, ChildProcess and Worker declare their listeners so.
  send?(message: unknown, ...rest: never[]): unknown
  on(event: string, listener: (...args: any[]) => void): unknown
  off(event: string, listener: (...args: any[]) => void): unknown
}

/** Sends `message`; false when the channel is closed. `failed` is called too when the send fails later. */
export function sendTo(peer: IpcPeer, message: WorkerMessage | PrimaryMessage, failed?: () => void): boolean {
  const send = peer.send as ((message: unknown, callback: (err: Error | null) => void) => unknown) | undefined
  if (send === undefined) return false
  try {
    send.call(peer, message, (err) => { if (err !== null && err !== undefined) failed?.() })
    return true
  } catch {
    return false
  }
}

/** A message of this protocol (anything else on the channel is someone else's). */
export function isTagged(message: unknown): message is { readonly tag: typeof IPC_TAG; readonly op: string } {
  return typeof message === 'object' && message !== null && (message as { tag?: unknown }).tag === IPC_TAG && typeof (message as { op?: unknown }).op === 'string'
}

export class CoordinationUnavailableError extends Error {
  readonly code = 'COORDINATION_UNAVAILABLE'
  constructor(message: string) {
    super(message)
    this.name = 'CoordinationUnavailableError'
  }
}

const REFUSED = Symbol('refused')

type Waiter = (reply: PrimaryMessage) => void

export interface IpcCoordinationOptions {
  /** Where a failing invalidation listener is reported (default: nowhere). */
  readonly warn?: (message: string) => void
}

/**
 * The worker's side. Locks are FIFO across workers (the primary queues them in arrival order),
 * lockAll takes its keys in one global order there, tryLock never waits, and nested locks are
 * independent requests, as in one process. What a worker holds is released by the primary when
 * the worker's channel closes, however the worker died.
 */
export class IpcCoordination implements Coordination {
  private nextId = 1
  private readonly waiting = new Map<number, { readonly resolve: Waiter; readonly reject: (err: Error) => void }>()
  private readonly listeners = new Set<(repo: string | undefined) => void>()
  private readonly leases = new Set<number>()
  private gone: Error | undefined
  private readonly warn: (message: string) => void

  constructor(private readonly peer: IpcPeer = process, options: IpcCoordinationOptions = {}) {
    this.warn = options.warn ?? (() => undefined)
    peer.on('message', this.onMessage)
    peer.on('disconnect', this.onDisconnect)
    if (!sendTo(peer, { tag: IPC_TAG, op: 'hello' }, this.onDisconnect)) this.onDisconnect()
  }

  lock<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.holding([key], true, work) as Promise<T>
  }

  lockAll<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort()
    if (sorted.length === 0) return work()
    return this.holding(sorted, true, work) as Promise<T>
  }

  async tryLock<T>(key: string, work: () => Promise<T>): Promise<T | undefined> {
    const result = await this.holding([key], false, work)
    return result === REFUSED ? undefined : result
  }

  private async holding<T>(keys: readonly string[], wait: boolean, work: () => Promise<T>): Promise<T | typeof REFUSED> {
    const id = this.nextId++
    const reply = await this.ask(id, { tag: IPC_TAG, op: 'lock', id, keys, wait })
    if (reply.op === 'refused') return REFUSED
    try {
      return await work()
    } finally {
      // No answer awaited: the channel keeps order, so a request sent after this sees the key free.
      sendTo(this.peer, { tag: IPC_TAG, op: 'unlock', id })
    }
  }

  async lease(name: string): Promise<Lease | undefined> {
    const id = this.nextId++
    const reply = await this.ask(id, { tag: IPC_TAG, op: 'lease', id, name })
    if (reply.op !== 'leased' || !reply.held) return undefined
    this.leases.add(id)
    return {
      // Held by the primary until released or this worker exits (a dead primary ends the workers).
      lost: new AbortController().signal,
      release: async () => {
        // Once only: the primary may have given the name to another holder since.
        if (!this.leases.delete(id)) return
        sendTo(this.peer, { tag: IPC_TAG, op: 'release', id })
      },
    }
  }

  /**
   * Tells the primary first (a local listener that throws must not keep the other workers stale),
   * runs the local listeners, and returns a promise that settles once every other worker dropped
   * the manifests too: the caller answers its client only then.
   */
  invalidate(repo: string | undefined): Promise<void> {
    const id = this.nextId++
    const settled = this.ask(id, { tag: IPC_TAG, op: 'invalidate', id, repo: repo ?? null }).then(() => undefined, () => undefined)
    for (const listener of this.listeners) listener(repo)
    return settled
  }

  onInvalidate(listener: (repo: string | undefined) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Gives back the leases still held and stops listening; the primary releases the rest when the channel closes. */
  async close(): Promise<void> {
    for (const id of this.leases) sendTo(this.peer, { tag: IPC_TAG, op: 'release', id })
    this.leases.clear()
    this.peer.off('message', this.onMessage)
    this.peer.off('disconnect', this.onDisconnect)
    this.fail(new CoordinationUnavailableError('coordination is closed'))
  }

  private ask(id: number, message: WorkerMessage): Promise<PrimaryMessage> {
    if (this.gone !== undefined) return Promise.reject(this.gone)
    return new Promise<PrimaryMessage>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      if (!sendTo(this.peer, message, this.onDisconnect)) this.onDisconnect()
    })
  }

  private readonly onMessage = (message: unknown): void => {
    if (!isTagged(message)) return
    const m = message as PrimaryMessage
    if (m.op === 'invalidate') {
      this.heardFromElsewhere(m.repo ?? undefined)
      sendTo(this.peer, { tag: IPC_TAG, op: 'applied', id: m.id })
      return
    }
    const waiter = this.waiting.get(m.id)
    if (waiter === undefined) return
    this.waiting.delete(m.id)
    waiter.resolve(m)
  }

  /** Another worker's write: a listener that throws has no caller to tell, so it is reported and the others still run. */
  private heardFromElsewhere(repo: string | undefined): void {
    for (const listener of this.listeners) {
      try {
        listener(repo)
      } catch (err) {
        this.warn(`coordination: an invalidation listener failed on ${repo ?? 'every repository'}: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  }

  private readonly onDisconnect = (): void => {
    this.fail(new CoordinationUnavailableError('coordination is unavailable: the channel to the primary process is closed'))
  }

  private fail(err: Error): void {
    this.gone ??= err
    const waiting = [...this.waiting.values()]
    this.waiting.clear()
    for (const waiter of waiting) waiter.reject(err)
  }
}
