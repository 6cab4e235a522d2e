import { count, mapping, only, text, type Fail } from './fields.js'

/** Where the metadata lives: SQLite in the data directory (the default), or a PostgreSQL database. */
export interface MetadataConfig {
  readonly driver: 'sqlite' | 'postgres'
  /** Set when driver is postgres. */
  readonly postgres: PostgresConfig | null
}

export interface PostgresConfig {
  /** postgres://user:password@host:port/database; the password never reaches a log or a message. */
  readonly url: string
  /** Connections at most. */
  readonly poolSize: number
}

export const DEFAULT_METADATA: MetadataConfig = { driver: 'sqlite', postgres: null }

const DRIVERS: ReadonlyArray<MetadataConfig['driver']> = ['sqlite', 'postgres']

/**
 * The `metadata` section; WHARF_METADATA_DRIVER, WHARF_METADATA_POSTGRES_URL and
 * WHARF_METADATA_POSTGRES_POOLSIZE override it (the URL, which holds the password, can stay out of the file).
 */
export function parseMetadata(value: unknown, env: Readonly<Record<string, string | undefined>>, fail: Fail): MetadataConfig {
  const section = value === undefined || value === null ? {} : mapping(value, 'metadata', fail)
  only(section, ['driver', 'postgres'], 'metadata', fail)
  const driver = env.WHARF_METADATA_DRIVER ?? section.driver ?? DEFAULT_METADATA.driver
  if (!DRIVERS.includes(driver as MetadataConfig['driver'])) fail(`metadata.driver must be one of ${DRIVERS.join(', ')}`)
  const file = section.postgres === undefined || section.postgres === null ? {} : mapping(section.postgres, 'metadata.postgres', fail)
  only(file, ['url', 'poolSize'], 'metadata.postgres', fail)
  const url = env.WHARF_METADATA_POSTGRES_URL ?? file.url
  const poolSize = env.WHARF_METADATA_POSTGRES_POOLSIZE ?? file.poolSize
  if (driver !== 'postgres') {
    if (url !== undefined || poolSize !== undefined) fail('metadata.postgres is set but metadata.driver is not postgres')
    return { driver: driver as MetadataConfig['driver'], postgres: null }
  }
  if (url === undefined) fail('metadata.driver postgres needs metadata.postgres.url (or WHARF_METADATA_POSTGRES_URL)')
  const checked = text(url, 'metadata.postgres.url', fail)
  if (!/^postgres(ql)?:\/\//.test(checked)) fail('metadata.postgres.url must be a postgres:// URL')
  return { driver: 'postgres', postgres: { url: checked, poolSize: count(poolSize, 10, 'metadata.postgres.poolSize', fail) } }
}
