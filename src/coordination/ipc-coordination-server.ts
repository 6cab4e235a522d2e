import type { Lease } from './coordination.js'
import { InProcessCoordination } from './in-process.js'
import { IPC_TAG, isTagged, sendTo, type IpcPeer, type PrimaryMessage, type WorkerMessage } from './ipc-coordination.js'

/** How long an invalidation waits for the other workers' answers by default (a stopped or stuck worker must not hold writes forever). */
const DEFAULT_ACK_TIMEOUT_MS = 2000

export interface IpcCoordinationServerOptions {
  /** How long a worker's invalidation waits for every other worker to answer before its writer goes on. */
  readonly ackTimeoutMs?: number
  /** Where workers that did not answer in time are reported (default: nowhere). */
  readonly warn?: (message: string) => void
}

/** What the primary knows of one worker. */
interface Peer {
  readonly channel: IpcPeer
  /** For messages: "worker 3 (pid 1234)". */
  readonly name: string
  /** Said hello: its IpcCoordination listens, so its invalidation answers are waited for. */
  joined: boolean
  alive: boolean
  /** Lock requests granted or waiting, by the worker's id: resolving one gives the keys back (or its turn, once it comes). */
  readonly locks: Map<number, () => void>
  readonly leases: Map<number, Lease>
  readonly detach: () => void
}

/** An invalidation waiting for the other workers' answers. */
interface Broadcast {
  readonly from: Peer
  readonly replyId: number
  readonly waiting: Set<Peer>
  readonly timer: NodeJS.Timeout
}

/**
 * The primary's side of IpcCoordination: one InProcessCoordination holds the locks and leases of
 * every worker (FIFO per key, lockAll in sorted key order, tryLock without waiting), each worker's
 * share released when its channel closes (exit, crash, SIGKILL); invalidations go to every other
 * worker and are answered once they all ran their listeners.
 */
export class IpcCoordinationServer {
  private readonly core = new InProcessCoordination()
  private readonly peers = new Map<IpcPeer, Peer>()
  private readonly broadcasts = new Map<number, Broadcast>()
  private nextBroadcast = 1
  private readonly ackTimeoutMs: number
  private readonly warn: (message: string) => void

  constructor(options: IpcCoordinationServerOptions = {}) {
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS
    this.warn = options.warn ?? (() => undefined)
  }

  /** Serves the worker at the other end of `channel` (a cluster Worker, a ChildProcess, or `process` in a child) until it disconnects or exits. */
  attach(channel: IpcPeer, name = 'a worker'): void {
    if (this.peers.has(channel)) return
    const onMessage = (message: unknown): void => {
      if (isTagged(message)) this.handle(peer, message as WorkerMessage)
    }
    const onGone = (): void => this.detach(channel)
    const peer: Peer = {
      channel, name, joined: false, alive: true, locks: new Map(), leases: new Map(),
      detach: () => {
        channel.off('message', onMessage)
        channel.off('disconnect', onGone)
        channel.off('exit', onGone)
      },
    }
    this.peers.set(channel, peer)
    channel.on('message', onMessage)
    channel.on('disconnect', onGone)
    channel.on('exit', onGone)
  }

  /** Releases everything the worker held or waited for, and stops waiting for its answers. */
  detach(channel: IpcPeer): void {
    const peer = this.peers.get(channel)
    if (peer === undefined) return
    this.peers.delete(channel)
    peer.alive = false
    peer.detach()
    for (const release of peer.locks.values()) release()
    peer.locks.clear()
    for (const lease of peer.leases.values()) void lease.release()
    peer.leases.clear()
    for (const [id, broadcast] of this.broadcasts) {
      if (broadcast.from === peer) this.finish(id, false)
      else if (broadcast.waiting.delete(peer) && broadcast.waiting.size === 0) this.finish(id, true)
    }
  }

  /** Lock requests of every worker, granted or waiting (diagnostics and tests). */
  get lockRequests(): number {
    let count = 0
    for (const peer of this.peers.values()) count += peer.locks.size
    return count
  }

  /** Workers attached. */
  get workers(): number {
    return this.peers.size
  }

  /** Detaches every worker: what they held is released. */
  async close(): Promise<void> {
    for (const channel of [...this.peers.keys()]) this.detach(channel)
  }

  private handle(peer: Peer, message: WorkerMessage): void {
    switch (message.op) {
      case 'hello': peer.joined = true; return
      case 'lock': this.lock(peer, message.id, message.keys, message.wait); return
      case 'unlock': this.unlock(peer, message.id); return
      case 'lease': void this.lease(peer, message.id, message.name); return
      case 'release': this.release(peer, message.id); return
      case 'invalidate': this.invalidate(peer, message.id, message.repo); return
      case 'applied': this.applied(peer, message.id); return
    }
  }

  private reply(peer: Peer, message: PrimaryMessage): void {
    if (peer.alive) sendTo(peer.channel, message)
  }

  private lock(peer: Peer, id: number, keys: readonly string[], wait: boolean): void {
    if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string') || (!wait && keys.length !== 1)) return
    let release!: () => void
    const released = new Promise<void>((resolve) => { release = resolve })
    peer.locks.set(id, release)
    // Runs holding the keys: a worker that died while it waited passes its turn at once.
    const hold = async (): Promise<true> => {
      if (peer.alive) {
        this.reply(peer, { tag: IPC_TAG, op: 'granted', id })
        await released
      }
      return true
    }
    const taking = wait ? this.core.lockAll(keys, hold) : this.tryLock(keys[0]!, hold)
    taking.then((held) => {
      if (held === undefined) this.reply(peer, { tag: IPC_TAG, op: 'refused', id })
    }, (err: unknown) => this.warn(`coordination: a lock of ${keys.join(', ')} failed: ${String(err)}`))
      .finally(() => { if (peer.locks.get(id) === release) peer.locks.delete(id) })
  }

  /**
   * A refusal is confirmed once the event loop turned: an unlock handled just before this request
   * frees its key only in the microtasks that follow (the channel emits queued messages back to
   * back), and the worker that sent unlock, then tryLock, must find the key free.
   */
  private async tryLock(key: string, hold: () => Promise<true>): Promise<true | undefined> {
    const now = await this.core.tryLock(key, hold)
    if (now !== undefined) return now
    await new Promise<void>((resolve) => setImmediate(resolve))
    return this.core.tryLock(key, hold)
  }

  private unlock(peer: Peer, id: number): void {
    const release = peer.locks.get(id)
    if (release === undefined) return
    peer.locks.delete(id)
    release()
  }

  private async lease(peer: Peer, id: number, name: string): Promise<void> {
    if (typeof name !== 'string') return
    const lease = await this.core.lease(name)
    if (lease !== undefined && !peer.alive) {
      await lease.release()
      return
    }
    if (lease !== undefined) peer.leases.set(id, lease)
    this.reply(peer, { tag: IPC_TAG, op: 'leased', id, held: lease !== undefined })
  }

  private release(peer: Peer, id: number): void {
    const lease = peer.leases.get(id)
    if (lease === undefined) return
    peer.leases.delete(id)
    void lease.release()
  }

  /**
   * Sent to every other worker, even one that has not said hello yet (it may be listening
   * already); answered to the writer once every worker that said hello ran its listeners.
   */
  private invalidate(from: Peer, replyId: number, repo: string | null): void {
    const id = this.nextBroadcast++
    const waiting = new Set<Peer>()
    for (const peer of this.peers.values()) {
      if (peer === from || !peer.alive) continue
      if (sendTo(peer.channel, { tag: IPC_TAG, op: 'invalidate', id, repo: typeof repo === 'string' ? repo : null }) && peer.joined) waiting.add(peer)
    }
    if (waiting.size === 0) {
      this.reply(from, { tag: IPC_TAG, op: 'invalidated', id: replyId })
      return
    }
    const timer = setTimeout(() => {
      const late = [...waiting].map((p) => p.name).join(', ')
      this.warn(`coordination: ${late} did not drop cached manifests of ${repo ?? 'every repository'} within ${this.ackTimeoutMs} ms; the write goes on`)
      this.finish(id, true)
    }, this.ackTimeoutMs)
    timer.unref()
    this.broadcasts.set(id, { from, replyId, waiting, timer })
  }

  private applied(peer: Peer, id: number): void {
    const broadcast = this.broadcasts.get(id)
    if (broadcast !== undefined && broadcast.waiting.delete(peer) && broadcast.waiting.size === 0) this.finish(id, true)
  }

  private finish(id: number, answer: boolean): void {
    const broadcast = this.broadcasts.get(id)
    if (broadcast === undefined) return
    this.broadcasts.delete(id)
    clearTimeout(broadcast.timer)
    if (answer) this.reply(broadcast.from, { tag: IPC_TAG, op: 'invalidated', id: broadcast.replyId })
  }
}
