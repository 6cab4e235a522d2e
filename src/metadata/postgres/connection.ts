import pg from 'pg'
import { PostgresDatabase } from '../../coordination/postgres-database.js'

/** What a query group needs: one connection, inside the transaction its caller opened (or none). */
export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<R[]>
}

export interface PostgresConnectionOptions {
  /** postgres://user:password@host:port/database; the password never reaches a message. */
  readonly url: string
  /** Connections at most (default 10). */
  readonly poolSize?: number
}

/** SQLSTATEs a transaction is retried on: serialization failure and deadlock (the loser of either changed nothing). */
const RETRIED_CODES = new Set(['40001', '40P01'])
const MAX_ATTEMPTS = 5

/** While the database is unreachable, how often a probe tries it (so health comes back without traffic). */
const PROBE_INTERVAL_MS = 1000

/** Node socket errors, and SQLSTATE classes 08 (connection exception) and 57P01-57P03 (server shutting down or starting). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])

/** True when `err` says the database could not be reached or dropped the connection (not that a statement failed). */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown }
  const code = typeof e?.code === 'string' ? e.code : ''
  if (SOCKET_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true
  const message = typeof e?.message === 'string' ? e.message : ''
  return /Connection terminated|connection timeout|timeout expired|Client has encountered a connection error|Connection closed/i.test(message)
}

/**
 * int8 (COUNT, bigint columns) and numeric (SUM of bigint) as JavaScript numbers: sizes and
 * milliseconds stay far below 2^53. Set on this store's pool only, never globally.
 */
const TYPES = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return (value: string) => Number(value)
    return pg.types.getTypeParser(oid, format as 'text')
  }) as typeof pg.types.getTypeParser,
}

/**
 * The pool of one PostgreSQL metadata store: transactions with retries, errors that name the
 * database (host:port/name, never the password), and a health flag that follows the last call.
 */
export class PostgresConnection {
  private readonly pool: pg.Pool
  readonly database: PostgresDatabase
  private connectionFailed = false
  private closed = false
  private probe: NodeJS.Timeout | undefined

  constructor(options: PostgresConnectionOptions) {
    this.database = new PostgresDatabase(options.url, 'metadata')
    this.pool = new pg.Pool({ ...this.database.clientOptions('metadata'), max: options.poolSize ?? 10, types: TYPES })
    // An idle connection dropped by the server (a restart) must not crash the process: the pool
    // discards it and opens a new one on the next call.
    this.pool.on('error', () => this.markUnreachable())
  }

  /**
   * Unhealthy until a call or the probe reaches the database again: a readiness check that takes
   * a node out of its balancer's rotation must not keep it out once the database is back.
   */
  private markUnreachable(): void {
    this.connectionFailed = true
    if (this.probe !== undefined || this.closed) return
    this.probe = setTimeout(() => {
      this.probe = undefined
      if (this.closed || !this.connectionFailed) return
      // A failure schedules the next probe (failure() marks it unreachable again).
      this.query('SELECT 1').catch(() => undefined)
    }, PROBE_INTERVAL_MS)
    this.probe.unref()
  }

  /** False once closed, or while the last call failed to reach the database. */
  isHealthy(): boolean {
    return !this.closed && !this.connectionFailed
  }

  /** Runs `work` on one connection outside any explicit transaction. */
  async run<T>(work: (q: Queryable & { discard(): void }) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('metadata store is closed')
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (err) {
      throw this.failure(err)
    }
    // A checked-out client has no listener of the pool's: a socket error between two queries would crash the process.
    let broken: unknown
    const onError = (err: unknown): void => { broken = err; this.markUnreachable() }
    client.on('error', onError)
    const q = {
      query: async <R extends object>(text: string, values?: readonly unknown[]) => {
        if (broken !== undefined) throw broken
        return (await client.query<R>(text, values as unknown[])).rows
      },
      /** The connection's state is unknown (a failed ROLLBACK): closed instead of pooled. */
      discard: () => { broken ??= new Error('connection discarded') },
    }
    try {
      const result = await work(q)
      this.connectionFailed = false
      return result
    } catch (err) {
      // A statement that failed on a working connection (a constraint, say) still reached the database.
      if (isConnectionError(err)) broken ??= err
      else this.connectionFailed = false
      throw this.failure(err)
    } finally {
      client.off('error', onError)
      client.release(broken instanceof Error ? broken : broken !== undefined)
    }
  }

  /** One query on its own (autocommit). */
  async query<R extends object = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<R[]> {
    return this.run((q) => q.query<R>(text, values))
  }

  /**
   * Runs `work` in a READ COMMITTED transaction (each statement sees what committed before it:
   * a statement after a lock sees everything its previous holder wrote), retried from the start
   * on a serialization failure or deadlock, at most MAX_ATTEMPTS times.
   */
  async write<T>(work: (q: Queryable) => Promise<T>): Promise<T> {
    return this.transaction('BEGIN', work)
  }

  /** Runs `work` in a read-only snapshot: every statement sees the same committed state, and it takes no lock a write waits for. */
  async snapshot<T>(work: (q: Queryable) => Promise<T>): Promise<T> {
    return this.transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', work)
  }

  private async transaction<T>(begin: string, work: (q: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.run(async (q) => {
          await q.query(begin)
          try {
            const result = await work(q)
            await q.query('COMMIT')
            return result
          } catch (err) {
            if (!isConnectionError(err)) await q.query('ROLLBACK').catch(() => q.discard())
            throw err
          }
        })
      } catch (err) {
        const code = (err as { code?: string }).code
        if (code === undefined || !RETRIED_CODES.has(code)) throw err
        if (attempt >= MAX_ATTEMPTS) {
          throw new Error(`metadata database ${this.where}: transaction abandoned after ${attempt} attempts (${code}: ${(err as Error).message})`)
        }
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt))
      }
    }
  }

  /** host:port/database, for messages. */
  get where(): string {
    return this.database.where
  }

  /** A connection failure as a clear error naming the database; other errors as they are (with the password scrubbed, should one ever appear). */
  private failure(err: unknown): Error {
    if (isConnectionError(err)) {
      this.markUnreachable()
      return this.database.unavailable(err)
    }
    if (err instanceof Error) err.message = this.database.scrub(err.message)
    return err instanceof Error ? err : new Error(String(err))
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.probe)
    await this.pool.end()
  }
}

/**
 * Takes the lock of one repository until the transaction ends: every write that changes a
 * repository's manifests, tags or links holds it (see postgres-metadata-store.ts for why).
 */
export async function lockRepository(q: Queryable, repo: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [REPOSITORY_LOCK_SPACE, repo])
}

/** The first key of repository locks (the second is the name's hash); the migration lock has its own. */
const REPOSITORY_LOCK_SPACE = 0x57480001
export const MIGRATION_LOCK = [0x57480000, 1] as const
