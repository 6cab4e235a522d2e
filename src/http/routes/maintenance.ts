import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RequestContext } from '../../context/request-context.js'
import { RegistryError } from '../../errors/registry-error.js'
import type { MaintenanceState } from '../../registry/maintenance.js'
import { sendJson } from '../json-reply.js'
import { readLimitedBody } from '../request-body.js'

/** A maintenance request body is a handful of bytes; anything near this is not one. */
const BODY_MAX_BYTES = 4096

/**
 * The maintenance mode, under the admin prefix (registry:admin, access-table.ts):
 *   GET /_wharf/v1/maintenance   {"readOnly", "since", "changedBy", "writesInFlight"}
 *   PUT /_wharf/v1/maintenance   {"readOnly": true|false}: switches it until the process ends (on
 *                                every node, with a shared store); answers the new status. A malformed body is 400 and changes nothing.
 */
export function registerMaintenanceRoutes(app: FastifyInstance, prefix: string, maintenance: MaintenanceState,
  contextOf: (request: FastifyRequest, reply: FastifyReply) => RequestContext): void {
  app.get(`${prefix}/maintenance`, async (_request, reply) => sendJson(reply.code(200), maintenance.status()))
  app.put(`${prefix}/maintenance`, async (request, reply) => {
    const readOnly = parseSetting(await readLimitedBody(request.raw, BODY_MAX_BYTES).catch((err: unknown) => {
      throw err instanceof RegistryError ? badBody(`at most ${BODY_MAX_BYTES} bytes`) : err
    }))
    return sendJson(reply.code(200), await maintenance.setReadOnly(contextOf(request, reply), readOnly))
  })
}

/** `{"readOnly": true|false}` and nothing else. */
function parseSetting(body: Buffer): boolean {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw badBody('not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badBody('not a JSON object')
  const unknown = Object.keys(value).filter((key) => key !== 'readOnly')
  if (unknown.length > 0) throw badBody(`unknown field ${JSON.stringify(unknown[0])}`)
  const readOnly = (value as { readOnly?: unknown }).readOnly
  if (typeof readOnly !== 'boolean') throw badBody('"readOnly" must be true or false')
  return readOnly
}

function badBody(reason: string): RegistryError {
  return new RegistryError('UNSUPPORTED', { status: 400, message: `the body must be {"readOnly": true|false}: ${reason}`, detail: { reason } })
}
