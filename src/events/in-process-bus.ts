import type { Logger } from 'pino'
import type { Clock } from '../context/clock.js'
import type { RequestContext } from '../context/request-context.js'
import type { EventBus, EventListener, EventPayload, EventType, RegistryEvent, SubscribeOptions } from './events.js'

/**
 * Delivers each event to every subscriber on a later turn of the event loop, in publication order,
 * never awaiting them: a slow subscriber delays nothing, and what one throws or rejects is logged
 * and dropped. Subscribers that need order or back-pressure across their own async work queue it.
 */
export class InProcessEventBus implements EventBus {
  /** Each listener with the types it wants (undefined: all). */
  private readonly listeners = new Map<EventListener, ReadonlySet<EventType> | undefined>()
  private readonly clock: Clock
  private readonly log: Logger

  constructor(clock: Clock, log: Logger) {
    this.clock = clock
    this.log = log
  }

  subscribe(listener: EventListener, options: SubscribeOptions = {}): () => void {
    this.listeners.set(listener, options.types !== undefined ? new Set(options.types) : undefined)
    return () => { this.listeners.delete(listener) }
  }

  publish(ctx: RequestContext, payload: EventPayload): void {
    if (this.listeners.size === 0) return
    let event: RegistryEvent | undefined
    for (const [listener, types] of this.listeners) {
      if (types !== undefined && !types.has(payload.type)) continue
      event ??= Object.freeze({ ...payload, requestId: ctx.requestId, caller: ctx.caller, ...(ctx.origin !== undefined ? { origin: ctx.origin } : {}), at: this.clock.now() })
      const delivered = event
      setImmediate(() => this.deliver(listener, delivered))
    }
  }

  private deliver(listener: EventListener, event: RegistryEvent): void {
    const failed = (err: unknown): void => {
      this.log.error({ err, event: event.type, reqId: event.requestId }, 'event subscriber failed')
    }
    try {
      const result = listener(event)
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') (result as Promise<void>).then(undefined, failed)
    } catch (err) {
      failed(err)
    }
  }
}
