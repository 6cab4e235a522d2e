import type { Logger } from 'pino'
import type { Clock } from '../context/clock.js'
import type { RegistryEvent } from '../events/events.js'
import type { NotificationQueue, NotificationToQueue } from '../metadata/metadata-store.js'
import type { EndpointFilter } from './endpoint.js'
import { actionOf, toEnvelopeEvents, type EventSource } from './envelope.js'

/** How long accepted events wait to be queued together (measured: per-turn writes cost small pushes ~20% CPU). */
const ENQUEUE_GATHER_MS = 10

/**
 * The event bus subscriber: maps each event to registry:2 events and queues each for every
 * endpoint that accepts it. The request that caused an event never waits for this: entries
 * gather in memory for ENQUEUE_GATHER_MS and go to the store in one write (one write in flight
 * at a time, the next batch gathering meanwhile), so a burst of pushes costs a few writes.
 */
export class NotificationEnqueuer {
  private pending: NotificationToQueue[] = []
  private writing: Promise<void> | undefined
  private readonly filters: readonly EndpointFilter[]
  private readonly queue: NotificationQueue
  private readonly clock: Clock
  private readonly log: Logger
  private readonly source: () => EventSource
  private readonly onQueued: (endpoints: ReadonlySet<string>) => void

  constructor(options: {
    readonly filters: readonly EndpointFilter[]
    readonly queue: NotificationQueue
    readonly clock: Clock
    readonly log: Logger
    readonly source: () => EventSource
    /** Called with the endpoints that have new entries, once they are committed. */
    readonly onQueued: (endpoints: ReadonlySet<string>) => void
  }) {
    this.filters = options.filters
    this.queue = options.queue
    this.clock = options.clock
    this.log = options.log
    this.source = options.source
    this.onQueued = options.onQueued
  }

  /** The bus listener. */
  readonly accept = (event: RegistryEvent): void => {
    // Most events of a busy registry are pulls, which few endpoints want: decided before any mapping.
    const action = actionOf(event.type)
    if (action === undefined || !this.filters.some((filter) => filter.wants(action))) return
    const source = this.source()
    for (const mapped of toEnvelopeEvents(event, source)) {
      let text: string | undefined
      for (const filter of this.filters) {
        if (!filter.accepts(mapped.action, mapped.target.repository)) continue
        // One serialization, shared by every endpoint: its id and bytes are the same for all.
        text ??= JSON.stringify(mapped)
        this.pending.push({ endpoint: filter.name, event: text })
      }
    }
    if (this.pending.length > 0) this.writing ??= this.write()
  }

  /** Resolves once everything accepted so far is committed to the queue (or failed to be). */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing
  }

  private async write(): Promise<void> {
    // Let the events of this turn and the next few milliseconds gather first (one queue write for a
    // burst of pushes, not one each); a hard crash in that window is the one way to lose an event.
    await new Promise<void>((resolve) => setTimeout(resolve, ENQUEUE_GATHER_MS))
    while (this.pending.length > 0) {
      const batch = this.pending
      this.pending = []
      try {
        await this.queue.enqueueNotifications(batch, this.clock.now())
        this.onQueued(new Set(batch.map((entry) => entry.endpoint)))
      } catch (err) {
        // Only when the store cannot write (its writer died: the process is exiting; or it is closed).
        this.log.error({ err, lost: batch.length }, 'failed to queue webhook notifications; they are lost')
      }
    }
    this.writing = undefined
  }
}
