import type { Digest } from '../oci/digest.js'
import type { ManifestRecord, NotificationEndpointState } from './metadata-store.js'

/** A manifest's columns, as both SQL stores name them. */
export interface ManifestColumns {
  digest: string
  media_type: string
  size: number
  artifact_type: string | null
  subject: string | null
}

/** A manifest record from its columns (and its annotations, where the store has them). */
export function manifestRecordOf(row: ManifestColumns, annotations?: Record<string, string>): ManifestRecord {
  return {
    digest: row.digest as Digest,
    mediaType: row.media_type,
    size: row.size,
    ...(row.artifact_type !== null ? { artifactType: row.artifact_type } : {}),
    ...(row.subject !== null ? { subject: row.subject as Digest } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  }
}

/** What the notification queue holds for an endpoint: its queued entries counted, and its row of notification_endpoints. */
export interface QueuedCount { pending: number; oldest: number | null }
export interface NotificationEndpointRow {
  delivered: number; failed_attempts: number; consecutive_failures: number; next_attempt_at: number
  last_error: string | null; last_error_at: number | null; last_success_at: number | null
}

/** An endpoint's state from those two reads (zeros for an endpoint never seen). */
export function notificationStateOf(endpoint: string, queued: QueuedCount, row: NotificationEndpointRow | undefined): NotificationEndpointState {
  return {
    endpoint,
    pending: queued.pending,
    ...(queued.oldest !== null ? { oldestPendingAt: queued.oldest } : {}),
    delivered: row?.delivered ?? 0,
    failedAttempts: row?.failed_attempts ?? 0,
    consecutiveFailures: row?.consecutive_failures ?? 0,
    nextAttemptAt: row?.next_attempt_at ?? 0,
    ...(row?.last_error != null ? { lastError: row.last_error } : {}),
    ...(row?.last_error_at != null ? { lastErrorAt: row.last_error_at } : {}),
    ...(row?.last_success_at != null ? { lastSuccessAt: row.last_success_at } : {}),
  }
}
