import pg from 'pg'
import type { PostgresDatabase } from './postgres-database.js'

/** The NOTIFY channel of manifest invalidations; payload {"origin": <instance id>, "repo": <name or null>}. */
export const INVALIDATION_CHANNEL = 'wharf_invalidate'
const RELISTEN_INTERVAL_MS = 500
/** More repositories than this missed while disconnected go out as one "everything" invalidation. */
const MAX_PENDING = 100

export interface InvalidationChannelEvents {
  /** Another instance invalidated `repo` (every repository when undefined). */
  readonly received: (repo: string | undefined) => void
  /** Listening again after a lost connection: what was sent meanwhile is unknown. */
  readonly relistened: () => void
  readonly warn: (message: string) => void
}

/**
 * One LISTEN connection per instance, also used to send (a pooled connection may all be busy
 * holding locks). A lost connection is opened again in the background; invalidations made
 * meanwhile are sent once it is back, and `relistened` tells the instance that it may have
 * missed some.
 */
export class InvalidationChannel {
  private client: pg.Client | undefined
  private relisten: NodeJS.Timeout | undefined
  private closed = false
  /** Sent while disconnected; null stands for every repository. */
  private readonly pending = new Set<string | null>()

  constructor(private readonly db: PostgresDatabase, private readonly origin: string, private readonly events: InvalidationChannelEvents) {}

  /** Connects and listens; rejects when the database cannot be reached. */
  async start(): Promise<void> {
    try {
      await this.connect()
    } catch (err) {
      throw this.db.unavailable(err)
    }
  }

  send(repo: string | undefined): void {
    const target = repo ?? null
    const client = this.client
    if (client === undefined) {
      this.remember(target)
      return
    }
    const payload = JSON.stringify({ origin: this.origin, repo: target })
    client.query('SELECT pg_notify($1, $2)', [INVALIDATION_CHANNEL, payload]).catch((err: unknown) => {
      // Sent again when the connection is back (a failed query on a live connection is followed by its loss).
      this.remember(target)
      if (this.client === client) this.events.warn(`coordination: an invalidation could not be sent, retried after reconnecting: ${this.db.reason(err)}`)
    })
  }

  private remember(repo: string | null): void {
    if (this.pending.has(null)) return
    if (repo !== null && this.pending.size < MAX_PENDING) {
      this.pending.add(repo)
      return
    }
    this.pending.clear()
    this.pending.add(null)
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(this.db.clientOptions('coordination listener'))
    client.on('error', () => this.lost(client))
    client.on('end', () => this.lost(client))
    client.on('notification', (message) => this.receive(message))
    try {
      await client.connect()
      await client.query(`LISTEN ${INVALIDATION_CHANNEL}`)
    } catch (err) {
      await client.end().catch(() => undefined)
      throw err
    }
    if (this.closed) {
      await client.end().catch(() => undefined)
      return
    }
    this.client = client
    const missed = [...this.pending]
    this.pending.clear()
    for (const repo of missed) this.send(repo ?? undefined)
  }

  private receive(message: pg.Notification): void {
    if (message.channel !== INVALIDATION_CHANNEL || message.payload === undefined) return
    let parsed: { origin?: unknown; repo?: unknown }
    try {
      parsed = JSON.parse(message.payload) as { origin?: unknown; repo?: unknown }
    } catch {
      this.events.warn('coordination: an invalidation that is not JSON was ignored')
      return
    }
    if (parsed.origin === this.origin) return
    this.events.received(typeof parsed.repo === 'string' ? parsed.repo : undefined)
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return
    this.client = undefined
    client.end().catch(() => undefined)
    if (this.closed) return
    this.events.warn(`coordination: lost the invalidation connection to ${this.db.where}; listening again in the background`)
    this.scheduleRelisten()
  }

  private scheduleRelisten(): void {
    if (this.closed || this.relisten !== undefined) return
    this.relisten = setTimeout(() => {
      this.relisten = undefined
      if (this.closed) return
      this.connect().then(
        () => { if (!this.closed) this.events.relistened() },
        () => this.scheduleRelisten(),
      )
    }, RELISTEN_INTERVAL_MS)
    this.relisten.unref()
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.relisten)
    const client = this.client
    this.client = undefined
    await client?.end().catch(() => undefined)
  }
}
