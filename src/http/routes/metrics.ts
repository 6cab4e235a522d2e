import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../../metrics/metrics.js'
import { METRICS_PATH } from '../access-table.js'

/**
 * GET /metrics: every metric in Prometheus' text format. Guarded like the admin API (access-table.ts:
 * `registry:admin` once access control is on). Not registered when metrics are off or served on
 * their own address: /metrics is then the usual 404.
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get(METRICS_PATH, async (_request, reply) => {
    const scrape = await metrics.scrape()
    return reply.code(200).header('Content-Type', scrape.contentType).send(scrape.body)
  })
}
