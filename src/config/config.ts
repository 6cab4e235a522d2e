import { readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { parse as parseYaml } from 'yaml'
import type { RetentionPolicy } from '../gc/retention.js'
import { parseAuth, parseTls, type AuthConfig, type TlsConfig } from './auth-config.js'
import { DEFAULT_METADATA, parseMetadata, type MetadataConfig } from './metadata-config.js'
import { parseS3Storage, STORAGE_DRIVERS, type S3StorageConfig, type StorageDriver } from './storage-config.js'
import { DEFAULT_METRICS, NO_NOTIFICATIONS, NO_PROXY, parseMetrics, parseNotifications, parseProxy, type MetricsConfig, type NotificationsConfig, type ProxyConfig } from './operations-config.js'

/** Wharf's configuration: every option with its default. config.example.yaml documents each one. */
export interface Config {
  readonly http: {
    readonly host: string
    readonly port: number
    /** A connection that sends or receives nothing this long is closed (slow or stalled clients). */
    readonly idleTimeoutSeconds: number
    /** A client must finish sending request headers within this time (slowloris). */
    readonly headersTimeoutSeconds: number
    /** Largest request header block in bytes; larger requests get 431. */
    readonly maxHeaderBytes: number
    /** HTTPS; null: plain HTTP (the default, for a LAN). */
    readonly tls: TlsConfig | null
    /**
     * On SIGTERM, /readyz answers 503 at once and requests are still served this long before the
     * listener closes, so a load balancer takes the node out first; 0: close at once.
     */
    readonly shutdownDrainSeconds: number
    /**
     * Processes serving (`serve --workers`): 1 serves in the one process; more fork that many
     * workers sharing the port, the primary holding their locks. `auto` in the file or the
     * environment is resolved here to one per core.
     */
    readonly workers: number
  }
  readonly storage: {
    /** Data directory: metadata.db and the storage lock; blobs and uploads too with the filesystem driver. */
    readonly path: string
    /** Where blobs and uploads live: files under `path`, or an S3 bucket (`s3`). */
    readonly driver: StorageDriver
    /** The bucket, when `driver` is s3; null otherwise. */
    readonly s3: S3StorageConfig | null
  }
  /** SQLite in the data directory, or PostgreSQL. */
  readonly metadata: MetadataConfig
  readonly limits: {
    readonly manifestMaxBytes: number
    /** Manifest bytes being read, parsed and stored at once; more PUTs wait their turn (memory bound). */
    readonly manifestBytesInFlight: number
    /** Largest page of tags or repositories per request. */
    readonly pageMaxEntries: number
    /** Uploads (blob bodies) streaming at once from one client address; more get 429. */
    readonly uploadsPerClient: number
    /** Uploads streaming at once in total; more get 429 (the last quarter is kept for clients holding few). */
    readonly uploadsTotal: number
    /** Request bodies (blobs, manifests) slower than this over a whole grace window are cut off with 408; 0: never. */
    readonly uploadMinBytesPerSecond: number
    /** The window that rate is measured over (time spent waiting for the client only). */
    readonly uploadMinRateGraceSeconds: number
  }
  readonly uploads: {
    /** Upload sessions idle this long are ended and their bytes removed. */
    readonly ttlSeconds: number
  }
  readonly gc: {
    /** Seconds between scheduled collections inside the server; 0 disables the schedule. */
    readonly intervalSeconds: number
    /** Manifests, links and files younger than this are never collected. */
    readonly graceSeconds: number
  }
  readonly log: {
    readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
    /** One line per request. */
    readonly requests: boolean
  }
  /** Retention policies, first match per repository wins; applied by every collection. */
  readonly retention: readonly RetentionPolicy[]
  /** Access control; null: open to anyone who can connect (said in the start-up log line). */
  readonly auth: AuthConfig | null
  readonly maintenance: {
    /** Pulls work, every write is refused; the admin API can change it at run time. */
    readonly readOnly: boolean
  }
  readonly metrics: MetricsConfig
  /** Webhooks: registry:2's event envelope, queued durably and retried. */
  readonly notifications: NotificationsConfig
  /** The pull-through cache: repositories under a prefix are fetched from an upstream registry. */
  readonly proxy: ProxyConfig
}

export const DEFAULT_CONFIG: Config = {
  http: { host: '127.0.0.1', port: 5000, idleTimeoutSeconds: 120, headersTimeoutSeconds: 30, maxHeaderBytes: 16384, tls: null, shutdownDrainSeconds: 0, workers: 1 },
  storage: { path: './storage', driver: 'filesystem', s3: null },
  metadata: DEFAULT_METADATA,
  limits: { manifestMaxBytes: 4 * 1024 * 1024, manifestBytesInFlight: 8 * 1024 * 1024, pageMaxEntries: 10_000, uploadsPerClient: 64, uploadsTotal: 512, uploadMinBytesPerSecond: 1024, uploadMinRateGraceSeconds: 10 },
  uploads: { ttlSeconds: 24 * 60 * 60 },
  gc: { intervalSeconds: 24 * 60 * 60, graceSeconds: 60 * 60 },
  log: { level: 'info', requests: false },
  retention: [],
  auth: null,
  maintenance: { readOnly: false },
  metrics: DEFAULT_METRICS,
  notifications: NO_NOTIFICATIONS,
  proxy: NO_PROXY,
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

type Shape = Record<string, Record<string, unknown>>

const POLICY_NUMBERS = ['keepLast', 'maxAgeSeconds', 'untaggedMaxAgeSeconds'] as const
const POLICY_STRINGS = ['repositories', 'keepTags'] as const

function parseRetention(value: unknown): RetentionPolicy[] {
  if (value === null || value === undefined) return []
  if (!Array.isArray(value)) throw new ConfigError('retention must be a list of policies')
  return value.map((entry: unknown, i) => {
    const where = `retention[${i}]`
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(`${where} must be a mapping`)
    const policy = entry as Record<string, unknown>
    for (const key of Object.keys(policy)) {
      if (!(POLICY_NUMBERS as readonly string[]).includes(key) && !(POLICY_STRINGS as readonly string[]).includes(key)) {
        throw new ConfigError(`unknown option "${where}.${key}"`)
      }
    }
    if (typeof policy.repositories !== 'string' || policy.repositories === '') throw new ConfigError(`${where}.repositories must be a glob`)
    if (policy.keepTags !== undefined && (typeof policy.keepTags !== 'string' || policy.keepTags === '')) throw new ConfigError(`${where}.keepTags must be a glob`)
    for (const key of POLICY_NUMBERS) {
      if (policy[key] !== undefined) coerce(`${where}.${key}`, policy[key], 0, false)
    }
    return policy as unknown as RetentionPolicy
  })
}

/** More workers than this is a typo, not a machine. */
const MAX_WORKERS = 256

/** `auto` (one per core) or a whole number of worker processes. */
function parseWorkers(where: string, value: unknown, fromText: boolean): number {
  if (value === 'auto') return availableParallelism()
  const number = fromText && typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1 || number > MAX_WORKERS) {
    throw new ConfigError(`${where} must be auto or a whole number from 1 to ${MAX_WORKERS}`)
  }
  return number
}

/** One option's value, from the file (`fromText` false) or text (environment, flags). */
function coerceOption(section: string, key: string, where: string, value: unknown, fallback: unknown, fromText: boolean): unknown {
  if (section === 'http' && key === 'workers') return parseWorkers(where, value, fromText)
  return coerce(where, value, fallback, fromText)
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

/** Checks one option's value against the type of its default; `where` names it in errors. */
function coerce(where: string, value: unknown, fallback: unknown, fromText: boolean): unknown {
  if (typeof fallback === 'number') {
    const number = fromText && typeof value === 'string' && value.trim() !== '' ? Number(value) : value
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) throw new ConfigError(`${where} must be a non-negative integer`)
    return number
  }
  if (typeof fallback === 'boolean') {
    if (fromText && (value === 'true' || value === 'false')) return value === 'true'
    if (typeof value !== 'boolean') throw new ConfigError(`${where} must be true or false`)
    return value
  }
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${where} must be a non-empty string`)
  return value
}

/**
 * Merges, in rising precedence: defaults, the YAML file, WHARF_<SECTION>_<OPTION> environment
 * variables (e.g. WHARF_HTTP_PORT, WHARF_STORAGE_PATH) and explicit overrides (command-line flags).
 * Unknown options are errors, so a typo never silently falls back to a default.
 */
export async function loadConfig(options: {
  readonly file?: string
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly overrides?: { readonly [S in keyof Config]?: Partial<Config[S]> }
} = {}): Promise<Config> {
  const {
    retention: _defaultRetention, auth: _defaultAuth, metrics: _defaultMetrics, metadata: _defaultMetadata, notifications: _defaultNotifications, proxy: _defaultProxy,
    http: { tls: _defaultTls, ...http }, storage: { s3: _defaultS3, ...storage }, ...sections
  } = DEFAULT_CONFIG
  const defaults = { http, storage, ...sections } as unknown as Shape
  const result: Shape = Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, { ...v }]))
  let retention: RetentionPolicy[] = []
  // Structured options are parsed by their own functions once the file is read.
  let authSection: unknown
  let tlsSection: unknown
  let s3Section: unknown
  const structured: Record<'metrics' | 'notifications' | 'proxy' | 'metadata', unknown> = { metrics: undefined, notifications: undefined, proxy: undefined, metadata: undefined }
  const fail = (message: string): never => { throw new ConfigError(message) }
  if (options.file !== undefined) {
    let document: unknown
    try {
      document = parseYaml(await readFile(options.file, 'utf8'))
    } catch (err) {
      throw new ConfigError(`cannot read config file ${options.file}: ${(err as Error).message}`)
    }
    if (document !== null && document !== undefined) {
      if (typeof document !== 'object' || Array.isArray(document)) throw new ConfigError('the config file must be a YAML mapping')
      for (const [section, values] of Object.entries(document as Record<string, unknown>)) {
        if (section === 'retention') { retention = parseRetention(values); continue }
        if (section === 'auth') { authSection = values; continue }
        if (section === 'metrics' || section === 'notifications' || section === 'proxy' || section === 'metadata') { structured[section] = values; continue }
        const defaultsOfSection = defaults[section]
        if (defaultsOfSection === undefined) throw new ConfigError(`unknown config section "${section}"`)
        if (typeof values !== 'object' || values === null || Array.isArray(values)) throw new ConfigError(`${section} must be a mapping`)
        for (const [key, value] of Object.entries(values)) {
          if (section === 'http' && key === 'tls') { tlsSection = value; continue }
          if (section === 'storage' && key === 's3') { s3Section = value; continue }
          if (!(key in defaultsOfSection)) throw new ConfigError(`unknown config option "${section}.${key}"`)
          result[section]![key] = coerceOption(section, key, `${section}.${key}`, value, defaultsOfSection[key], false)
        }
      }
    }
  }
  const env = options.env ?? {}
  for (const [section, values] of Object.entries(defaults)) {
    for (const key of Object.keys(values)) {
      const name = `WHARF_${section}_${key}`.toUpperCase()
      const value = env[name]
      if (value !== undefined) result[section]![key] = coerceOption(section, key, name, value, values[key], true)
    }
  }
  for (const [section, values] of Object.entries(options.overrides ?? {})) {
    for (const [key, value] of Object.entries(values ?? {})) {
      if (value !== undefined) result[section]![key] = coerceOption(section, key, `--${key}`, value, defaults[section]![key], true)
    }
  }
  const driver = result.storage!.driver as StorageDriver
  if (!STORAGE_DRIVERS.includes(driver)) fail(`storage.driver must be one of ${STORAGE_DRIVERS.join(', ')}`)
  const s3 = parseS3Storage(driver, s3Section, env, fail)
  const tls = parseTls(tlsSection, env, fail)
  const auth = parseAuth(authSection, env, fail)
  const metrics = parseMetrics(structured.metrics, env, fail)
  const notifications = parseNotifications(structured.notifications, fail)
  const proxy = parseProxy(structured.proxy, fail)
  const metadata = parseMetadata(structured.metadata, env, fail)
  const config = { ...result, http: { ...result.http, tls }, storage: { ...result.storage, s3 }, metadata, retention, auth, metrics, notifications, proxy } as unknown as Config
  if (!LOG_LEVELS.has(config.log.level)) throw new ConfigError(`log.level must be one of ${[...LOG_LEVELS].join(', ')}`)
  if (config.http.port > 65535) throw new ConfigError('http.port must be at most 65535')
  if (config.http.headersTimeoutSeconds < 1) throw new ConfigError('http.headersTimeoutSeconds must be at least 1')
  if (config.limits.uploadsPerClient < 1 || config.limits.uploadsTotal < 1) throw new ConfigError('limits.uploadsPerClient and limits.uploadsTotal must be at least 1')
  if (config.limits.pageMaxEntries < 1) throw new ConfigError('limits.pageMaxEntries must be at least 1')
  return config
}
