import pg from 'pg'

/** How long opening one connection may take (waiting for a free pooled connection has no limit: a lock waits its turn). */
const CONNECT_TIMEOUT_MS = 10_000

/** What a database is to Wharf, as messages name it ("metadata database …", "coordination database …"). */
export type DatabaseRole = 'metadata' | 'coordination'

/**
 * A PostgreSQL database as messages name it: host:port/database, never the password (a pg error
 * could repeat the connection string; `scrub` takes the password out of any text). The metadata
 * store and coordination each reach theirs through one.
 */
export class PostgresDatabase {
  readonly where: string
  private readonly password: string

  constructor(readonly url: string, readonly role: DatabaseRole) {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      // URL's own error repeats its input, password and all.
      throw new Error(`the ${role} database URL is not valid: expected postgres://user:password@host:port/database`)
    }
    this.password = decodeURIComponent(parsed.password)
    // A socket directory may come as ?host=/run/postgresql instead of a host name.
    this.where = `${parsed.hostname || parsed.searchParams.get('host') || 'localhost'}:${parsed.port || '5432'}${parsed.pathname}`
  }

  scrub(text: string): string {
    return this.password === '' ? text : text.split(this.password).join('***')
  }

  /** The reason `err` gives, password removed. */
  reason(err: unknown): string {
    const e = err as { code?: unknown; message?: unknown }
    const message = typeof e?.message === 'string' ? e.message : String(err)
    const code = typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ` : ''
    return this.scrub(`${code}${message}`)
  }

  /** "Cannot reach the database" as a clear error (code METADATA_UNAVAILABLE or COORDINATION_UNAVAILABLE). */
  unavailable(err: unknown): Error {
    return Object.assign(new Error(`${this.role} database ${this.where} is unavailable: ${this.reason(err)}`), { code: `${this.role.toUpperCase()}_UNAVAILABLE` })
  }

  /** Options of every connection: named in pg_stat_activity, kept alive, bounded connect time. */
  clientOptions(purpose: string): pg.ClientConfig {
    return { connectionString: this.url, application_name: `wharf: ${purpose}`.slice(0, 63), keepAlive: true, connectionTimeoutMillis: CONNECT_TIMEOUT_MS }
  }

  /**
   * A pool whose waiters for a free connection wait as long as it takes, while opening a
   * connection is bounded (pg-pool would apply one timeout to both).
   */
  pool(purpose: string, max: number): pg.Pool {
    const options = this.clientOptions(purpose)
    class BoundedConnectClient extends pg.Client {
      constructor(config?: pg.ClientConfig) {
        super({ ...config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
      }
    }
    return new pg.Pool({ ...options, connectionTimeoutMillis: 0, max, Client: BoundedConnectClient })
  }
}
