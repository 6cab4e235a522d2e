import { once } from 'node:events'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { RegistryError, toErrorBody } from '../errors/registry-error.js'
import type { Metrics } from './metrics.js'

export const METRICS_PATH = '/metrics'

/** A listener of its own for /metrics (`metrics.address`). */
export interface MetricsServer {
  /** e.g. http://127.0.0.1:9090 (the port the system chose when the address asked for port 0). */
  readonly url: string
  close(): Promise<void>
}

/** Host and port of `host:port` or `[v6]:port`. */
export function parseAddress(address: string): { readonly host: string; readonly port: number } {
  const colon = address.lastIndexOf(':')
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  return { host, port: Number(address.slice(colon + 1)) }
}

function sendError(response: ServerResponse, error: RegistryError, extra: Record<string, string> = {}): void {
  const body = JSON.stringify(toErrorBody(error))
  response.writeHead(error.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...extra }).end(body)
}

/**
 * Serves GET (and HEAD) /metrics on `address`, with no access control, as registry:2's debug
 * server does: bind it to an address only the monitoring network reaches. Anything else is 404
 * (405 for another method on /metrics), in the distribution-spec's error format.
 */
export async function listenMetrics(metrics: Metrics, address: string, onError: (err: unknown) => void): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?', 1)[0]
    if (path !== METRICS_PATH) return sendError(response, new RegistryError('UNSUPPORTED', { message: 'unknown API endpoint', status: 404 }))
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return sendError(response, new RegistryError('UNSUPPORTED', { message: `${request.method} is not allowed here` }), { Allow: 'GET, HEAD' })
    }
    metrics.scrape().then((scrape) => {
      response.writeHead(200, { 'Content-Type': scrape.contentType, 'Content-Length': Buffer.byteLength(scrape.body) })
      response.end(request.method === 'HEAD' ? undefined : scrape.body)
    }, (err: unknown) => {
      onError(err)
      sendError(response, new RegistryError('UNKNOWN'))
    })
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  const { host, port } = parseAddress(address)
  server.listen({ host, port })
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err })])
  const bound = server.address() as AddressInfo
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`
  return {
    url,
    close: async () => {
      const closed = once(server, 'close')
      server.close()
      server.closeAllConnections()
      await closed
    },
  }
}
