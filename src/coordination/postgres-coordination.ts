import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import type { Coordination, Lease } from './coordination.js'
import { KeyedMutex } from './keyed-mutex.js'
import { PostgresDatabase } from './postgres-database.js'
import { InvalidationChannel } from './postgres-invalidation.js'

/**
 * First keys of the session advisory locks taken here (the second is hashtext of the name),
 * apart from the metadata store's (0x57480000: migrations and the node lock, 0x57480001:
 * repositories) and from each other.
 */
export const ADVISORY_LOCK_SPACES = { lock: 0x57480002, lease: 0x57480003 } as const

export interface PostgresCoordinationOptions {
  /** postgres://user:password@host:port/database; the password never reaches a message. */
  readonly url: string
  /**
   * Connections for locks at most (default 10): one per key held at once by this process (nested
   * locks share their holder's). More locks wait for a free connection.
   */
  readonly poolSize?: number
  /** Where lost connections and unusable notifications are reported (default: nowhere). */
  readonly warn?: (message: string) => void
}

/** The lock was lost while its work ran (its connection broke): the work may have overlapped another holder's. */
export class CoordinationLockLostError extends Error {
  readonly code = 'COORDINATION_LOCK_LOST'
  constructor(message: string) {
    super(message)
    this.name = 'CoordinationLockLostError'
  }
}

/** A pooled connection holding advisory locks, shared by nested holders (work of a lock taking another lock). */
interface LockSession {
  readonly client: pg.PoolClient
  /** Holders using it; back to the pool at zero. */
  users: number
  /** Why the connection broke, once it did: every lock it held is gone. */
  lost: unknown
  readonly onError: (err: unknown) => void
}

const REFUSED = Symbol('refused')

/**
 * Coordination of several Wharf processes on one PostgreSQL database. Locks are session advisory
 * locks on pooled connections, behind an in-process KeyedMutex (work of this process on one key
 * queues here and uses one connection); leases are advisory locks on a connection of their own,
 * freed by PostgreSQL when their holder's session ends; invalidations go to the other processes
 * by NOTIFY.
 */
export class PostgresCoordination implements Coordination {
  private readonly local = new KeyedMutex()
  /** The lock session of the work running in this async context, reused by nested locks. */
  private readonly session = new AsyncLocalStorage<LockSession>()
  private readonly listeners = new Set<(repo: string | undefined) => void>()
  private readonly leases = new Map<string, pg.Client>()
  private readonly invalidation: InvalidationChannel
  private closed = false

  private constructor(private readonly db: PostgresDatabase, private readonly pool: pg.Pool, private readonly warn: (message: string) => void) {
    // An idle pooled connection dropped by the server (a restart) must not crash the process.
    this.pool.on('error', () => undefined)
    this.invalidation = new InvalidationChannel(db, randomUUID(), {
      received: (repo) => this.notifyFromElsewhere(repo),
      relistened: () => this.notifyFromElsewhere(undefined),
      warn,
    })
  }

  /** Connects and listens for invalidations; rejects when the database cannot be reached. */
  static async open(options: PostgresCoordinationOptions): Promise<PostgresCoordination> {
    const db = new PostgresDatabase(options.url, 'coordination')
    const coordination = new PostgresCoordination(db, db.pool('coordination', options.poolSize ?? 10), options.warn ?? (() => undefined))
    try {
      await coordination.invalidation.start()
    } catch (err) {
      await coordination.pool.end().catch(() => undefined)
      throw err
    }
    return coordination
  }

  lock<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.local.run(key, () => this.holding([key], true, work)) as Promise<T>
  }

  lockAll<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort()
    if (sorted.length === 0) return work()
    return this.local.runAll(sorted, () => this.holding(sorted, true, work)) as Promise<T>
  }

  /** Refused while this process holds or waits for `key`, or another session holds it (a waiter elsewhere holds nothing yet). */
  async tryLock<T>(key: string, work: () => Promise<T>): Promise<T | undefined> {
    const result = await this.local.tryRun(key, () => this.holding([key], false, work))
    return result === REFUSED ? undefined : result
  }

  /**
   * Runs `work` holding the advisory locks of `keys` (the local ones are held already), waiting
   * for them or, unless `wait`, giving up (REFUSED) when another session holds one.
   */
  private async holding<T>(keys: readonly string[], wait: boolean, work: () => Promise<T>): Promise<T | typeof REFUSED> {
    if (this.closed) throw new Error('coordination is closed')
    const session = await this.checkOut()
    try {
      const hashes = await this.take(session, keys, wait)
      if (hashes === undefined) return REFUSED
      let outcome: { readonly value: T } | { readonly error: unknown }
      try {
        outcome = { value: await this.session.run(session, work) }
      } catch (error) {
        outcome = { error }
      }
      // A failed holder releases too; a lost connection released everything already.
      if (session.lost === undefined) await this.unlock(session, hashes).catch((err: unknown) => { session.lost ??= err })
      if ('error' in outcome) throw outcome.error
      if (session.lost !== undefined) {
        throw new CoordinationLockLostError(`the lock on ${keys.join(', ')} was lost while its work ran (the connection to coordination database ` +
          `${this.db.where} broke: ${this.db.reason(session.lost)}); another process may have held it meanwhile`)
      }
      return outcome.value
    } finally {
      this.checkIn(session)
    }
  }

  /** The session of the enclosing lock (nested locks never need a second connection), or a pooled one. */
  private async checkOut(): Promise<LockSession> {
    const enclosing = this.session.getStore()
    if (enclosing !== undefined && enclosing.users > 0 && enclosing.lost === undefined) {
      enclosing.users++
      return enclosing
    }
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (err) {
      throw this.db.unavailable(err)
    }
    // A checked-out client has no listener of the pool's: without one, a broken socket would crash the process.
    const session: LockSession = { client, users: 1, lost: undefined, onError: (err) => { session.lost ??= err } }
    client.on('error', session.onError)
    return session
  }

  private checkIn(session: LockSession): void {
    if (--session.users > 0) return
    session.client.off('error', session.onError)
    // A broken connection is closed instead of pooled.
    session.client.release(session.lost === undefined ? undefined : session.lost instanceof Error ? session.lost : true)
  }

  /** Takes the advisory locks of `keys` in the order of their hashes; undefined when refused (without waiting). */
  private async take(session: LockSession, keys: readonly string[], wait: boolean): Promise<number[] | undefined> {
    const q = async <R extends object>(text: string, values: unknown[]): Promise<R[]> => {
      try {
        return (await session.client.query<R>(text, values)).rows
      } catch (err) {
        // A lock wait ended by the server's shutdown or a broken socket: the connection is gone.
        if (isBrokenConnection(err)) session.lost ??= err
        throw session.lost !== undefined ? this.db.unavailable(err) : err
      }
    }
    const fn = wait ? 'pg_advisory_lock' : 'pg_try_advisory_lock'
    if (keys.length === 1) {
      const [row] = await q<{ hash: number; taken: boolean | string }>(`SELECT hashtext($2) AS hash, ${fn}($1, hashtext($2)) AS taken`, [ADVISORY_LOCK_SPACES.lock, keys[0]])
      return wait || row!.taken === true ? [row!.hash] : undefined
    }
    // The global order is that of the locks themselves: two keys with one hash are one lock.
    const hashes = (await q<{ hash: number }>('SELECT DISTINCT hashtext(k) AS hash FROM unnest($1::text[]) AS k ORDER BY hash', [keys])).map((row) => row.hash)
    const taken: number[] = []
    try {
      for (const hash of hashes) {
        const [row] = await q<{ taken: boolean | string }>(`SELECT ${fn}($1, $2::int4) AS taken`, [ADVISORY_LOCK_SPACES.lock, hash])
        if (!wait && row!.taken !== true) {
          await this.unlock(session, taken)
          return undefined
        }
        taken.push(hash)
      }
    } catch (err) {
      if (session.lost === undefined) await this.unlock(session, taken).catch((e: unknown) => { session.lost ??= e })
      throw err
    }
    return hashes
  }

  private async unlock(session: LockSession, hashes: readonly number[]): Promise<void> {
    for (const hash of [...hashes].reverse()) {
      const [row] = (await session.client.query<{ released: boolean }>('SELECT pg_advisory_unlock($1, $2::int4) AS released', [ADVISORY_LOCK_SPACES.lock, hash])).rows
      if (row?.released !== true) throw new Error(`advisory lock ${hash} was not held by its session`)
    }
  }

  async lease(name: string): Promise<Lease | undefined> {
    if (this.closed) throw new Error('coordination is closed')
    if (this.leases.has(name)) return undefined
    const client = new pg.Client(this.db.clientOptions(`coordination lease ${name}`))
    // Reserved before the first await, so that a second lease() of this process does not open a connection too.
    this.leases.set(name, client)
    let held = false
    const drop = (): void => {
      if (this.leases.get(name) === client) this.leases.delete(name)
      client.end().catch(() => undefined)
    }
    client.on('error', (err) => {
      if (held) this.warn(`coordination: lease ${name} lost with its connection to ${this.db.where}: ${this.db.reason(err)}`)
      held = false
      drop()
    })
    try {
      await client.connect()
      const [row] = (await client.query<{ taken: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS taken', [ADVISORY_LOCK_SPACES.lease, name])).rows
      held = row?.taken === true
    } catch (err) {
      drop()
      throw this.db.unavailable(err)
    }
    if (!held) {
      drop()
      return undefined
    }
    let released = false
    return {
      get held() { return held },
      release: async () => {
        if (released) return
        released = true
        // Unlocked before the session ends: its end is asynchronous on the server, and the next taker must not be refused meanwhile.
        if (held) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [ADVISORY_LOCK_SPACES.lease, name]).catch(() => undefined)
        held = false
        if (this.leases.get(name) === client) this.leases.delete(name)
        await client.end().catch(() => undefined)
      },
    }
  }

  /** Queues the NOTIFY first: a local listener that throws must not keep the other nodes stale. */
  invalidate(repo: string | undefined): void {
    this.invalidation.send(repo)
    this.notify(repo)
  }

  onInvalidate(listener: (repo: string | undefined) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Runs the local listeners. */
  private notify(repo: string | undefined): void {
    for (const listener of this.listeners) listener(repo)
  }

  /** Runs the local listeners on news from the database: a listener that throws has no caller to tell, so it is reported and the others still run. */
  private notifyFromElsewhere(repo: string | undefined): void {
    for (const listener of this.listeners) {
      try {
        listener(repo)
      } catch (err) {
        this.warn(`coordination: an invalidation listener failed on ${repo ?? 'every repository'}: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  }

  /** Stops listening, closes leases and, once their holders are done, the lock connections. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.invalidation.close()
    await Promise.all([...this.leases.values()].map((client) => client.end().catch(() => undefined)))
    this.leases.clear()
    await this.pool.end()
  }
}

/** Node socket errors, SQLSTATE class 08 (connection exception) and 57P01-57P03 (server shutting down or starting). */
function isBrokenConnection(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown }
  const code = typeof e?.code === 'string' ? e.code : ''
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || /^E[A-Z]+$/.test(code)) return true
  return /Connection terminated|Client has encountered a connection error|Connection closed/i.test(typeof e?.message === 'string' ? e.message : '')
}
