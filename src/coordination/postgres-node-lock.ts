import pg from 'pg'
import { PostgresDatabase } from './postgres-database.js'

/** The session lock's keys (beside the metadata store's migration and repository lock spaces, and coordination's). */
const NODE_LOCK = [0x57480000, 2] as const
const RETAKE_INTERVAL_MS = 1000

/** Another Wharf process holds the database (serve, gc or fsck elsewhere). */
export class MetadataInUseError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MetadataInUseError'
  }
}

/** Exclusive: this process alone (blobs on local disk; fsck). Shared: with other shared holders (nodes on S3). */
export type NodeLockMode = 'exclusive' | 'shared'

/**
 * Who works on a database: a session advisory lock on a connection of its own, held until
 * release. Nodes sharing a bucket hold it shared, side by side; a process that must be alone
 * holds it exclusive: one with blobs on its local disk (another node's blobs would be elsewhere),
 * or fsck (uploads and commits in flight on a node would read as damage). Each holder is named in
 * its connection's application_name, so that a refusal can say who holds it. A lost connection
 * loses the lock: it is taken again in the background, and `held` is false meanwhile (the node
 * reports unhealthy).
 */
export class PostgresNodeLock {
  private client: pg.Client | undefined
  private retake: NodeJS.Timeout | undefined
  private released = false

  private constructor(private readonly database: PostgresDatabase, private readonly holder: string, private readonly mode: NodeLockMode) {}

  /**
   * Takes the lock of `url`'s database for `holder` (e.g. "wharf serve"), or rejects with
   * MetadataInUseError naming who has it; `why` ends that message (what to do).
   */
  static async take(url: string, holder: string, mode: NodeLockMode, why: string): Promise<PostgresNodeLock> {
    const database = new PostgresDatabase(url, 'metadata')
    const lock = new PostgresNodeLock(database, holder, mode)
    const holding = await lock.connectAndLock()
    if (holding !== true) {
      const others = holding.length === 1 ? `another wharf process (${holding[0]})` : `${holding.length} other wharf processes (${holding.join('; ')})`
      throw new MetadataInUseError(`metadata database ${database.where} is in use by ${others}; ${why}`)
    }
    return lock
  }

  get held(): boolean {
    return this.client !== undefined
  }

  /** True when taken; else a description of each holder. */
  private async connectAndLock(): Promise<true | string[]> {
    const client = new pg.Client(this.database.clientOptions(this.holder))
    client.on('error', () => this.lost(client))
    const take = this.mode === 'shared' ? 'pg_try_advisory_lock_shared' : 'pg_try_advisory_lock'
    try {
      await client.connect()
      const [row] = (await client.query<{ taken: boolean }>(`SELECT ${take}($1, $2) AS taken`, [...NODE_LOCK])).rows
      if (row?.taken === true) {
        this.client = client
        return true
      }
      const others = (await client.query<{ name: string; addr: string | null; since: Date }>(
        `SELECT a.application_name AS name, host(a.client_addr) AS addr, a.backend_start AS since
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.granted ORDER BY a.backend_start`, [...NODE_LOCK])).rows
      await client.end().catch(() => undefined)
      return others.length === 0 ? ['a process that just released it'] : others.map((other) => `${other.name} from ${other.addr ?? 'a local socket'} since ${other.since.toISOString()}`)
    } catch (err) {
      await client.end().catch(() => undefined)
      throw this.database.unavailable(err)
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return
    this.client = undefined
    client.end().catch(() => undefined)
    this.scheduleRetake()
  }

  private scheduleRetake(): void {
    if (this.released || this.retake !== undefined) return
    this.retake = setTimeout(() => {
      this.retake = undefined
      if (this.released) return
      this.connectAndLock().then((taken) => { if (taken !== true) this.scheduleRetake() }, () => this.scheduleRetake())
    }, RETAKE_INTERVAL_MS)
    this.retake.unref()
  }

  async release(): Promise<void> {
    this.released = true
    clearTimeout(this.retake)
    const client = this.client
    this.client = undefined
    // Ending the session releases its advisory locks.
    await client?.end().catch(() => undefined)
  }
}
