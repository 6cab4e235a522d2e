import type Database from 'better-sqlite3'
import type { Digest } from '../../oci/digest.js'
import type { ManifestReference } from '../../oci/manifest.js'
import type {
  BlobRecord, BlobRecorded, DeleteOutcome, ManifestPut, NotificationFailure, NotificationToQueue, PutManifestResult, RepositorySweepPlan, RepositorySweepResult, TagMove, UploadRecord,
} from '../metadata-store.js'
import { SQL_DELETE_ORPHAN_CONTENTS } from './schema.js'
import { sweepRepository } from './sweep.js'

/**
 * Every change to the metadata, as synchronous operations on the one writing connection. Each runs
 * inside a transaction the caller opened (group commit: see writer-worker.ts); arguments and
 * results are plain data so they can cross a thread boundary.
 */
export class SqliteWriter {
  private readonly db: Database.Database
  private readonly stmt

  constructor(db: Database.Database) {
    this.db = db
    this.stmt = {
      ensureRepository: db.prepare<[string, number]>('INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?, ?)'),
      getBlob: db.prepare<[string], { size: number }>('SELECT size FROM blobs WHERE digest = ?'),
      getRepositoryBlob: db.prepare<[string, string], { size: number }>(
        'SELECT b.size FROM repository_blobs r JOIN blobs b ON b.digest = r.digest WHERE r.repo = ? AND r.digest = ?'),
      touchBlobLink: db.prepare<[number, string, string]>('UPDATE repository_blobs SET used_at = ? WHERE repo = ? AND digest = ?'),
      insertBlob: db.prepare<[string, number, number]>('INSERT OR IGNORE INTO blobs (digest, size, created_at) VALUES (?, ?, ?)'),
      linkBlob: db.prepare<[string, string, number]>(`INSERT INTO repository_blobs (repo, digest, used_at) VALUES (?, ?, ?)
         ON CONFLICT (repo, digest) DO UPDATE SET used_at = excluded.used_at`),
      unlinkBlob: db.prepare<[string, string]>('DELETE FROM repository_blobs WHERE repo = ? AND digest = ?'),
      // Manifests of the repository that reference a blob (as config, layer or index blob), a few named.
      blobReferencedBy: db.prepare<[string, string], { parent: string }>(
        `SELECT DISTINCT r.parent FROM manifest_references r JOIN manifests m ON m.repo = ? AND m.digest = r.parent
         WHERE r.child = ? AND r.kind NOT IN ('manifest', 'external') ORDER BY r.parent LIMIT 10`),
      // Other manifests of the repository (indexes) that reference a manifest.
      manifestReferencedBy: db.prepare<[string, string, string], { parent: string }>(
        `SELECT DISTINCT r.parent FROM manifest_references r JOIN manifests m ON m.repo = ? AND m.digest = r.parent
         WHERE r.child = ? AND r.kind IN ('manifest', 'blob') AND r.parent <> ? ORDER BY r.parent LIMIT 10`),
      manifestInRepo: db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM manifests WHERE repo = ? AND digest = ?'),
      manifestSizeInRepo: db.prepare<[string, string], { size: number }>(
        `SELECT c.size FROM manifests m JOIN manifest_contents c ON c.digest = m.digest WHERE m.repo = ? AND m.digest = ?`),
      // Annotations are not stored apart: they are in the body (schema.ts MANIFEST_COLUMNS reads them from it).
      insertContent: db.prepare<[string, string, number, string | null, string | null, Buffer, number]>(
        `INSERT OR IGNORE INTO manifest_contents (digest, media_type, size, artifact_type, subject, body, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`),
      insertReference: db.prepare<[string, string, string]>('INSERT OR IGNORE INTO manifest_references (parent, child, kind) VALUES (?, ?, ?)'),
      insertManifest: db.prepare<[string, string, number, number]>(
        `INSERT INTO manifests (repo, digest, created_at, pushed_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (repo, digest) DO UPDATE SET pushed_at = MAX(excluded.pushed_at, manifests.pushed_at)`),
      deleteManifest: db.prepare<[string, string]>('DELETE FROM manifests WHERE repo = ? AND digest = ?'),
      deleteTagsOf: db.prepare<[string, string]>('DELETE FROM tags WHERE repo = ? AND digest = ?'),
      // updated_at changes on every set, even within one millisecond: a sweep deletes a tag only
      // while it is the row its plan saw (sweep.ts), so a re-push in between always wins.
      setTag: db.prepare<[string, string, string, number]>(
        `INSERT INTO tags (repo, tag, digest, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, updated_at = MAX(excluded.updated_at, tags.updated_at + 1)`),
      deleteTag: db.prepare<[string, string]>('DELETE FROM tags WHERE repo = ? AND tag = ?'),
      tagDigest: db.prepare<[string, string], string>('SELECT digest FROM tags WHERE repo = ? AND tag = ?').pluck(),
      forgetTagFetched: db.prepare<[string, string]>('DELETE FROM proxied_tags WHERE repo = ? AND tag = ?'),
      markTagFetched: db.prepare<[string, string, number]>(
        `INSERT INTO proxied_tags (repo, tag, fetched_at) VALUES (?, ?, ?)
         ON CONFLICT (repo, tag) DO UPDATE SET fetched_at = MAX(excluded.fetched_at, proxied_tags.fetched_at)`),
      createUpload: db.prepare<[string, string, number, number, string | null]>('INSERT INTO uploads (id, repo, started_at, updated_at, owner) VALUES (?, ?, ?, ?, ?)'),
      touchUpload: db.prepare<[number, string]>('UPDATE uploads SET updated_at = ? WHERE id = ?'),
      deleteUpload: db.prepare<[string]>('DELETE FROM uploads WHERE id = ?'),
      unlinkedBlobSize: db.prepare<[string], { size: number }>(
        'SELECT size FROM blobs b WHERE digest = ? AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)'),
      deleteBlob: db.prepare<[string]>('DELETE FROM blobs WHERE digest = ?'),
      unlinkEverywhere: db.prepare<[string]>('DELETE FROM repository_blobs WHERE digest = ?'),
      enqueueNotification: db.prepare<[string, string, number]>('INSERT INTO notification_queue (endpoint, event, enqueued_at) VALUES (?, ?, ?)'),
      dequeueNotification: db.prepare<[string, number]>('DELETE FROM notification_queue WHERE endpoint = ? AND id = ?'),
      ensureNotificationEndpoint: db.prepare<[string]>('INSERT OR IGNORE INTO notification_endpoints (name) VALUES (?)'),
      notificationsDelivered: db.prepare<[number, number, string]>(
        `UPDATE notification_endpoints SET delivered = delivered + ?, consecutive_failures = 0, next_attempt_at = 0, last_success_at = ?
         WHERE name = ?`),
      notificationFailed: db.prepare<[string, number, number, string], { consecutive_failures: number }>(
        `UPDATE notification_endpoints SET failed_attempts = failed_attempts + 1, consecutive_failures = consecutive_failures + 1,
           last_error = ?, last_error_at = ?, next_attempt_at = ? WHERE name = ? RETURNING consecutive_failures`),
    }
  }

  enqueueNotifications(entries: readonly NotificationToQueue[], now: number): void {
    for (const entry of entries) this.stmt.enqueueNotification.run(entry.endpoint, entry.event, now)
  }

  markNotificationsDelivered(endpoint: string, ids: readonly number[], now: number): void {
    let removed = 0
    for (const id of ids) removed += this.stmt.dequeueNotification.run(endpoint, id).changes
    this.stmt.ensureNotificationEndpoint.run(endpoint)
    this.stmt.notificationsDelivered.run(removed, now, endpoint)
  }

  recordNotificationFailure(endpoint: string, failure: NotificationFailure): number {
    this.stmt.ensureNotificationEndpoint.run(endpoint)
    return this.stmt.notificationFailed.get(failure.error, failure.at, failure.nextAttemptAt, endpoint)!.consecutive_failures
  }

  recordBlob(repo: string, digest: string, size: number, uploadId: string | undefined, now: number): BlobRecorded {
    this.stmt.insertBlob.run(digest, size, now)
    const repositoryCreated = this.stmt.ensureRepository.run(repo, now).changes > 0
    this.stmt.linkBlob.run(repo, digest, now)
    if (uploadId !== undefined) this.stmt.deleteUpload.run(uploadId)
    return { repositoryCreated }
  }

  linkBlob(repo: string, digest: string, from: string | undefined, now: number): (BlobRecord & BlobRecorded) | undefined {
    const row = from !== undefined ? this.stmt.getRepositoryBlob.get(from, digest) : this.stmt.getBlob.get(digest)
    if (row === undefined) return undefined
    const repositoryCreated = this.stmt.ensureRepository.run(repo, now).changes > 0
    this.stmt.linkBlob.run(repo, digest, now)
    return { digest: digest as Digest, size: row.size, repositoryCreated }
  }

  unlinkBlob(repo: string, digest: string): DeleteOutcome {
    const referencedBy = this.stmt.blobReferencedBy.all(repo, digest).map((row) => row.parent as Digest)
    if (referencedBy.length > 0) return { status: 'referenced', referencedBy }
    return this.stmt.unlinkBlob.run(repo, digest).changes > 0 ? { status: 'deleted' } : { status: 'unknown' }
  }

  touchBlobLink(repo: string, digest: string, now: number): boolean {
    return this.stmt.touchBlobLink.run(now, repo, digest).changes > 0
  }

  putManifest(put: ManifestPut): PutManifestResult {
    const missing: ManifestReference[] = []
    const sizeMismatch: ManifestReference[] = []
    for (const ref of put.references) {
      if (ref.kind === 'external' || put.fromUpstream !== undefined) continue
      let size: number | undefined
      if (ref.kind !== 'manifest') size = this.stmt.getRepositoryBlob.get(put.repo, ref.digest)?.size
      if (size === undefined && (ref.kind === 'manifest' || ref.kind === 'blob')) size = this.stmt.manifestSizeInRepo.get(put.repo, ref.digest)?.size
      if (size === undefined) missing.push(ref)
      else if (size !== ref.size) sizeMismatch.push(ref)
    }
    if (missing.length > 0 || sizeMismatch.length > 0) return { ok: false, missing, sizeMismatch }
    // Bytes that crossed a thread boundary arrive as a plain Uint8Array.
    const received: Uint8Array = put.body
    const body = Buffer.isBuffer(received) ? received : Buffer.from(received.buffer, received.byteOffset, received.byteLength)
    const repositoryCreated = this.stmt.ensureRepository.run(put.repo, put.now).changes > 0
    this.stmt.insertContent.run(put.digest, put.mediaType, body.length, put.artifactType ?? null, put.subject ?? null, body, put.now)
    for (const ref of put.references) this.stmt.insertReference.run(put.digest, ref.digest, ref.kind)
    this.stmt.insertManifest.run(put.repo, put.digest, put.now, put.now)
    // Where each tag pointed, for tag.moved events: read here, in the transaction that moves it, it is exact.
    const moved: TagMove[] = []
    for (const tag of put.tags) {
      const previous = this.stmt.tagDigest.get(put.repo, tag) as Digest | undefined
      if (previous !== put.digest) moved.push(previous !== undefined ? { tag, previous } : { tag })
      this.stmt.setTag.run(put.repo, tag, put.digest, put.now)
    }
    // A tag pushed here (allowPush) is the repository's own from then on: never re-validated upstream.
    for (const tag of put.tags) {
      if (put.fromUpstream !== undefined) this.stmt.markTagFetched.run(put.repo, tag, put.fromUpstream.fetchedAt)
      else this.stmt.forgetTagFetched.run(put.repo, tag)
    }
    return { ok: true, repositoryCreated, moved }
  }

  markTagFetched(repo: string, tag: string, fetchedAt: number): void {
    this.stmt.markTagFetched.run(repo, tag, fetchedAt)
  }

  deleteManifest(repo: string, digest: string): DeleteOutcome {
    if (this.stmt.manifestInRepo.get(repo, digest) === undefined) return { status: 'unknown' }
    const referencedBy = this.stmt.manifestReferencedBy.all(repo, digest, digest).map((row) => row.parent as Digest)
    if (referencedBy.length > 0) return { status: 'referenced', referencedBy }
    this.stmt.deleteManifest.run(repo, digest)
    this.stmt.deleteTagsOf.run(repo, digest)
    return { status: 'deleted' }
  }

  deleteTag(repo: string, tag: string): boolean {
    this.stmt.forgetTagFetched.run(repo, tag)
    return this.stmt.deleteTag.run(repo, tag).changes > 0
  }

  createUpload(upload: UploadRecord): void {
    this.stmt.createUpload.run(upload.id, upload.repo, upload.startedAt, upload.updatedAt, upload.owner ?? null)
  }

  touchUpload(id: string, now: number): void {
    this.stmt.touchUpload.run(now, id)
  }

  deleteUpload(id: string): boolean {
    return this.stmt.deleteUpload.run(id).changes > 0
  }

  sweepRepository(plan: RepositorySweepPlan): RepositorySweepResult {
    return sweepRepository(this.db, plan, !plan.dryRun)
  }

  deleteOrphanManifestContents(): number {
    const before = this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM manifest_contents').get()!.n
    this.db.exec(SQL_DELETE_ORPHAN_CONTENTS)
    return before - this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM manifest_contents').get()!.n
  }

  deleteBlobsIfUnlinked(digests: readonly string[]): BlobRecord[] {
    const removed: BlobRecord[] = []
    for (const digest of digests) {
      const row = this.stmt.unlinkedBlobSize.get(digest)
      if (row === undefined) continue
      this.stmt.deleteBlob.run(digest)
      removed.push({ digest: digest as Digest, size: row.size })
    }
    return removed
  }

  forgetBlobs(digests: readonly string[]): void {
    for (const digest of digests) {
      this.stmt.unlinkEverywhere.run(digest)
      this.stmt.deleteBlob.run(digest)
    }
  }

  recordGcReport(report: string, finishedAt: number): void {
    this.db.prepare<[string, number]>(`INSERT INTO gc_last_report (id, report, finished_at) VALUES (1, ?, ?)
      ON CONFLICT (id) DO UPDATE SET report = excluded.report, finished_at = excluded.finished_at`).run(report, finishedAt)
  }

  removeDanglingRows(): { links: number; tags: number } {
    return {
      links: this.db.prepare('DELETE FROM repository_blobs WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = repository_blobs.digest)').run().changes,
      tags: this.db.prepare('DELETE FROM tags WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = tags.repo AND m.digest = tags.digest)').run().changes,
    }
  }
}

/** The operations a writer thread accepts, by name. */
export type WriteOperation = {
  [K in keyof SqliteWriter]: SqliteWriter[K] extends (...args: never[]) => unknown ? K : never
}[keyof SqliteWriter]
