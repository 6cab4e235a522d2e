import cluster from 'node:cluster'
import { rm } from 'node:fs/promises'
import type { Config } from '../config/config.js'
import { IpcCoordination } from '../coordination/ipc-coordination.js'
import { IpcCoordinationServer } from '../coordination/ipc-coordination-server.js'
import { createLogger } from '../logging.js'
import { nodeLockOf, s3BufferDirectory } from './composition.js'
import { CommandFailure } from './failure.js'
import { logListening, SHUTDOWN_DEADLINE_MS, startServing, STORAGE_IN_USE_HINT, type Serving, type StopRequests } from './serve.js'
import { lockStorage } from './storage-lock.js'
import { SERVE_TAG, WorkerPool, type PrimaryRequest, type WorkerReport } from './worker-pool.js'

/** Beyond the drain and the in-flight deadline, what a worker may take to close its stores. */
const CLOSE_ALLOWANCE_MS = 15_000

/**
 * `wharf serve --workers N`, the primary: holds the storage lock (and, with PostgreSQL and blobs
 * on local disk, the database's node lock) for all, holds the workers' locks and leases when the
 * metadata is SQLite, forks N workers that share the port, runs the collection schedule by asking
 * one of them, restarts a worker that dies, and on SIGTERM or SIGINT stops them all.
 */
export async function servePrimary(config: Config): Promise<number> {
  const logger = createLogger(config.log.level, undefined, true)
  const lock = await lockStorage(config.storage.path, 'wharf serve', STORAGE_IN_USE_HINT)
  let nodeLock: { release(): Promise<void> } | undefined
  let coordination: IpcCoordinationServer | undefined
  let pool: WorkerPool
  let url: string
  try {
    // Part buffers a killed server left behind: only a server appends to uploads, and this one holds the lock.
    if (config.storage.driver === 's3') await rm(s3BufferDirectory(config), { recursive: true, force: true })
    nodeLock = await takeNodeLock(config)
    const log = logger.child({ component: 'coordination' })
    coordination = config.metadata.postgres === null ? new IpcCoordinationServer({ warn: (message) => log.warn(message) }) : undefined
    pool = new WorkerPool({
      count: config.http.workers, logger, ...(coordination !== undefined ? { coordination } : {}),
      stopDeadlineMs: config.http.shutdownDrainSeconds * 1000 + SHUTDOWN_DEADLINE_MS + CLOSE_ALLOWANCE_MS,
    })
    url = await pool.start()
  } catch (err) {
    await coordination?.close()
    await nodeLock?.release().catch(() => undefined)
    await lock.release().catch(() => undefined)
    throw err
  }
  logListening(config, logger, url, { workers: config.http.workers })
  const gcTimer = config.gc.intervalSeconds > 0 ? setInterval(() => pool.collect(), config.gc.intervalSeconds * 1000) : undefined
  gcTimer?.unref()
  return new Promise<number>((resolve) => {
    let signals = 0
    const stop = (signal: string): void => {
      // A second signal ends the workers' drains early; a third kills them (as it ends a single server at once).
      if (++signals === 2) { pool.stopAgain(); return }
      if (signals > 2) { logger.warn({ signal }, 'stopping at once: killing the workers'); pool.kill(); return }
      clearInterval(gcTimer)
      logger.info({ signal, workers: config.http.workers }, 'shutting down')
      pool.stop()
        .then(async (clean) => {
          await coordination?.close()
          await nodeLock?.release()
          return clean
        })
        .finally(() => lock.release())
        .then((clean) => {
          if (clean) logger.info('stopped')
          else logger.error('stopped; some workers did not stop cleanly')
          resolve(clean ? 0 : 1)
        }, (err: unknown) => { logger.error({ err }, 'failed to shut down cleanly'); resolve(1) })
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
  })
}

/** With PostgreSQL and blobs on local disk, one machine serves the database (postgres-node-lock.ts): the primary holds it for its workers. */
async function takeNodeLock(config: Config): Promise<{ release(): Promise<void> } | undefined> {
  if (config.metadata.postgres === null || config.storage.driver === 's3') return undefined
  const { PostgresNodeLock } = await import('../coordination/postgres-node-lock.js')
  const { name, mode, why } = nodeLockOf(config, 'wharf serve', false)
  return PostgresNodeLock.take(config.metadata.postgres.url, name, mode, why).catch((err: unknown) => {
    throw new CommandFailure((err as Error).message)
  })
}

/** Sends a report to the primary; resolves once it is written (or the channel is gone). */
function report(message: WorkerReport): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) { resolve(); return }
    process.send(message, undefined, {}, () => resolve())
  })
}

/**
 * A worker of `serve --workers`: serves as `wharf serve` does, with the primary's storage lock,
 * IpcCoordination when the metadata is SQLite (PostgresCoordination is composed for PostgreSQL),
 * and the primary's word to stop. A failed start is told to the primary, which says it once.
 */
export async function serveAsWorker(config: Config): Promise<number> {
  const requests = new Set<(type: PrimaryRequest['type']) => void>()
  let stopAsked = false
  process.on('message', (message: PrimaryRequest) => {
    if (message?.tag !== SERVE_TAG) return
    if (message.type === 'stop') stopAsked = true
    for (const listener of [...requests]) listener(message.type)
  })
  // Ctrl-C reaches every process of the terminal's group: the primary decides, and tells.
  process.on('SIGINT', () => undefined)
  let serving: Serving
  try {
    serving = await startServing(config, {
      overrides: {
        logger: async () => createLogger(config.log.level, undefined, true),
        ...(config.metadata.postgres === null
          ? { coordination: async (_build, built) => new IpcCoordination(process, { warn: (message) => built.logger?.warn(message) }) }
          : {}),
      },
      compose: { sharedStore: true },
      gcSchedule: false,
    })
  } catch (err) {
    await report({ tag: SERVE_TAG, type: 'failed', message: err instanceof Error ? err.message : String(err) })
    // The primary prints the one line; this process has closed what it opened.
    process.exit(1)
  }
  const logger = serving.wharf.components.logger
  logger.info({ url: serving.url, worker: cluster.worker?.id }, 'worker listening')
  requests.add((type) => { if (type === 'collect') serving.collect() })
  // A further stop: the primary's (it relays signals) or a SIGTERM sent to this worker. Not SIGINT:
  // Ctrl-C reaches this process too, and must not end the drain the primary's first stop began.
  const again: StopRequests = (listener) => {
    const end = (): void => { off(); listener() }
    const onRequest = (type: PrimaryRequest['type']): void => { if (type === 'stop') end() }
    const off = (): void => { requests.delete(onRequest); process.off('SIGTERM', end) }
    requests.add(onRequest)
    process.once('SIGTERM', end)
    return off
  }
  const code = await new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      serving.stop(signal, again).then(() => { logger.info('worker stopped'); resolve(0) },
        (err: unknown) => { logger.error({ err }, 'failed to shut down cleanly'); resolve(1) })
    }
    if (stopAsked) stop('primary')
    requests.add((type) => { if (type === 'stop') stop('primary') })
    process.once('SIGTERM', () => stop('SIGTERM'))
    void report({ tag: SERVE_TAG, type: 'listening', url: serving.url, port: serving.port })
  })
  // Closes the channel: nothing keeps this process then.
  cluster.worker?.disconnect()
  return code
}
