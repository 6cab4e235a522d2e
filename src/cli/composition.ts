import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import type { Config } from '../config/config.js'
import type { Coordination } from '../coordination/coordination.js'
import { InProcessCoordination } from '../coordination/in-process.js'
import { systemClock, type Clock } from '../context/clock.js'
import type { EventBus } from '../events/events.js'
import { InProcessEventBus } from '../events/in-process-bus.js'
import { GarbageCollector, type GcOptions } from '../gc/collector.js'
import type { AccessControl, AppOptions } from '../http/app.js'
import { challengeSettingsFrom } from '../http/auth-challenge.js'
import { OPEN_POLICY, RulesPolicy } from '../access/rules-policy.js'
import { CredentialAuthenticator, OPEN_AUTHENTICATOR } from '../auth/authenticator.js'
import { defaultAuthParts, type AuthParts, type AuthPartsFactory } from './auth-parts.js'
import { authDirectoryOf } from '../config/auth-config.js'
import type { AccessPolicy } from '../access/policy.js'
import { createLogger } from '../logging.js'
import { Metrics } from '../metrics/metrics.js'
import { isNotificationQueue, isSharedMaintenanceMode, type MetadataMaintenance, type MetadataStore } from '../metadata/metadata-store.js'
import type { NotificationEndpointStats, Notifications, NotificationStatsSource } from '../notifications/notifications.js'
import type { PostgresMetadataStore } from '../metadata/postgres-metadata-store.js'
import type { PostgresCoordination } from '../coordination/postgres-coordination.js'
import { SqliteMetadataStore, type SqliteMetadataStoreOptions } from '../metadata/sqlite-metadata-store.js'
import { BlobService } from '../registry/blobs.js'
import { ListingService } from '../registry/listings.js'
import { MaintenanceState } from '../registry/maintenance.js'
import { ManifestService } from '../registry/manifests.js'
import { RegistryBrowser } from '../registry/browse.js'
import { Registry } from '../registry/registry.js'
import { UploadService } from '../registry/uploads.js'
import { CommandFailure } from './failure.js'
import { pullThroughCacheFrom } from './proxy-parts.js'
import type { BlobStore } from '../storage/blob-store.js'
import { FilesystemBlobStore } from '../storage/fs-blob-store.js'

/** Everything the registry and the collector depend on, built in this order. */
export interface Components {
  readonly logger: Logger
  readonly clock: Clock
  readonly coordination: Coordination
  readonly events: EventBus
  readonly blobStore: BlobStore
  /** Both parts: the services use the serving part, the collector, fsck and disk usage the maintenance part. */
  readonly metadata: MetadataStore & MetadataMaintenance
}

/** What the defaults are, so that a wrapper can reach the concrete store it wraps. */
interface Defaults {
  readonly logger: Logger
  readonly clock: Clock
  /** PostgresCoordination when the metadata is in PostgreSQL (several nodes may share it). */
  readonly coordination: InProcessCoordination | PostgresCoordination
  readonly events: InProcessEventBus
  /** FilesystemBlobStore or S3BlobStore, as `storage.driver` says. */
  readonly blobStore: BlobStore
  readonly metadata: SqliteMetadataStore | PostgresMetadataStore
}

/**
 * Replaces or wraps a component: `build` makes the default (only when called), `built` holds the
 * components made before it. Wrap: `blobStore: async (build) => new FaultyStore(await build())`;
 * replace: `clock: () => fakeClock`.
 */
export type Overrides = {
  readonly [K in keyof Components]?: (build: () => Promise<Defaults[K]>, built: Partial<Components>) => Components[K] | Promise<Components[K]>
}

/** A composed Wharf: the registry (which owns and closes the stores) and the components it was made of. */
export interface Wharf {
  readonly config: Config
  readonly components: Components
  readonly registry: Registry
  /**
   * Who may do what, for the HTTP app: open (everyone anonymous, everything allowed) without an
   * `auth` section; else the registry's policy with an authenticator over the auth parts, built
   * on the first call only (offline commands never open the password file, robots or keys).
   */
  accessControl(): Promise<AccessControl>
  /**
   * The server's metrics, built on the first call (offline commands never start the event-loop
   * monitor or subscribe to the bus); undefined when `metrics.enabled` is false.
   */
  metrics(): Metrics | undefined
  /** Webhooks, when endpoints are configured: events are queued from the start; `serve` starts delivery. */
  readonly notifications?: Notifications
  close(): Promise<void>
}

/** How the default components are built, beyond the configuration. */
export interface ComposeOptions {
  /**
   * Options of the default SQLite metadata store: what happens when its writer thread dies
   * (`onWriterFailure`; by default the process exits with status 70) and how many writes may be
   * posted to it at once (`maxQueuedWrites`). Its invalidation channel is always the composed coordination.
   */
  readonly sqlite?: Omit<SqliteMetadataStoreOptions, 'invalidation'>
  /**
   * Builds the password file, robot tokens, login throttle and token service when `config.auth`
   * is set and the access control is first asked for (defaultAuthParts by default); tests pass their own.
   */
  readonly authParts?: AuthPartsFactory
  /**
   * The command that works on the store ("wharf serve", "wharf gc"): with PostgreSQL and blobs on
   * local disk, the database is held for this process alone (another node's blobs would be on
   * another disk), as the storage lock holds the data directory. With blobs in S3, nodes share
   * the database and the bucket under PostgresCoordination: each holds the database shared, and
   * a command that must be `alone` (fsck) holds it exclusive.
   */
  readonly holder?: string
  /** With `holder`: no other process may work on the store meanwhile, even with blobs in S3. */
  readonly alone?: boolean
  /**
   * Other processes of this machine serve the same store (the workers of `serve --workers`): they
   * queue webhook events too, so each endpoint's dispatcher looks at the queue while idle.
   */
  readonly sharedStore?: boolean
}

/**
 * The composition root: every command and every in-process test builds Wharf here from the
 * configuration, replacing or wrapping components through `overrides`.
 */
export async function compose(config: Config, overrides: Overrides = {}, options: ComposeOptions = {}): Promise<Wharf> {
  const built: { -readonly [K in keyof Components]?: Components[K] } = {}
  const make = async <K extends keyof Components>(key: K, build: () => Promise<Defaults[K]>): Promise<Components[K]> => {
    const override = overrides[key]
    const component = override !== undefined ? await override(build, { ...built }) : await build()
    built[key] = component
    return component
  }
  try {
    const logger = await make('logger', async () => createLogger(config.log.level))
    const clock = await make('clock', async () => systemClock)
    const coordination = await make('coordination', () => openCoordination(config, logger))
    const events = await make('events', async () => new InProcessEventBus(clock, logger.child({ component: 'events' })))
    const blobStore = await make('blobStore', () => openBlobStore(config))
    const metadata = await make('metadata', async () => {
      if (config.metadata.postgres !== null) {
        // Loaded only when configured: pg costs every SQLite user's start-up otherwise.
        const { PostgresMetadataStore } = await import('../metadata/postgres-metadata-store.js')
        const { MetadataInUseError } = await import('../coordination/postgres-node-lock.js')
        const { url, poolSize } = config.metadata.postgres
        const holder = options.holder === undefined ? {} : { holder: nodeLockOf(config, options.holder, options.alone === true) }
        return PostgresMetadataStore.open({ url, poolSize, invalidation: coordination, ...holder })
          .catch((err: unknown) => { throw err instanceof MetadataInUseError || isUnavailable(err) ? new CommandFailure((err as Error).message) : err })
      }
      const sqlite = new SqliteMetadataStore(path.join(config.storage.path, 'metadata.db'), { ...options.sqlite, invalidation: coordination })
      try {
        await sqlite.ready
      } catch (err) {
        await sqlite.close().catch(() => undefined)
        throw err
      }
      return sqlite
    })
    const policy = config.auth === null ? OPEN_POLICY : new RulesPolicy(config.auth)
    // Nodes on one PostgreSQL database follow one read-only mode.
    const sharedMode = config.metadata.postgres !== null && isSharedMaintenanceMode(metadata) ? { shared: metadata } : {}
    const maintenance = new MaintenanceState({ readOnly: config.maintenance.readOnly, clock, log: logger.child({ component: 'maintenance' }), ...sharedMode })
    const uploads = new UploadService(metadata, blobStore, coordination, clock, events, policy, maintenance)
    const proxy = await pullThroughCacheFrom(config, { metadata, store: blobStore, uploads, clock, policy, log: logger.child({ component: 'proxy' }) })
    const registry = new Registry({
      blobs: new BlobService(metadata, blobStore, clock, events, config.gc.graceSeconds * 1000, maintenance, proxy, redirectOf(config)),
      uploads,
      manifests: new ManifestService(metadata, clock, events, maintenance, proxy),
      proxy,
      listings: new ListingService(metadata, config.limits.pageMaxEntries, policy),
      browser: new RegistryBrowser({ metadata, store: blobStore, policy, isCached: (name) => proxy.isCached(name), retention: config.retention, clock }),
      gc: new GarbageCollector({ metadata, store: blobStore, uploads, coordination, clock, events, log: logger.child({ component: 'gc' }) }),
      metadata,
      store: blobStore,
      policy,
      maintenance,
    })
    const components: Components = { logger, clock, coordination, events, blobStore, metadata }
    const notifications = await buildNotifications(config, components, config.metadata.postgres !== null || options.sharedStore === true)
    let access: Promise<{ control: AccessControl; parts?: AuthParts }> | undefined
    const accessControl = (): Promise<AccessControl> => {
      access ??= buildAccessControl(config, policy, options.authParts ?? defaultAuthParts, logger)
      return access.then((built) => built.control)
    }
    let metrics: Metrics | undefined
    const metricsOf = (): Metrics | undefined => {
      if (config.metrics.enabled) {
        if (metrics === undefined) {
          metrics = new Metrics({ events, metadata, onError: (err) => logger.warn({ err }, 'failed to read the storage figures for metrics') })
          if (notifications !== undefined) registerNotificationMetrics(metrics, notifications)
        }
      }
      return metrics
    }
    const close = async (): Promise<void> => {
      metrics?.close()
      const parts = await access?.then((built) => built.parts, () => undefined)
      try {
        // Before the store closes: what was published is queued first.
        await notifications?.close()
        await parts?.close?.()
      } finally {
        try {
          await registry.close()
        } finally {
          await coordination.close()
        }
      }
    }
    return { config, components, registry, accessControl, metrics: metricsOf, ...(notifications !== undefined ? { notifications } : {}), close }
  } catch (err) {
    await built.metadata?.close().catch(() => undefined)
    await built.blobStore?.close().catch(() => undefined)
    await built.coordination?.close().catch(() => undefined)
    throw err
  }
}

/**
 * In-process coordination, or with the metadata in PostgreSQL, coordination of every node on that
 * database (advisory locks, leases, LISTEN/NOTIFY): a node's locks and collections must hold
 * against the others' even where it alone serves, since `wharf gc` may run beside it.
 */
async function openCoordination(config: Config, logger: Logger): Promise<InProcessCoordination | PostgresCoordination> {
  if (config.metadata.postgres === null) return new InProcessCoordination()
  // Loaded only when configured, as the store.
  const { PostgresCoordination } = await import('../coordination/postgres-coordination.js')
  const log = logger.child({ component: 'coordination' })
  return PostgresCoordination.open({ url: config.metadata.postgres.url, poolSize: config.metadata.postgres.poolSize, warn: (message) => log.warn(message) })
    .catch((err: unknown) => { throw isUnavailable(err) ? new CommandFailure((err as Error).message) : err })
}

/** How `holder` holds the database, and what a refusal tells to do. */
export function nodeLockOf(config: Config, holder: string, alone: boolean): { name: string; mode: 'exclusive' | 'shared'; why: string } {
  if (config.storage.driver !== 's3') return { name: holder, mode: 'exclusive', why: 'with blobs on local disk one process works on a database: stop the other one first' }
  if (alone) return { name: holder, mode: 'exclusive', why: `${holder} needs the nodes stopped (their uploads and commits in flight would read as damage)` }
  return { name: holder, mode: 'shared', why: `${holder} works beside nodes, not beside a process that needs them stopped: wait for it to end` }
}

/** PostgresDatabase's "cannot reach the database" error (its message names the database, never the password). */
function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: string }).code
  return err instanceof Error && (/^(metadata|coordination) database .* is unavailable/.test(err.message) || code === 'METADATA_UNAVAILABLE' || code === 'COORDINATION_UNAVAILABLE')
}

/** Where the S3 blob store fills the parts of uploads being appended (local disk, never memory). */
export function s3BufferDirectory(config: Config): string {
  return path.join(config.storage.path, 's3-buffers')
}

/**
 * The blob store `storage.driver` names. S3: the bucket is checked before anything is served (an
 * unreachable endpoint or refused keys fail the start), and parts being filled are buffered under
 * <storage.path>/s3-buffers.
 */
async function openBlobStore(config: Config): Promise<BlobStore> {
  const s3 = config.storage.s3
  if (config.storage.driver !== 's3' || s3 === null) return FilesystemBlobStore.open(config.storage.path)
  const bufferDirectory = s3BufferDirectory(config)
  await mkdir(bufferDirectory, { recursive: true })
  // Loaded only when configured: the AWS SDK costs every other start-up tens of milliseconds.
  const { S3BlobStore } = await import('../storage/s3-blob-store.js')
  return S3BlobStore.open({
    endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey,
    forcePathStyle: s3.forcePathStyle, prefix: s3.prefix, partSize: s3.partSize, bufferDirectory,
  })
}

/** Blob GETs answered with a redirect to object storage (`storage.s3.redirect`), or undefined to stream them. */
function redirectOf(config: Config): { readonly expirySeconds: number } | undefined {
  const s3 = config.storage.s3
  return config.storage.driver === 's3' && s3 !== null && s3.redirect ? { expirySeconds: s3.redirectExpirySeconds } : undefined
}

/** Webhook delivery figures, read from the queue at each scrape (failed deliveries are what alerts watch). */
function registerNotificationMetrics(metrics: Metrics, notifications: NotificationStatsSource): void {
  let snapshot: Promise<NotificationEndpointStats[]> | undefined
  // One read of the queue per scrape, shared by the four metrics (they are collected one after another).
  const stats = (): Promise<NotificationEndpointStats[]> => {
    snapshot ??= notifications.stats().finally(() => { setImmediate(() => { snapshot = undefined }) })
    return snapshot
  }
  const series = (value: (s: NotificationEndpointStats) => number) => async () => (await stats()).map((s) => ({ labels: { endpoint: s.endpoint }, value: value(s) }))
  metrics.register({ name: 'wharf_notifications_pending', help: 'Events queued for the endpoint and not delivered yet', type: 'gauge', collect: series((s) => s.pending) })
  metrics.register({ name: 'wharf_notifications_oldest_pending_age_seconds', help: 'How long the oldest undelivered event of the endpoint has waited', type: 'gauge', collect: series((s) => s.oldestPendingAgeSeconds) })
  metrics.register({ name: 'wharf_notifications_delivered_total', help: 'Events the endpoint accepted', type: 'counter', collect: series((s) => s.delivered) })
  metrics.register({ name: 'wharf_notifications_failed_attempts_total', help: 'Delivery attempts that failed (refused, timed out or answered with an error status)', type: 'counter', collect: series((s) => s.failedAttempts) })
  metrics.register({ name: 'wharf_notifications_consecutive_failures', help: 'Failed attempts since the endpoint last accepted a delivery', type: 'gauge', collect: series((s) => s.consecutiveFailures) })
}

/** Webhooks over the metadata store's queue, when `notifications.endpoints` names any. */
async function buildNotifications(config: Config, components: Components, sharedQueue: boolean): Promise<Notifications | undefined> {
  if (config.notifications.endpoints.length === 0) return undefined
  if (!isNotificationQueue(components.metadata)) throw new Error('notifications need a metadata store that keeps their queue')
  // Loaded only when used: the HTTP client costs every command's start-up otherwise.
  const { Notifications } = await import('../notifications/notifications.js')
  return new Notifications({
    endpoints: config.notifications.endpoints, queue: components.metadata, events: components.events, clock: components.clock,
    coordination: components.coordination, sharedQueue,
    log: components.logger.child({ component: 'notifications' }), https: config.http.tls !== null,
  })
}

/** The open access control without `auth`; else `policy` (the rules of `auth`) and an authenticator over the parts `authParts` builds. */
async function buildAccessControl(config: Config, policy: AccessPolicy, authParts: AuthPartsFactory, logger: Logger): Promise<{ control: AccessControl; parts?: AuthParts }> {
  const auth = config.auth
  if (auth === null) return { control: { policy, authenticator: OPEN_AUTHENTICATOR, challenge: { service: 'wharf' } } }
  const parts = await authParts(auth, authDirectoryOf(config), logger)
  const authenticator = new CredentialAuthenticator({
    passwords: parts.passwordFile, robots: parts.robots, throttle: parts.throttle, ...(parts.tokens !== undefined ? { tokens: parts.tokens } : {}),
  })
  const tokens = parts.tokens !== undefined ? { tokens: parts.tokens, service: auth.token.service } : undefined
  return { control: { policy, authenticator, challenge: challengeSettingsFrom(auth), ...(tokens !== undefined ? { tokens } : {}) }, parts }
}

/** Collection options from the configuration (dryRun is the caller's). */
export function gcOptionsFrom(config: Config): Omit<GcOptions, 'dryRun'> {
  return {
    graceMs: config.gc.graceSeconds * 1000,
    uploadTtlMs: config.uploads.ttlSeconds * 1000,
    retention: config.retention,
  }
}

/** The HTTP app's options from the configuration. */
export function appOptionsFrom(config: Config, logger: Logger, access?: AccessControl, metrics?: Metrics): AppOptions {
  return {
    logger,
    ...(access !== undefined ? { access } : {}),
    ...(metrics !== undefined ? { metrics: { collector: metrics, route: config.metrics.address === undefined } } : {}),
    logRequests: config.log.requests,
    manifestMaxBytes: config.limits.manifestMaxBytes,
    manifestBytesInFlight: config.limits.manifestBytesInFlight,
    idleTimeoutMs: config.http.idleTimeoutSeconds * 1000,
    headersTimeoutMs: config.http.headersTimeoutSeconds * 1000,
    maxHeaderBytes: config.http.maxHeaderBytes,
    uploadsPerClient: config.limits.uploadsPerClient,
    uploadsTotal: config.limits.uploadsTotal,
    uploadMinBytesPerSecond: config.limits.uploadMinBytesPerSecond,
    uploadMinRateGraceMs: config.limits.uploadMinRateGraceSeconds * 1000,
    gc: gcOptionsFrom(config),
  }
}
