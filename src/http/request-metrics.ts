import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { HttpMetrics, RouteKind } from '../metrics/metrics.js'
import { ADMIN_PATH_PREFIX, METRICS_PATH } from './access-table.js'
import { bodyBytesRead } from './body-rate.js'
import { HEALTH_PATH, READY_PATH } from './routes/health.js'
import { TOKEN_PATH } from './routes/token.js'

/** The kind of a request the access check did not parse (outside /v2/), from its path alone. */
function kindOfPath(url: string): RouteKind {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  if (path.startsWith(ADMIN_PATH_PREFIX)) return 'admin'
  switch (path) {
    case TOKEN_PATH: return 'token'
    case HEALTH_PATH:
    case READY_PATH: return 'health'
    case METRICS_PATH: return 'metrics'
    default: return 'unknown'
  }
}

/**
 * Reports every request to `metrics` once its response closed (finished or abandoned): route kind,
 * method, status, time since it arrived, body bytes read and response body bytes written. Bytes
 * written are the socket's count over the exchange less the response head Node wrote, so a
 * streamed blob counts what actually went out, a HEAD nothing. Registered before the access check,
 * so refused requests count too. `v2Kind` is the kind the access check parsed (undefined outside /v2/).
 */
export function observeRequests(app: FastifyInstance, metrics: HttpMetrics, v2Kind: (request: FastifyRequest) => RouteKind | undefined): void {
  app.addHook('onRequest', (request, reply, done) => {
    const socket = request.raw.socket
    const writtenBefore = socket.bytesWritten
    reply.raw.on('close', () => {
      const response = reply.raw
      // Node keeps the response head it wrote as a latin1 string: one byte per character.
      const head = (response as unknown as { _header?: string | null })._header
      const sent = socket.bytesWritten - writtenBefore - (typeof head === 'string' ? head.length : 0)
      const kind = v2Kind(request) ?? kindOfPath(request.raw.url ?? '/')
      metrics.observe(kind, request.method, response.statusCode, reply.elapsedTime / 1000, bodyBytesRead(request.raw), sent)
    })
    done()
  })
}
