import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RequestContext } from '../../context/request-context.js'
import { RegistryError, toErrorBody } from '../../errors/registry-error.js'
import { GcAlreadyRunningError, type GcOptions } from '../../gc/collector.js'
import type { Registry } from '../../registry/registry.js'
import { Query } from '../query.js'
import { registerMaintenanceRoutes } from './maintenance.js'

export const ADMIN_PREFIX = '/_wharf/v1'

/**
 * Administration endpoints, outside /v2/; every one needs `registry:admin` (access-table.ts):
 *   POST /_wharf/v1/gc[?dryRun=true]        run a garbage collection now; its report
 *   GET  /_wharf/v1/gc                      whether a collection is running, and the last one's report (null: none yet)
 *   GET  /_wharf/v1/du[?tags=true]          disk usage: totals, per repository (and per tag), reclaimable bytes
 *   GET|PUT /_wharf/v1/maintenance          read-only mode (routes/maintenance.ts)
 */
export function registerAdminRoutes(app: FastifyInstance, registry: Registry, gcOptions: Omit<GcOptions, 'dryRun'>,
  contextOf: (request: FastifyRequest, reply: FastifyReply) => RequestContext): void {
  app.post(`${ADMIN_PREFIX}/gc`, async (request, reply) => {
    const dryRun = isTrue(new Query(queryOf(request.raw.url)).one('dryRun'))
    // A large collection can take minutes with nothing sent meanwhile; the idle timeout must not cut it.
    request.raw.socket.setTimeout(0)
    try {
      return reply.code(200).send(await registry.gc.collect(contextOf(request, reply), { ...gcOptions, dryRun }))
    } catch (err) {
      if (err instanceof GcAlreadyRunningError) {
        const error = new RegistryError('UNAVAILABLE', { message: err.message, status: 409 })
        return reply.code(409).send(toErrorBody(error))
      }
      throw err
    }
  })
  app.get(`${ADMIN_PREFIX}/gc`, async (_request, reply) => reply.send({ running: registry.gc.isRunning, lastReport: await registry.gc.lastReport() ?? null }))
  app.get(`${ADMIN_PREFIX}/du`, async (request, reply) => {
    const perTag = isTrue(new Query(queryOf(request.raw.url)).one('tags'))
    request.raw.socket.setTimeout(0)
    return reply.send(await registry.diskUsage(contextOf(request, reply), { perTag, gc: gcOptions }))
  })
  registerMaintenanceRoutes(app, ADMIN_PREFIX, registry.maintenance, contextOf)
}

function queryOf(url: string | undefined): string {
  const q = (url ?? '').indexOf('?')
  return q === -1 ? '' : (url ?? '').slice(q + 1)
}

function isTrue(value: string | undefined): boolean {
  return value === 'true' || value === '1' || value === ''
}
