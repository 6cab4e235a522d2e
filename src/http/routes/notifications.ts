import type { FastifyInstance } from 'fastify'
import type { NotificationStatsSource } from '../../notifications/notifications.js'
import { ADMIN_PREFIX } from './admin.js'

const iso = (ms: number | undefined): string | undefined => (ms !== undefined && ms > 0 ? new Date(ms).toISOString() : undefined)

/**
 * GET /_wharf/v1/notifications: each webhook endpoint's queue and delivery record (pending
 * events, how long the oldest has waited, deliveries, failed attempts, the last error and when
 * the next attempt is due). Needs `registry:admin`, as all of /_wharf/ (access-table.ts).
 */
export function registerNotificationRoutes(app: FastifyInstance, notifications: NotificationStatsSource | undefined): void {
  app.get(`${ADMIN_PREFIX}/notifications`, async (_request, reply) => {
    const stats = notifications !== undefined ? await notifications.stats() : []
    return reply.send({
      endpoints: stats.map((s) => ({
        name: s.endpoint,
        url: s.url,
        pending: s.pending,
        oldestPendingAgeSeconds: s.oldestPendingAgeSeconds,
        delivered: s.delivered,
        failedAttempts: s.failedAttempts,
        consecutiveFailures: s.consecutiveFailures,
        nextAttemptAt: iso(s.nextAttemptAt) ?? null,
        lastError: s.lastError ?? null,
        lastErrorAt: iso(s.lastErrorAt) ?? null,
        lastSuccessAt: iso(s.lastSuccessAt) ?? null,
      })),
    })
  })
}
