import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import { Agent } from 'undici'
import type { Clock } from '../context/clock.js'
import type { Coordination } from '../coordination/coordination.js'
import type { EventBus } from '../events/events.js'
import type { NotificationEndpointState, NotificationQueue } from '../metadata/metadata-store.js'
import { EndpointDispatcher } from './dispatcher.js'
import { EndpointFilter, type EndpointSettings } from './endpoint.js'
import { NotificationEnqueuer } from './enqueuer.js'
import { EVENT_TYPES_OF_ACTION, type EventSource } from './envelope.js'

/** How often an idle dispatcher looks at a queue other nodes add to. */
const SHARED_QUEUE_POLL_MS = 1_000

/** One endpoint's delivery figures, for metrics and the admin API (times in milliseconds since the epoch). */
export interface NotificationEndpointStats extends NotificationEndpointState {
  /** The receiver's URL without credentials. */
  readonly url: string
  /** How long the oldest entry still queued has waited, in seconds; 0 when none is. */
  readonly oldestPendingAgeSeconds: number
}

/** What the admin API and metrics read. */
export interface NotificationStatsSource {
  stats(): Promise<NotificationEndpointStats[]>
}

export interface NotificationsOptions {
  readonly endpoints: readonly EndpointSettings[]
  readonly queue: NotificationQueue
  readonly events: EventBus
  readonly clock: Clock
  /** Who delivers each endpoint's queue: the holder of its lease. */
  readonly coordination: Pick<Coordination, 'lease'>
  /**
   * Whether other nodes queue events too (they cannot wake this one's dispatchers, which then look
   * at the queue every second while idle); false: only this process queues.
   */
  readonly sharedQueue: boolean
  readonly log: Logger
  /** Whether the registry serves HTTPS (the scheme of target URLs). */
  readonly https: boolean
}

/**
 * Webhooks: from construction, every event the bus publishes is queued durably for each endpoint
 * that wants it; from start(), each endpoint's queue is delivered (commands other than `serve`
 * only queue). Guarantee: at least once, in order per endpoint, with stable event ids (a receiver
 * deduplicates by id). An event is lost only if the process dies between the commit that caused
 * it and the enqueue's commit (the ~10 ms events gather, plus the commit); it is sent twice only if the process dies after
 * the receiver took it and before it was marked delivered.
 */
export class Notifications implements NotificationStatsSource {
  private readonly enqueuer: NotificationEnqueuer
  private readonly dispatchers: readonly EndpointDispatcher[]
  private readonly byName: ReadonlyMap<string, EndpointDispatcher>
  private readonly unsubscribe: () => void
  private readonly agent = new Agent({ keepAliveTimeout: 10_000 })
  private readonly queue: NotificationQueue
  private readonly clock: Clock
  private source: EventSource
  private started = false
  private closing: Promise<void> | undefined

  constructor(options: NotificationsOptions) {
    this.queue = options.queue
    this.clock = options.clock
    this.source = { addr: hostname(), instanceID: randomUUID(), scheme: options.https ? 'https' : 'http' }
    this.dispatchers = options.endpoints.map((settings) =>
      new EndpointDispatcher(settings, options.queue, options.clock, options.log.child({ endpoint: settings.name }), this.agent,
        options.coordination, options.sharedQueue ? SHARED_QUEUE_POLL_MS : Number.POSITIVE_INFINITY))
    this.byName = new Map(this.dispatchers.map((d) => [d.name, d]))
    this.enqueuer = new NotificationEnqueuer({
      filters: options.endpoints.map((settings) => new EndpointFilter(settings)),
      queue: options.queue, clock: options.clock, log: options.log, source: () => this.source,
      onQueued: (endpoints) => { for (const name of endpoints) this.byName.get(name)?.wake() },
    })
    // Only the event types some endpoint's actions need: pulls cost nothing unless one opted in.
    const types = [...new Set(options.endpoints.flatMap((settings) => settings.actions.flatMap((action) => EVENT_TYPES_OF_ACTION[action])))]
    this.unsubscribe = options.events.subscribe(this.enqueuer.accept, { types })
  }

  /** Starts delivering; `port` is where the registry listens (registry:2's `source.addr` is host:port). */
  start(port?: number): void {
    if (port !== undefined) this.source = { ...this.source, addr: `${hostname()}:${port}` }
    if (this.started || this.closing !== undefined) return
    this.started = true
    for (const dispatcher of this.dispatchers) dispatcher.start()
  }

  async stats(): Promise<NotificationEndpointStats[]> {
    const now = this.clock.now()
    return Promise.all(this.dispatchers.map(async (dispatcher) => {
      const state = await this.queue.notificationState(dispatcher.name)
      const age = state.oldestPendingAt !== undefined ? Math.max(0, (now - state.oldestPendingAt) / 1000) : 0
      return { ...state, url: dispatcher.url, oldestPendingAgeSeconds: age }
    }))
  }

  /**
   * Queues what was published before the call (the bus hands events over on later turns), stops
   * listening, lets deliveries in flight finish; before the store closes.
   */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      await new Promise<void>((resolve) => setImmediate(resolve))
      this.unsubscribe()
      await this.enqueuer.flush()
      await Promise.all(this.dispatchers.map((dispatcher) => dispatcher.stop()))
      await this.agent.close().catch(() => undefined)
    })()
    return this.closing
  }
}
