import cluster from 'node:cluster'
import { rm } from 'node:fs/promises'
import type { Logger } from 'pino'
import { ConfigError, loadConfig, type Config } from '../config/config.js'
import { describeBlobStorage } from '../config/storage-config.js'
import { systemContext } from '../context/request-context.js'
import { buildApp } from '../http/app.js'
import { listenMetrics, parseAddress, type MetricsServer } from '../metrics/server.js'
import { describeCertificate, loadTlsMaterial, TlsFilesError, type TlsMaterial } from '../http/tls.js'
import { GcAlreadyRunningError } from '../gc/collector.js'
import { appOptionsFrom, compose, gcOptionsFrom, s3BufferDirectory, type ComposeOptions, type Overrides, type Wharf } from './composition.js'
import { checkOptions, stringOption, type ParsedArgs } from './args.js'
import { CommandFailure } from './failure.js'
import { lockStorage } from './storage-lock.js'

/** Options every command shares: the config file and the data directory. */
export async function configFromArgs(args: ParsedArgs, extra: readonly string[] = []): Promise<Config> {
  checkOptions(args, ['config', 'storage', ...extra])
  const file = stringOption(args, 'config') ?? process.env.WHARF_CONFIG
  const storage = stringOption(args, 'storage')
  const host = stringOption(args, 'host')
  const port = stringOption(args, 'port')
  const workers = stringOption(args, 'workers')
  return loadConfig({
    ...(file !== undefined ? { file } : {}),
    env: process.env,
    overrides: {
      storage: storage !== undefined ? { path: storage } : {},
      http: {
        ...(host !== undefined ? { host } : {}), ...(port !== undefined ? { port: port as unknown as number } : {}),
        ...(workers !== undefined ? { workers: workers as unknown as number } : {}),
      },
    },
  })
}

export { gcOptionsFrom }

/** How long requests in flight may run on after the drain. */
export const SHUTDOWN_DEADLINE_MS = 30_000

export const STORAGE_IN_USE_HINT = 'one server per data directory: stop the other one first'

/** One line for a failed listen, for the errors people meet (the port taken, a privileged port, a wrong address). */
function listenFailure(err: unknown, host: string, port: number): CommandFailure {
  const code = (err as { code?: string }).code
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`
  const reason = code === 'EADDRINUSE' ? 'the address is already in use (another server on that port?)'
    : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)'
      : code === 'EADDRNOTAVAIL' ? 'no such address on this machine'
        : (err as Error).message
  return new CommandFailure(`cannot listen on ${where}: ${reason}${code !== undefined ? ` (${code})` : ''}`)
}

/** Subscribes `listener` to the next request to stop (a second signal, another message from the primary), once; returns the unsubscribe. */
export type StopRequests = (listener: () => void) => () => void

/** The next SIGTERM or SIGINT. */
export const signals: StopRequests = (listener) => {
  const end = (): void => { off(); listener() }
  const off = (): void => { process.off('SIGTERM', end); process.off('SIGINT', end) }
  process.once('SIGTERM', end)
  process.once('SIGINT', end)
  return off
}

/**
 * The drain before the listener closes (http.shutdownDrainSeconds): /readyz already answers 503,
 * requests are still served, so a balancer takes the node out before connections are refused. A
 * second SIGTERM or SIGINT (`again`) ends it early (a third, after the drain, ends the process at once).
 */
function drain(seconds: number, logger: { info(fields: object, message: string): void }, again: StopRequests): Promise<void> {
  if (seconds <= 0) return Promise.resolve()
  logger.info({ seconds }, 'draining: not ready, still serving')
  return new Promise((resolve) => {
    const end = (): void => {
      clearTimeout(timer)
      off()
      resolve()
    }
    const timer = setTimeout(end, seconds * 1000)
    const off = again(end)
  })
}

/** A Wharf serving HTTP in this process. */
export interface Serving {
  readonly wharf: Wharf
  /** The port listened on (the one picked with port 0). */
  readonly port: number
  /** http(s)://host:port, as the start-up line says. */
  readonly url: string
  /** /readyz answers 503, the drain runs (`again` ends it early), requests in flight finish, then everything closes. */
  stop(signal: string, again: StopRequests): Promise<void>
  /** One collection now unless one runs here: the schedule of a `--workers` primary. */
  collect(): void
}

export interface ServingOptions {
  readonly overrides?: Overrides
  readonly compose: ComposeOptions
  /** Whether this process runs the collection schedule (gc.intervalSeconds); workers are asked by their primary instead. */
  readonly gcSchedule: boolean
}

/**
 * Composes Wharf and listens (the storage lock is the caller's). A start that fails closes what it
 * opened and rejects with one line (CommandFailure, or ConfigError).
 */
export async function startServing(config: Config, options: ServingOptions): Promise<Serving> {
  // Everything opened from here on is closed again if the start fails, so the process exits
  // (compose itself closes what it opened when it fails part-way).
  let wharf: Wharf | undefined
  let app: ReturnType<typeof buildApp> | undefined
  let purgeTimer: NodeJS.Timeout | undefined
  let gcTimer: NodeJS.Timeout | undefined
  let tls: TlsMaterial | undefined
  let metricsServer: MetricsServer | undefined
  // Set on SIGTERM or SIGINT: /readyz then answers 503, so a balancer stops sending new work.
  let shuttingDown = false
  const collect = (): void => {
    const registry = wharf!.registry
    if (registry.gc.isRunning) return
    registry.gc.collect(systemContext('gc'), { ...gcOptionsFrom(config), dryRun: false }).catch((err: unknown) => {
      // Another worker's collection (the admin API's) holds the lease: this one is not needed.
      if (err instanceof GcAlreadyRunningError) wharf!.components.logger.info('a collection is running already; the scheduled one is skipped')
      else wharf!.components.logger.error({ err }, 'failed to collect garbage')
    })
  }
  try {
    // Before anything is opened: a certificate that cannot be served stops the start at once.
    if (config.http.tls !== null) {
      tls = await loadTlsMaterial(config.http.tls).catch((err: unknown) => {
        throw err instanceof TlsFilesError ? new CommandFailure(`cannot serve HTTPS: ${err.message}`) : err
      })
    }
    wharf = await compose(config, options.overrides ?? {}, options.compose)
    const { registry, components: { logger } } = wharf
    if (tls !== undefined) {
      const certificate = describeCertificate(tls.leaf)
      if (Date.parse(certificate.notAfter!) <= Date.now()) logger.warn(certificate, 'the TLS certificate has expired; clients will refuse it')
      else logger.info({ ...certificate, clientCertificates: tls.ca !== undefined }, 'TLS certificate loaded')
    }
    // Before the first request: a node starting while the others are read-only starts read-only.
    await registry.maintenance.follow()
    const purgeUploads = async (): Promise<void> => {
      const purged = await registry.uploads.purge(systemContext('purge'), Date.now() - config.uploads.ttlSeconds * 1000, { orphanFiles: true })
      if (purged.sessions + purged.files > 0) logger.info(purged, 'purged expired upload sessions and orphan upload files')
    }
    await purgeUploads()
    purgeTimer = setInterval(() => {
      purgeUploads().catch((err: unknown) => logger.error({ err }, 'failed to purge upload sessions'))
    }, Math.min(config.uploads.ttlSeconds * 1000, 60 * 60 * 1000) || 60_000)
    purgeTimer.unref()
    if (options.gcSchedule && config.gc.intervalSeconds > 0) {
      gcTimer = setInterval(collect, config.gc.intervalSeconds * 1000)
      gcTimer.unref()
    }
    const metrics = wharf.metrics()
    app = buildApp(registry, { ...appOptionsFrom(config, logger, await wharf.accessControl(), metrics), ...(tls !== undefined ? { tls } : {}), shuttingDown: () => shuttingDown, ...(wharf.notifications !== undefined ? { notifications: wharf.notifications } : {}) })
    await app.listen({ host: config.http.host, port: config.http.port })
      .catch((err: unknown) => { throw listenFailure(err, config.http.host, config.http.port) })
    const listening = app.server.address()
    wharf.notifications?.start(typeof listening === 'object' && listening !== null ? listening.port : config.http.port)
    const metricsAddress = config.metrics.address
    if (metrics !== undefined && metricsAddress !== undefined) {
      const where = parseAddress(metricsAddress)
      metricsServer = await listenMetrics(metrics, metricsAddress, (err) => logger.error({ err }, 'failed to serve metrics'))
        .catch((err: unknown) => { throw listenFailure(err, where.host, where.port) })
      logger.info({ url: `${metricsServer.url}/metrics` }, 'metrics listening')
    }
  } catch (err) {
    clearInterval(purgeTimer)
    clearInterval(gcTimer)
    await metricsServer?.close().catch(() => undefined)
    await app?.close().catch(() => undefined)
    await wharf?.close().catch(() => undefined)
    if (err instanceof CommandFailure || err instanceof ConfigError) throw err
    const code = (err as { code?: string }).code
    const message = (err as Error).message ?? String(err)
    // The S3 store's errors name their code already.
    throw new CommandFailure(`cannot start: ${message}${code !== undefined && !message.includes(code) ? ` (${code})` : ''}`)
  }
  const running = { app, wharf, metricsServer }
  const logger = running.wharf.components.logger
  const address = running.app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.http.port
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host
  return {
    wharf: running.wharf,
    port,
    url: `${tls !== undefined ? 'https' : 'http'}://${host}:${port}`,
    collect,
    async stop(signal, again) {
      shuttingDown = true
      clearInterval(purgeTimer)
      clearInterval(gcTimer)
      logger.info({ signal, drainSeconds: config.http.shutdownDrainSeconds }, 'shutting down')
      await drain(config.http.shutdownDrainSeconds, logger, again)
      const deadline = setTimeout(() => {
        logger.warn('in-flight requests did not finish before the deadline; closing them')
        running.app.server.closeAllConnections()
      }, SHUTDOWN_DEADLINE_MS)
      deadline.unref()
      await running.app.close().finally(() => clearTimeout(deadline))
      await running.metricsServer?.close()
      await running.wharf.close()
    },
  }
}

/** The start-up lines: who may do what (the first thing an operator must see), then where it listens. */
export function logListening(config: Config, logger: Logger, url: string, extra: Record<string, unknown> = {}): void {
  if (config.auth === null) logger.info('access control: open (no auth section)')
  else logger.info({ htpasswd: config.auth.htpasswd, anonymous: config.auth.anonymous.length > 0 }, `access control: users from ${config.auth.htpasswd}`)
  logger.info({
    url, storage: config.storage.path,
    ...(config.storage.s3 !== null ? { blobs: describeBlobStorage(config.storage), redirect: config.storage.s3.redirect } : {}),
    ...extra,
  }, 'wharf listening')
}

/**
 * `wharf serve`: listens until SIGTERM or SIGINT, drains (http.shutdownDrainSeconds), then lets
 * in-flight requests finish. With http.workers above 1 this process is the primary of that many
 * workers (serve-workers.ts), and a worker when cluster forked it.
 */
export async function serve(args: ParsedArgs, composeOptions: ComposeOptions = {}): Promise<number> {
  const config = await configFromArgs(args, ['host', 'port', 'workers'])
  if (cluster.isWorker) return (await import('./serve-workers.js')).serveAsWorker(config)
  if (config.http.workers > 1) return (await import('./serve-workers.js')).servePrimary(config)
  const lock = await lockStorage(config.storage.path, 'wharf serve', STORAGE_IN_USE_HINT)
  let serving: Serving
  try {
    // Part buffers a killed server left behind: only a server appends to uploads, and this one holds the lock.
    if (config.storage.driver === 's3') await rm(s3BufferDirectory(config), { recursive: true, force: true })
    serving = await startServing(config, { compose: { holder: 'wharf serve', ...composeOptions }, gcSchedule: true })
  } catch (err) {
    await lock.release().catch(() => undefined)
    throw err
  }
  const logger = serving.wharf.components.logger
  logListening(config, logger, serving.url)
  return new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      serving.stop(signal, signals)
        // The lock goes even if closing failed, so that the next start is not refused.
        .finally(() => lock.release())
        .then(() => { logger.info('stopped'); resolve(0) },
          (err: unknown) => { logger.error({ err }, 'failed to shut down cleanly'); resolve(1) })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
}
