import type { FastifyInstance, FastifyReply } from 'fastify'
import { RegistryError, toErrorBody } from '../../errors/registry-error.js'
import type { Registry } from '../../registry/registry.js'
import { sendJson } from '../json-reply.js'

/**
 * Probes for orchestrators and container health checks, outside /v2/ and /_wharf/ and therefore
 * never guarded (probes carry no credentials; access-table.ts guards only those two trees):
 *   GET /healthz   200 {} while the process serves (liveness)
 *   GET /readyz    200 {"checks":{...}} when the metadata store is healthy, the storage takes
 *                  writes and the server is not shutting down; else 503 with the spec's error
 *                  JSON (code UNAVAILABLE) whose detail names the checks that failed. Read-only
 *                  mode is reported (checks.readOnly: "off" or "on") but never fails readiness:
 *                  pulls still work, so a balancer must keep sending them.
 */
export const HEALTH_PATH = '/healthz'
export const READY_PATH = '/readyz'

/** How long a storage write probe's outcome is reused: probes every second or so must not each fsync. */
export const STORAGE_PROBE_TTL_MS = 5000

export interface HealthOptions {
  /** True once the server began shutting down (serve.ts sets it on SIGTERM): not ready any more. */
  readonly shuttingDown?: () => boolean
  readonly storageProbeTtlMs?: number
}

type CheckName = 'metadata' | 'storage' | 'shutdown'

export function registerHealthRoutes(app: FastifyInstance, registry: Registry, options: HealthOptions = {}): void {
  const storageWritable = cachedProbe(registry, options.storageProbeTtlMs ?? STORAGE_PROBE_TTL_MS)
  const live = async (_request: unknown, reply: FastifyReply): Promise<FastifyReply> => sendJson(reply.code(200), {})
  app.get(HEALTH_PATH, live)

  const ready = async (_request: unknown, reply: FastifyReply): Promise<FastifyReply> => {
    const checks: Record<CheckName, string> = {
      metadata: registry.metadata.isHealthy?.() === false ? 'the metadata store cannot take writes' : 'ok',
      storage: await storageWritable().then(() => 'ok', (err: unknown) => `the storage cannot take writes: ${(err as { code?: string }).code ?? (err as Error).message}`),
      shutdown: options.shuttingDown?.() === true ? 'the server is shutting down' : 'ok',
    }
    const failed = (Object.keys(checks) as CheckName[]).filter((name) => checks[name] !== 'ok')
    const reported = { ...checks, readOnly: registry.maintenance.readOnly ? 'on' : 'off' }
    if (failed.length === 0) return sendJson(reply.code(200), { checks: reported })
    const error = new RegistryError('UNAVAILABLE', { message: `not ready: ${failed.map((name) => checks[name]).join('; ')}`, detail: { failed, checks: reported } })
    return sendJson(reply.code(503).header('Retry-After', '5'), toErrorBody(error))
  }
  app.get(READY_PATH, ready)
}

/** The store's write probe, run at most once per `ttlMs` (concurrent callers share one run); its outcome is reused meanwhile. */
function cachedProbe(registry: Registry, ttlMs: number): () => Promise<void> {
  let last: { at: number; outcome: Promise<void> } | undefined
  return () => {
    const now = Date.now()
    if (last === undefined || now - last.at >= ttlMs) {
      const outcome = registry.store.probeWritable?.() ?? Promise.resolve()
      outcome.catch(() => undefined)
      last = { at: now, outcome }
    }
    return last.outcome
  }
}
