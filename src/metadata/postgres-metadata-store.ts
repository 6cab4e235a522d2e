import type { CacheInvalidation } from '../coordination/coordination.js'
import { InProcessCoordination } from '../coordination/in-process.js'
import { PostgresNodeLock, type NodeLockMode } from '../coordination/postgres-node-lock.js'
import type { Digest } from '../oci/digest.js'
import type { RepoName, Tag } from '../oci/names.js'
import { ManifestCache } from './manifest-cache.js'
import type {
  BlobRecord, BlobRecorded, DanglingRows, DeleteOutcome, DiskUsage, ManifestLinks, ManifestPut, ManifestRecord, MetadataMaintenance, MetadataStore,
  NotificationEndpointState, NotificationFailure, NotificationQueue, NotificationToQueue, PageRequest, PutManifestResult, QueuedNotification,
  RepositoryBlobRecord, RepositoryStats, RepositoryStorage, RepositorySweepPlan, RepositorySweepResult, SearchQuery, SharedMaintenanceMode, StoredMaintenanceMode,
  TaggedManifest, TagRecord, TagSearch, UploadRecord,
} from './metadata-store.js'
import { PostgresBrowseReader } from './postgres/browse.js'
import { PostgresConnection } from './postgres/connection.js'
import * as maintenance from './postgres/maintenance.js'
import { PostgresNotificationQueue } from './postgres/notifications.js'
import { MANIFEST_COLUMNS, migrate, rowLimit, toManifestRecord, type ManifestRow } from './postgres/schema.js'
import { sweepRepository } from './postgres/sweep.js'
import { PostgresUploadSessions } from './postgres/uploads.js'
import * as writes from './postgres/writes.js'

/** Manifests kept in memory for reads by tag or digest (as the SQLite store). */
const MANIFEST_CACHE_BYTES = 8 * 1024 * 1024
/** The contentCache's one pseudo-repository (not a valid repository name). */
const CONTENT = ''

export interface PostgresMetadataStoreOptions {
  /** postgres://user:password@host:port/database (the password never appears in a message). */
  readonly url: string
  /**
   * Where the store announces writes that change manifests, for caches outside it (its own
   * needs none: tags and digests are resolved in the database on every read).
   */
  readonly invalidation?: CacheInvalidation
  /** Connections at most (default 10). */
  readonly poolSize?: number
  /**
   * Who opens it ("wharf serve"), how (alone, or beside other nodes) and what a refusal tells to
   * do: the store then holds the database (PostgresNodeLock) and open rejects with
   * MetadataInUseError while another process holds it in a way that excludes this one.
   */
  readonly holder?: { readonly name: string; readonly mode: NodeLockMode; readonly why: string }
}

/**
 * The metadata in PostgreSQL, for several nodes serving one store.
 *
 * Atomicity: the writes that change a repository's manifests, tags or links (recordBlob,
 * linkBlob, unlinkBlob, putManifest, deleteManifest, deleteTag, sweepRepository) run in READ
 * COMMITTED transactions that first take the repository's advisory transaction lock. So they run
 * one at a time per repository, each statement seeing everything the previous holder committed: a
 * manifest PUT validates its references and a sweep marks and deletes without seeing half of each
 * other, and nothing aborts under contention, as SERIALIZABLE would (a long sweep retried against
 * a stream of pushes may never finish). Work across repositories (blob records, manifest contents)
 * locks the rows it relies on instead (postgres/writes.ts, postgres/maintenance.ts). A dry-run
 * sweep and the other maintenance reads run in read-only snapshots: they write and lock nothing.
 */
export class PostgresMetadataStore implements MetadataStore, MetadataMaintenance, NotificationQueue, SharedMaintenanceMode {
  private readonly db: PostgresConnection
  private readonly browse: PostgresBrowseReader
  private readonly notifications: PostgresNotificationQueue
  private readonly uploads: PostgresUploadSessions
  /**
   * Manifest records and bodies by digest (under one pseudo-repository): they never change, so
   * the cache needs no invalidation. What a tag or a repository's digest resolves to is always
   * read from the database, since another node may have just moved or deleted it (a client that
   * pushes through one node and pulls through another must get what it pushed).
   */
  private readonly contentCache = new ManifestCache(MANIFEST_CACHE_BYTES)
  private readonly invalidation: CacheInvalidation
  private nodeLock: PostgresNodeLock | undefined

  private constructor(options: PostgresMetadataStoreOptions) {
    this.db = new PostgresConnection(options)
    this.browse = new PostgresBrowseReader(this.db)
    this.notifications = new PostgresNotificationQueue(this.db)
    this.uploads = new PostgresUploadSessions(this.db)
    this.invalidation = options.invalidation ?? new InProcessCoordination()
  }

  /** Connects and applies the migrations not yet applied (several nodes may open one database at once). */
  static async open(options: PostgresMetadataStoreOptions): Promise<PostgresMetadataStore> {
    const store = new PostgresMetadataStore(options)
    try {
      await migrate(store.db)
      if (options.holder !== undefined) store.nodeLock = await PostgresNodeLock.take(options.url, options.holder.name, options.holder.mode, options.holder.why)
    } catch (err) {
      await store.close()
      throw err
    }
    return store
  }

  /** False once closed, while the last call could not reach PostgreSQL, or while the node lock is lost. */
  isHealthy(): boolean {
    return this.db.isHealthy() && (this.nodeLock?.held ?? true)
  }

  /** Announces that manifests of `repo` (all, when undefined) may have changed once `write` settled, failed or not. */
  private async invalidating<T>(repo: string | undefined, write: Promise<T>): Promise<T> {
    try {
      return await write
    } finally {
      await this.invalidation.invalidate(repo)
    }
  }

  async repositoryExists(repo: RepoName): Promise<boolean> {
    return (await this.db.query('SELECT 1 AS one FROM repositories WHERE name = $1', [repo])).length > 0
  }

  async listRepositories(page: PageRequest): Promise<string[]> {
    return (await this.db.query<{ name: string }>('SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2', [page.last ?? '', rowLimit(page.limit)]))
      .map((row) => row.name)
  }

  async getBlob(digest: Digest): Promise<BlobRecord | undefined> {
    const [row] = await this.db.query<{ size: number }>('SELECT size FROM blobs WHERE digest = $1', [digest])
    return row && { digest, size: row.size }
  }

  async getRepositoryBlob(repo: RepoName, digest: Digest): Promise<RepositoryBlobRecord | undefined> {
    const [row] = await this.db.query<{ size: number; used_at: number }>(
      'SELECT b.size, l.used_at FROM repository_blobs l JOIN blobs b ON b.digest = l.digest WHERE l.repo = $1 AND l.digest = $2', [repo, digest])
    return row && { digest, size: row.size, usedAt: row.used_at }
  }

  /** No repository lock: the row lock of the UPDATE orders it with a sweep's DELETE of the link (false once that committed). */
  async touchBlobLink(repo: RepoName, digest: Digest, now: number): Promise<boolean> {
    return (await this.db.query('UPDATE repository_blobs SET used_at = $1 WHERE repo = $2 AND digest = $3 RETURNING 1', [now, repo, digest])).length > 0
  }

  async recordBlob(repo: RepoName, digest: Digest, size: number, uploadId?: string): Promise<BlobRecorded> {
    return this.db.write((q) => writes.recordBlob(q, repo, digest, size, uploadId, Date.now()))
  }

  async listBlobRepositories(digest: Digest, page: PageRequest): Promise<string[]> {
    return (await this.db.query<{ repo: string }>('SELECT repo FROM repository_blobs WHERE digest = $1 AND repo > $2 ORDER BY repo LIMIT $3',
      [digest, page.last ?? '', rowLimit(page.limit)])).map((row) => row.repo)
  }

  async linkBlob(repo: RepoName, digest: Digest, from?: RepoName): Promise<(BlobRecord & BlobRecorded) | undefined> {
    return this.db.write((q) => writes.linkBlob(q, repo, digest, from, Date.now()))
  }

  async unlinkBlob(repo: RepoName, digest: Digest): Promise<DeleteOutcome> {
    return this.db.write((q) => writes.unlinkBlob(q, repo, digest))
  }

  async findManifest(repo: RepoName, reference: { readonly tag?: Tag; readonly digest?: Digest }): Promise<ManifestRecord | undefined> {
    return (await this.findManifestWithBody(repo, reference))?.record
  }

  async getManifestBody(digest: Digest): Promise<Buffer | undefined> {
    return (await this.db.query<{ body: Buffer }>('SELECT body FROM manifest_contents WHERE digest = $1', [digest]))[0]?.body
  }

  async findManifestWithBody(repo: RepoName, reference: { readonly tag?: Tag; readonly digest?: Digest }): Promise<{ record: ManifestRecord; body: Buffer } | undefined> {
    const [resolved] = reference.digest !== undefined
      ? await this.db.query<{ digest: Digest }>('SELECT digest FROM manifests WHERE repo = $1 AND digest = $2', [repo, reference.digest])
      : await this.db.query<{ digest: Digest }>('SELECT digest FROM tags WHERE repo = $1 AND tag = $2', [repo, reference.tag ?? ''])
    if (resolved === undefined) return undefined
    const cached = this.contentCache.get(CONTENT, resolved.digest)
    if (cached !== undefined) return cached
    const [row] = await this.db.query<ManifestRow & { body: Buffer }>(`SELECT ${MANIFEST_COLUMNS}, c.body FROM manifest_contents c WHERE c.digest = $1`, [resolved.digest])
    // Removed since (a sweep of its last manifest): as if it had not resolved.
    if (row === undefined) return undefined
    const found = { record: toManifestRecord(row), body: row.body }
    this.contentCache.set(CONTENT, resolved.digest, found)
    return found
  }

  async putManifest(put: ManifestPut): Promise<PutManifestResult> {
    return this.invalidating(put.repo, this.db.write((q) => writes.putManifest(q, put)))
  }

  async deleteManifest(repo: RepoName, digest: Digest): Promise<DeleteOutcome> {
    return this.invalidating(repo, this.db.write((q) => writes.deleteManifest(q, repo, digest)))
  }

  async deleteTag(repo: RepoName, tag: Tag): Promise<boolean> {
    return this.invalidating(repo, this.db.write((q) => writes.deleteTag(q, repo, tag)))
  }

  async tagFetchedAt(repo: RepoName, tag: Tag): Promise<number | undefined> {
    return (await this.db.query<{ fetched_at: number }>('SELECT fetched_at FROM proxied_tags WHERE repo = $1 AND tag = $2', [repo, tag]))[0]?.fetched_at
  }

  async markTagFetched(repo: RepoName, tag: Tag, fetchedAt: number): Promise<void> {
    await this.db.query(`INSERT INTO proxied_tags (repo, tag, fetched_at) VALUES ($1, $2, $3)
      ON CONFLICT (repo, tag) DO UPDATE SET fetched_at = GREATEST(excluded.fetched_at, proxied_tags.fetched_at)`, [repo, tag, fetchedAt])
  }

  async listTags(repo: RepoName, page: PageRequest): Promise<string[]> {
    return (await this.db.query<{ tag: string }>('SELECT tag FROM tags WHERE repo = $1 AND tag > $2 ORDER BY tag LIMIT $3', [repo, page.last ?? '', rowLimit(page.limit)]))
      .map((row) => row.tag)
  }

  /** In digest order: a stable cursor for pages; annotations read from each body. */
  async listReferrers(repo: RepoName, subject: Digest, artifactType?: string, page?: PageRequest): Promise<ManifestRecord[]> {
    const rows = await this.db.query<ManifestRow & { body: Buffer }>(
      `SELECT ${MANIFEST_COLUMNS}, c.body FROM manifest_contents c JOIN manifests m ON m.digest = c.digest AND m.repo = $1
       WHERE c.subject = $2 AND c.digest > $3 AND ($4::text IS NULL OR c.artifact_type = $4)
       ORDER BY c.digest LIMIT $5`, [repo, subject, page?.last ?? '', artifactType ?? null, rowLimit(page?.limit ?? -1)])
    return rows.map((row) => toManifestRecord(row, row.body))
  }

  async searchRepositories(query: SearchQuery): Promise<{ names: string[]; total: number }> {
    return this.browse.searchRepositories(query)
  }

  async repositoryStats(names: readonly string[]): Promise<RepositoryStats[]> {
    return this.browse.repositoryStats(names)
  }

  async searchTags(repo: RepoName, query: TagSearch): Promise<{ tags: TaggedManifest[]; total: number }> {
    return this.browse.searchTags(repo, query)
  }

  async contentSizes(digests: readonly Digest[]): Promise<number[]> {
    return this.browse.contentSizes(digests)
  }

  async manifestLinks(repo: RepoName, digest: Digest): Promise<ManifestLinks | undefined> {
    return this.browse.manifestLinks(repo, digest)
  }

  async bytesFreedWithout(repo: RepoName, manifests: readonly Digest[]): Promise<number> {
    return this.browse.bytesFreedWithout(repo, manifests)
  }

  async recordGcReport(report: string, finishedAt: number): Promise<void> {
    await this.db.query(`INSERT INTO gc_last_report (id, report, finished_at) VALUES (1, $1, $2)
      ON CONFLICT (id) DO UPDATE SET report = excluded.report, finished_at = excluded.finished_at`, [report, finishedAt])
  }

  async lastGcReport(): Promise<{ readonly report: string; readonly finishedAt: number } | undefined> {
    return this.browse.lastGcReport()
  }

  async readMaintenanceMode(): Promise<StoredMaintenanceMode | undefined> {
    const [row] = await this.db.query<{ read_only: boolean; since: number; changed_by: string }>('SELECT read_only, since, changed_by FROM maintenance_mode WHERE id = 1')
    return row && { readOnly: row.read_only, since: row.since, changedBy: row.changed_by }
  }

  async writeMaintenanceMode(mode: StoredMaintenanceMode): Promise<void> {
    await this.db.query(`INSERT INTO maintenance_mode (id, read_only, since, changed_by) VALUES (1, $1, $2, $3)
      ON CONFLICT (id) DO UPDATE SET read_only = excluded.read_only, since = excluded.since, changed_by = excluded.changed_by`, [mode.readOnly, mode.since, mode.changedBy])
  }

  async createUpload(upload: UploadRecord): Promise<void> {
    return this.uploads.create(upload)
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    return this.uploads.get(id)
  }

  async touchUpload(id: string, now: number): Promise<void> {
    return this.uploads.touch(id, now)
  }

  async deleteUpload(id: string): Promise<boolean> {
    return this.uploads.delete(id)
  }

  async listUploads(updatedBefore?: number): Promise<UploadRecord[]> {
    return this.uploads.list(updatedBefore)
  }

  async listAllTags(): Promise<TagRecord[]> {
    return (await this.db.query<{ repo: string; tag: string; digest: string; updated_at: number }>('SELECT repo, tag, digest, updated_at FROM tags ORDER BY repo, tag'))
      .map((row) => ({ repo: row.repo, tag: row.tag, digest: row.digest as Digest, updatedAt: row.updated_at }))
  }

  async sweepRepository(plan: RepositorySweepPlan): Promise<RepositorySweepResult> {
    if (plan.dryRun) return this.db.snapshot((q) => sweepRepository(q, plan, false))
    return this.invalidating(plan.repo, this.db.write((q) => sweepRepository(q, plan, true)))
  }

  async deleteOrphanManifestContents(): Promise<number> {
    return this.db.write((q) => maintenance.deleteOrphanManifestContents(q))
  }

  async listUnlinkedBlobs(after: string, limit: number, graceCutoff: number): Promise<{ readonly blobs: BlobRecord[]; readonly last?: string }> {
    return this.db.snapshot((q) => maintenance.listUnlinkedBlobs(q, after, limit, graceCutoff))
  }

  async countBlobLinks(digests: readonly Digest[]): Promise<number[]> {
    return this.db.run((q) => maintenance.countBlobLinks(q, digests))
  }

  async deleteBlobsIfUnlinked(digests: readonly Digest[]): Promise<BlobRecord[]> {
    return this.db.write((q) => maintenance.deleteBlobsIfUnlinked(q, digests))
  }

  async diskUsage(options: { readonly perTag: boolean; readonly tagsOf?: string }): Promise<DiskUsage> {
    return this.db.snapshot((q) => maintenance.diskUsage(q, options))
  }

  async repositoryStorage(limit: number): Promise<RepositoryStorage> {
    return this.db.snapshot((q) => maintenance.repositoryStorage(q, limit))
  }

  async listBlobRecords(): Promise<BlobRecord[]> {
    return (await this.db.query<{ digest: string; size: number }>('SELECT digest, size FROM blobs ORDER BY digest'))
      .map((row) => ({ digest: row.digest as Digest, size: row.size }))
  }

  async findDanglingRows(): Promise<DanglingRows> {
    return this.db.snapshot((q) => maintenance.findDanglingRows(q))
  }

  async forgetBlobs(digests: readonly Digest[]): Promise<void> {
    return this.db.write((q) => maintenance.forgetBlobs(q, digests))
  }

  async removeDanglingRows(): Promise<{ links: number; tags: number }> {
    return this.invalidating(undefined, this.db.write((q) => maintenance.removeDanglingRows(q)))
  }

  async listManifestContents(after: string, limit: number): Promise<Array<{ digest: Digest; body: Buffer }>> {
    return (await this.db.query<{ digest: string; body: Buffer }>('SELECT digest, body FROM manifest_contents WHERE digest > $1 ORDER BY digest LIMIT $2', [after, rowLimit(limit)]))
      .map((row) => ({ digest: row.digest as Digest, body: row.body }))
  }

  async enqueueNotifications(entries: readonly NotificationToQueue[], now: number): Promise<void> {
    return this.notifications.enqueue(entries, now)
  }

  async nextNotifications(endpoint: string, limit: number): Promise<QueuedNotification[]> {
    return this.notifications.next(endpoint, limit)
  }

  async markNotificationsDelivered(endpoint: string, ids: readonly number[], now: number): Promise<void> {
    return this.notifications.markDelivered(endpoint, ids, now)
  }

  async recordNotificationFailure(endpoint: string, failure: NotificationFailure): Promise<number> {
    return this.notifications.recordFailure(endpoint, failure)
  }

  async notificationState(endpoint: string): Promise<NotificationEndpointState> {
    return this.notifications.state(endpoint)
  }

  /** Ends the pool once the calls in flight are done; calls after it are refused. Closing twice is harmless. */
  async close(): Promise<void> {
    await this.nodeLock?.release()
    await this.db.close()
  }
}
