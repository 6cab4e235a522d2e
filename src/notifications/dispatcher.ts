import type { Logger } from 'pino'
import { request, type Dispatcher } from 'undici'
import type { Clock } from '../context/clock.js'
import { notificationLease, type Coordination, type Lease } from '../coordination/coordination.js'
import type { NotificationQueue, QueuedNotification } from '../metadata/metadata-store.js'
import { redactedUrl, type EndpointSettings } from './endpoint.js'
import { ENVELOPE_MEDIA_TYPE, SIGNATURE_HEADER, envelopeBody, signatureOf } from './envelope.js'

/** Events per envelope, at most (registry:2's envelopes hold a list too). */
const MAX_EVENTS_PER_DELIVERY = 50

/**
 * After a delivery that did not fill an envelope, the next waits this long: under a stream of
 * pushes, events then share envelopes and commits (one POST and one "delivered" write per window,
 * not per push), and an event waits at most this much longer. A lone event goes at once.
 */
const GATHER_MS = 100

/** How often a node that does not deliver an endpoint's queue asks again for its lease (a holder that died frees it). */
const LEASE_RETRY_MS = 5_000

/**
 * Delivers one endpoint's queue, oldest first, one delivery in flight at a time. A delivery that
 * fails (no connection, a timeout, a status outside 200-399, as registry:2 judges) is retried
 * after a backoff that doubles from backoffSeconds up to maxBackoffSeconds, for ever: an event
 * leaves the queue only once delivered. The failure streak and next attempt time are in the
 * store, so a restart goes on where it stopped. Of several nodes on one queue, the one holding
 * the endpoint's lease delivers (so that order holds and nothing goes twice); the others ask again
 * every few seconds.
 */
export class EndpointDispatcher {
  private readonly settings: EndpointSettings
  private readonly queue: NotificationQueue
  private readonly clock: Clock
  private readonly log: Logger
  private readonly agent: Dispatcher
  private running: Promise<void> | undefined
  private stopping = false
  /** Set by wake(): new entries may be queued; the idle wait ends. */
  private woken = false
  private interrupt: (() => void) | undefined

  private readonly coordination: Pick<Coordination, 'lease'>
  /** How long an idle holder waits before looking at the queue again: other nodes queue without waking it. */
  private readonly idlePollMs: number

  constructor(settings: EndpointSettings, queue: NotificationQueue, clock: Clock, log: Logger, agent: Dispatcher, coordination: Pick<Coordination, 'lease'>, idlePollMs: number) {
    this.settings = settings
    this.queue = queue
    this.clock = clock
    this.log = log
    this.agent = agent
    this.coordination = coordination
    this.idlePollMs = idlePollMs
  }

  get name(): string {
    return this.settings.name
  }

  get url(): string {
    return redactedUrl(this.settings.url)
  }

  start(): void {
    this.running ??= this.runWhileLeased()
  }

  /** New entries are queued: an idle dispatcher looks again (one waiting out a backoff keeps waiting). */
  wake(): void {
    this.woken = true
    this.interrupt?.()
  }

  /** Lets a delivery in flight finish (its timeout bounds it) and records its outcome; starts none after. */
  async stop(): Promise<void> {
    this.stopping = true
    this.interrupt?.()
    await this.running
  }

  /** Waits for the endpoint's lease, delivers while holding it, gives it back on stop. */
  private async runWhileLeased(): Promise<void> {
    let waiting = false
    while (!this.stopping) {
      let lease: Lease | undefined
      try {
        lease = await this.coordination.lease(notificationLease(this.settings.name))
      } catch (err) {
        this.log.error({ err }, 'cannot ask for the webhook delivery lease')
      }
      if (lease === undefined) {
        if (!waiting) this.log.info({ endpoint: this.settings.name }, 'another node delivers this endpoint\'s webhooks; waiting to take over')
        waiting = true
        await this.pause(LEASE_RETRY_MS, false)
        continue
      }
      try {
        if (waiting) this.log.info({ endpoint: this.settings.name }, 'took over webhook delivery')
        waiting = false
        await this.run(lease)
        if (!lease.held && !this.stopping) this.log.warn({ endpoint: this.settings.name }, 'lost the webhook delivery lease with its database session; delivering no more until it is taken again')
      } finally {
        await lease.release().catch((err: unknown) => this.log.warn({ err }, 'cannot release the webhook delivery lease'))
      }
    }
  }

  /** Delivers while `lease` is held: once it is lost, another node may be delivering the same queue. */
  private async run(lease: Lease): Promise<void> {
    let streak = 0
    let nextAttemptAt = 0
    try {
      const state = await this.queue.notificationState(this.settings.name)
      streak = state.consecutiveFailures
      nextAttemptAt = state.nextAttemptAt
    } catch (err) {
      this.log.error({ err }, 'cannot read the webhook queue state')
    }
    while (!this.stopping && lease.held) {
      const wait = nextAttemptAt - this.clock.now()
      if (wait > 0) {
        await this.pause(wait, false)
        continue
      }
      this.woken = false
      let batch: QueuedNotification[]
      try {
        batch = await this.queue.nextNotifications(this.settings.name, MAX_EVENTS_PER_DELIVERY)
      } catch (err) {
        this.log.error({ err }, 'cannot read the webhook queue')
        nextAttemptAt = this.clock.now() + this.settings.backoffSeconds * 1000
        continue
      }
      if (batch.length === 0) {
        if (!this.woken) await this.pause(this.idlePollMs, true)
        continue
      }
      if (!lease.held) break
      const error = await this.deliver(batch)
      try {
        if (error === undefined) {
          await this.queue.markNotificationsDelivered(this.settings.name, batch.map((entry) => entry.id), this.clock.now())
          if (streak > 0) this.log.info({ endpoint: this.settings.name, url: this.url, failures: streak }, 'webhook delivery recovered')
          streak = 0
          nextAttemptAt = 0
          if (batch.length < MAX_EVENTS_PER_DELIVERY) await this.pause(GATHER_MS, false)
        } else {
          const backoff = Math.min(this.settings.backoffSeconds * 2 ** Math.min(streak, 30), this.settings.maxBackoffSeconds) * 1000
          const now = this.clock.now()
          nextAttemptAt = now + backoff
          streak = await this.queue.recordNotificationFailure(this.settings.name, { error, at: now, nextAttemptAt })
          this.log.warn({ endpoint: this.settings.name, url: this.url, error, events: batch.length, failures: streak, retryInMs: backoff }, 'webhook delivery failed; will retry')
        }
      } catch (err) {
        // The store is closing or its writer died: the entries stay queued for the next start.
        this.log.error({ err }, 'cannot record a webhook delivery')
        nextAttemptAt = this.clock.now() + this.settings.backoffSeconds * 1000
      }
    }
  }

  /** Waits `ms`, or until stop() (or wake(), when `wakeable`). */
  private async pause(ms: number, wakeable: boolean): Promise<void> {
    if (this.stopping) return
    await new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined
      function done(): void { clearTimeout(timer); resolve() }
      this.interrupt = () => { if (wakeable || this.stopping) done() }
    })
    this.interrupt = undefined
  }

  /** POSTs one envelope; undefined when the receiver took it, else why not. */
  private async deliver(batch: readonly QueuedNotification[]): Promise<string | undefined> {
    const body = envelopeBody(batch.map((entry) => entry.event))
    const timeoutMs = this.settings.timeoutSeconds * 1000
    const headers: Record<string, string> = {
      'user-agent': 'wharf-notifications',
      ...lowerCased(this.settings.headers),
      'content-type': ENVELOPE_MEDIA_TYPE,
      ...(this.settings.secret !== undefined ? { [SIGNATURE_HEADER.toLowerCase()]: signatureOf(this.settings.secret, body) } : {}),
    }
    try {
      const response = await request(this.settings.url, {
        method: 'POST', headers, body, dispatcher: this.agent,
        signal: AbortSignal.timeout(timeoutMs), headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      })
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined)
      if (response.statusCode >= 200 && response.statusCode < 400) return undefined
      return `HTTP ${response.statusCode}`
    } catch (err) {
      const e = err as { name?: string; code?: string; message?: string }
      if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') {
        return `no answer within ${this.settings.timeoutSeconds} s`
      }
      const cause = (err as { cause?: { code?: string; message?: string } }).cause
      return [e.code ?? cause?.code, e.message ?? String(err)].filter((part) => part !== undefined).join(': ')
    }
  }
}

function lowerCased(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value
  return out
}
