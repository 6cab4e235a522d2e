import type { NotificationEndpointState, NotificationFailure, NotificationToQueue, QueuedNotification } from '../metadata-store.js'
import { notificationStateOf, type NotificationEndpointRow, type QueuedCount } from '../rows.js'
import type { PostgresConnection } from './connection.js'
import { rowLimit } from './schema.js'

/** The webhook queue (metadata-store.ts NotificationQueue) in notification_queue and notification_endpoints. */
export class PostgresNotificationQueue {
  private readonly db: PostgresConnection

  constructor(db: PostgresConnection) {
    this.db = db
  }

  /** One statement: the identity numbers the rows in the order given (WITH ORDINALITY). */
  async enqueue(entries: readonly NotificationToQueue[], now: number): Promise<void> {
    if (entries.length === 0) return
    await this.db.query(`INSERT INTO notification_queue (endpoint, event, enqueued_at)
      SELECT endpoint, event, $3 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS e (endpoint, event, n) ORDER BY n`,
    [entries.map((e) => e.endpoint), entries.map((e) => e.event), now])
  }

  async next(endpoint: string, limit: number): Promise<QueuedNotification[]> {
    const rows = await this.db.query<{ id: number; event: string; enqueued_at: number }>(
      'SELECT id, event, enqueued_at FROM notification_queue WHERE endpoint = $1 ORDER BY id LIMIT $2', [endpoint, rowLimit(limit)])
    return rows.map((row) => ({ id: row.id, event: row.event, enqueuedAt: row.enqueued_at }))
  }

  async markDelivered(endpoint: string, ids: readonly number[], now: number): Promise<void> {
    await this.db.write(async (q) => {
      const removed = await q.query('DELETE FROM notification_queue WHERE endpoint = $1 AND id = ANY($2::bigint[]) RETURNING id', [endpoint, ids])
      await q.query(`INSERT INTO notification_endpoints (name, delivered, last_success_at) VALUES ($1, $2, $3)
        ON CONFLICT (name) DO UPDATE SET delivered = notification_endpoints.delivered + excluded.delivered,
          consecutive_failures = 0, next_attempt_at = 0, last_success_at = excluded.last_success_at`, [endpoint, removed.length, now])
    })
  }

  async recordFailure(endpoint: string, failure: NotificationFailure): Promise<number> {
    const [row] = await this.db.query<{ consecutive_failures: number }>(
      `INSERT INTO notification_endpoints AS e (name, failed_attempts, consecutive_failures, last_error, last_error_at, next_attempt_at)
       VALUES ($1, 1, 1, $2, $3, $4)
       ON CONFLICT (name) DO UPDATE SET failed_attempts = e.failed_attempts + 1, consecutive_failures = e.consecutive_failures + 1,
         last_error = excluded.last_error, last_error_at = excluded.last_error_at, next_attempt_at = excluded.next_attempt_at
       RETURNING consecutive_failures`, [endpoint, failure.error, failure.at, failure.nextAttemptAt])
    return row!.consecutive_failures
  }

  async state(endpoint: string): Promise<NotificationEndpointState> {
    return this.db.snapshot(async (q) => {
      const [queued] = await q.query<QueuedCount>(
        'SELECT COUNT(*) AS pending, MIN(enqueued_at) AS oldest FROM notification_queue WHERE endpoint = $1', [endpoint])
      const [row] = await q.query<NotificationEndpointRow>('SELECT * FROM notification_endpoints WHERE name = $1', [endpoint])
      return notificationStateOf(endpoint, queued!, row)
    })
  }
}
