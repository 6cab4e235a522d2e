import { mkdir } from 'node:fs/promises'
import { loadConfig, type Config } from '../config/config.js'
import { buildApp } from '../http/app.js'
import { createLogger } from '../logging.js'
import { Registry } from '../registry/registry.js'
import type { GcOptions } from '../gc/collector.js'
import { checkOptions, stringOption, type ParsedArgs } from './args.js'
import { claimStorage } from './storage-lock.js'

/** Options every command shares: the config file and the data directory. */
export async function configFromArgs(args: ParsedArgs, extra: readonly string[] = []): Promise<Config> {
  checkOptions(args, ['config', 'storage', ...extra])
  const file = stringOption(args, 'config') ?? process.env.WHARF_CONFIG
  const storage = stringOption(args, 'storage')
  const host = stringOption(args, 'host')
  const port = stringOption(args, 'port')
  return loadConfig({
    ...(file !== undefined ? { file } : {}),
    env: process.env,
    overrides: {
      storage: storage !== undefined ? { path: storage } : {},
      http: { ...(host !== undefined ? { host } : {}), ...(port !== undefined ? { port: port as unknown as number } : {}) },
    },
  })
}

/** Collection options from the configuration (dryRun is the caller's). */
export function gcOptionsFrom(config: Config): Omit<GcOptions, 'dryRun'> {
  return {
    graceMs: config.gc.graceSeconds * 1000,
    uploadTtlMs: config.uploads.ttlSeconds * 1000,
    retention: config.retention,
  }
}

const SHUTDOWN_DEADLINE_MS = 30_000

/** `wharf serve`: listens until SIGTERM or SIGINT, then lets in-flight requests finish. */
export async function serve(args: ParsedArgs): Promise<number> {
  const config = await configFromArgs(args, ['host', 'port'])
  const logger = createLogger(config.log.level)
  await mkdir(config.storage.path, { recursive: true })
  const releaseStorage = await claimStorage(config.storage.path)
  const registry = await Registry.openLocal(config.storage.path, { maxPageSize: config.limits.pageMaxEntries, logger, gcGraceMs: config.gc.graceSeconds * 1000 })
  const gcOptions = gcOptionsFrom(config)
  const purgeUploads = async (): Promise<void> => {
    const purged = await registry.uploads.purge(Date.now() - config.uploads.ttlSeconds * 1000, { orphanFiles: true })
    if (purged.sessions + purged.files > 0) logger.info(purged, 'purged expired upload sessions and orphan upload files')
  }
  await purgeUploads()
  const purgeTimer = setInterval(() => {
    purgeUploads().catch((err: unknown) => logger.error({ err }, 'failed to purge upload sessions'))
  }, Math.min(config.uploads.ttlSeconds * 1000, 60 * 60 * 1000) || 60_000)
  purgeTimer.unref()
  let gcTimer: NodeJS.Timeout | undefined
  if (config.gc.intervalSeconds > 0) {
    gcTimer = setInterval(() => {
      if (registry.gc.isRunning) return
      registry.gc.collect({ ...gcOptions, dryRun: false }).catch((err: unknown) => logger.error({ err }, 'failed to collect garbage'))
    }, config.gc.intervalSeconds * 1000)
    gcTimer.unref()
  }
  const app = buildApp(registry, {
    logger,
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
    gc: gcOptions,
  })
  await app.listen({ host: config.http.host, port: config.http.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.http.port
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host
  logger.info({ url: `http://${host}:${port}`, storage: config.storage.path }, 'wharf listening')

  return new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      clearInterval(purgeTimer)
      clearInterval(gcTimer)
      logger.info({ signal }, 'shutting down')
      const deadline = setTimeout(() => {
        logger.warn('in-flight requests did not finish before the deadline; closing them')
        app.server.closeAllConnections()
      }, SHUTDOWN_DEADLINE_MS)
      deadline.unref()
      app.close()
        .then(() => registry.close()).then(releaseStorage)
        .then(() => { clearTimeout(deadline); logger.info('stopped'); resolve(0) },
          (err: unknown) => { logger.error({ err }, 'failed to shut down cleanly'); resolve(1) })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
}
