import type Database from 'better-sqlite3'
import { Worker } from 'node:worker_threads'
import type { CacheInvalidation } from '../coordination/coordination.js'
import { InProcessCoordination } from '../coordination/in-process.js'
import type { Digest } from '../oci/digest.js'
import type { RepoName, Tag } from '../oci/names.js'
import type {
  BlobRecord, BlobRecorded, DanglingRows, DeleteOutcome, DiskUsage, ManifestLinks, ManifestPut, ManifestRecord, MetadataMaintenance, MetadataStore,
  NotificationEndpointState, NotificationFailure, NotificationQueue, NotificationToQueue, PageRequest, PutManifestResult, QueuedNotification,
  RepositoryBlobRecord, RepositoryStats, RepositoryStorage, RepositorySweepPlan, RepositorySweepResult, SearchQuery, TaggedManifest, TagRecord, TagSearch,
  UploadRecord, WriterObserver, WriterQueue,
} from './metadata-store.js'
import { MANIFEST_COLUMNS, MANIFEST_RECORD_COLUMNS, migrate, openDatabase, toManifestRecord, toUploadRecord, type ManifestRow, type UploadRow } from './sqlite/schema.js'
import { ManifestCache } from './manifest-cache.js'
import type { WriteRequest, WriteResponse } from './sqlite/writer-worker.js'
import type { SqliteWriter, WriteOperation } from './sqlite/writer.js'
import { ReaderThread } from './sqlite/reader-thread.js'
import { METADATA_THREAD_LIMITS } from './sqlite/thread-limits.js'
import { SqliteBrowseReader } from './sqlite/browse-reader.js'
import { notificationStateOf, type NotificationEndpointRow, type QueuedCount } from './rows.js'

/** Manifests kept in memory for reads by tag or digest (about 5,000 of 500 bytes; they count in the server's RSS). */
const MANIFEST_CACHE_BYTES = 8 * 1024 * 1024

export interface SqliteMetadataStoreOptions {
  /**
   * Where the store announces writes that change manifests, and where its manifest cache listens:
   * shared with the other processes serving the store (a private channel when absent).
   */
  readonly invalidation?: CacheInvalidation
  /**
   * Called once when the writer thread dies while the store is open (every write fails from then
   * on). By default the process exits with code 70 and says why on stderr: a server that can no
   * longer write must not keep answering, and a supervisor restarts it.
   */
  readonly onWriterFailure?: (err: Error) => void
  /** Writes posted to the writer thread and not yet answered, at most (more callers wait their turn). Default 256. */
  readonly maxQueuedWrites?: number
}

const DEFAULT_MAX_QUEUED_WRITES = 256

/** Exit status when the metadata writer died (EX_SOFTWARE). */
export const WRITER_FAILURE_EXIT_CODE = 70

function exitOnWriterFailure(err: Error): void {
  process.stderr.write(`wharf: fatal: ${err.message}; exiting (status ${WRITER_FAILURE_EXIT_CODE}) so that a supervisor restarts the server\n`)
  process.exit(WRITER_FAILURE_EXIT_CODE)
}

/**
 * SQLite in WAL mode with synchronous=FULL: a committed row survives a crash. Reads run on this
 * thread's connection (WAL readers never wait); every write goes to one writer thread
 * (sqlite/writer-worker.ts) that group-commits them, so fsyncs never stall the serving thread.
 * A write's promise settles after its commit, so a read that follows it sees it.
 */
export class SqliteMetadataStore implements MetadataStore, MetadataMaintenance, NotificationQueue {
  private readonly db: Database.Database
  private readonly stmt
  private readonly writer: Worker
  /** Maintenance reads (disk usage, dry runs, blob scans): snapshots on a read-only connection of their own thread. */
  private readonly reader: ReaderThread
  /** The web UI's reads, on this (serving) connection. */
  private readonly browse: SqliteBrowseReader
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void; postedAt: number }>()
  /** Who is told about commits and answered writes (metrics); none by default. */
  private readonly writerObservers = new Set<WriterObserver>()
  private nextCallId = 1
  private readonly manifestCache = new ManifestCache(MANIFEST_CACHE_BYTES)
  /** Where this store announces writes that change manifests; its own cache listens there too. */
  private readonly invalidation: CacheInvalidation
  private readonly stopListening: () => void
  private writerFailure: Error | undefined
  private closing: Promise<void> | undefined
  private writerReady = false
  private readonly onWriterFailure: (err: Error) => void
  /** Backpressure: writes beyond maxQueuedWrites wait here (first come, first served) for a slot. */
  private readonly maxQueuedWrites: number
  private writesInFlight = 0
  private readonly waitingWrites: Array<{ resolve: () => void; reject: (err: unknown) => void }> = []
  /** Settles once the writer thread has opened the database (or failed to). */
  readonly ready: Promise<void>

  constructor(file: string, options: SqliteMetadataStoreOptions = {}) {
    this.onWriterFailure = options.onWriterFailure ?? exitOnWriterFailure
    this.maxQueuedWrites = Math.max(1, options.maxQueuedWrites ?? DEFAULT_MAX_QUEUED_WRITES)
    this.invalidation = options.invalidation ?? new InProcessCoordination()
    this.stopListening = this.invalidation.onInvalidate((repo) => {
      if (repo === undefined) this.manifestCache.clear()
      else this.manifestCache.invalidateRepository(repo)
    })
    this.db = openDatabase(file)
    migrate(this.db)
    // This connection only reads; the writer thread owns every change.
    this.db.pragma('query_only = ON')
    this.reader = new ReaderThread(file)
    this.writer = new Worker(new URL('./sqlite/writer-worker.js', import.meta.url), { workerData: { file }, resourceLimits: METADATA_THREAD_LIMITS })
    this.writer.unref()
    let markReady!: () => void
    let markFailed!: (err: Error) => void
    this.ready = new Promise<void>((resolve, reject) => { markReady = resolve; markFailed = reject })
    this.ready.catch(() => undefined)
    this.writer.on('message', (message: WriteResponse | 'closed' | 'ready') => {
      if (message === 'ready') { this.writerReady = true; markReady(); return }
      if (message === 'closed') return
      const call = this.calls.get(message.id)
      if (call === undefined) return
      this.calls.delete(message.id)
      this.releaseWriteSlot()
      if (this.calls.size === 0) this.writer.unref()
      if (this.writerObservers.size > 0 && call.postedAt > 0) this.tellObservers(message, call.postedAt)
      if (message.ok) call.resolve(message.value)
      else call.reject(Object.assign(new Error(message.error.message), { name: message.error.name, ...(message.error.code !== undefined ? { code: message.error.code } : {}) }))
    })
    this.writer.on('error', (err) => { markFailed(err); this.failWriter(err) })
    this.writer.on('exit', (code) => {
      const err = new Error(`the metadata writer thread exited (code ${code})`)
      markFailed(err)
      this.failWriter(err)
    })
    const db = this.db
    this.browse = new SqliteBrowseReader(db)
    this.stmt = {
      repositoryExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM repositories WHERE name = ?'),
      // Plucked: a page is an array of names, built without an object per row.
      listRepositories: db.prepare<[string, number], string>('SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?').pluck(),
      getBlob: db.prepare<[string], { size: number }>('SELECT size FROM blobs WHERE digest = ?'),
      getRepositoryBlob: db.prepare<[string, string], { size: number; used_at: number }>(
        'SELECT b.size, r.used_at FROM repository_blobs r JOIN blobs b ON b.digest = r.digest WHERE r.repo = ? AND r.digest = ?'),
      manifestBody: db.prepare<[string], { body: Buffer }>('SELECT body FROM manifest_contents WHERE digest = ?'),
      manifestInRepoWithBody: db.prepare<[string, string], ManifestRow & { body: Buffer }>(
        `SELECT ${MANIFEST_RECORD_COLUMNS}, c.body FROM manifests m JOIN manifest_contents c ON c.digest = m.digest WHERE m.repo = ? AND m.digest = ?`),
      manifestByTagWithBody: db.prepare<[string, string], ManifestRow & { body: Buffer }>(
        `SELECT ${MANIFEST_RECORD_COLUMNS}, c.body FROM tags t JOIN manifest_contents c ON c.digest = t.digest WHERE t.repo = ? AND t.tag = ?`),
      tagFetchedAt: db.prepare<[string, string], { fetched_at: number }>('SELECT fetched_at FROM proxied_tags WHERE repo = ? AND tag = ?'),
      listTags: db.prepare<[string, string, number], string>('SELECT tag FROM tags WHERE repo = ? AND tag > ? ORDER BY tag LIMIT ?').pluck(),
      // Digest order: a stable cursor for pages (`last`), whatever is pushed or deleted in between.
      referrers: db.prepare<{ repo: string; subject: string; artifactType: string | null; last: string; limit: number }, ManifestRow>(
        `SELECT ${MANIFEST_COLUMNS} FROM manifest_contents c JOIN manifests m ON m.digest = c.digest AND m.repo = :repo
         WHERE c.subject = :subject AND c.digest > :last AND (:artifactType IS NULL OR c.artifact_type = :artifactType)
         ORDER BY c.digest LIMIT :limit`),
      getUpload: db.prepare<[string], UploadRow>('SELECT id, repo, started_at, updated_at, owner FROM uploads WHERE id = ?'),
      listUploads: db.prepare<[number], UploadRow>('SELECT id, repo, started_at, updated_at, owner FROM uploads WHERE updated_at < ? ORDER BY updated_at'),
      // repository_blobs_by_digest holds (digest, repo): an index range in repo order.
      listBlobRepositories: db.prepare<[string, string, number], { repo: string }>(
        'SELECT repo FROM repository_blobs WHERE digest = ? AND repo > ? ORDER BY repo LIMIT ?'),
      nextNotifications: db.prepare<[string, number], { id: number; event: string; enqueued_at: number }>(
        'SELECT id, event, enqueued_at FROM notification_queue WHERE endpoint = ? ORDER BY id LIMIT ?'),
      pendingNotifications: db.prepare<[string], QueuedCount>(
        'SELECT COUNT(*) AS pending, MIN(enqueued_at) AS oldest FROM notification_queue WHERE endpoint = ?'),
      notificationEndpoint: db.prepare<[string], NotificationEndpointRow>('SELECT * FROM notification_endpoints WHERE name = ?'),
    }
  }

  /**
   * Runs a write on the writer thread; settles after the transaction holding it committed. At most
   * maxQueuedWrites are posted at a time: the others wait for a slot, so a burst cannot queue
   * unbounded work (and manifest bodies) in memory.
   */
  private async write<K extends WriteOperation>(operation: K, ...args: Parameters<SqliteWriter[K]>): Promise<ReturnType<SqliteWriter[K]>> {
    // Timed only while someone observes (metrics on).
    const askedAt = this.writerObservers.size > 0 ? performance.now() : 0
    await this.acquireWriteSlot()
    if (this.writerFailure !== undefined) { this.releaseWriteSlot(); throw this.writerFailure }
    if (this.closing !== undefined) { this.releaseWriteSlot(); throw new Error('metadata store is closed') }
    const id = this.nextCallId++
    return new Promise((resolve, reject) => {
      if (this.calls.size === 0) this.writer.ref()
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject, postedAt: askedAt })
      this.writer.postMessage({ id, operation, args } satisfies WriteRequest)
    })
  }

  private async acquireWriteSlot(): Promise<void> {
    if (this.writesInFlight < this.maxQueuedWrites && this.waitingWrites.length === 0) {
      this.writesInFlight++
      return
    }
    // The slot is handed over by releaseWriteSlot (writesInFlight unchanged).
    await new Promise<void>((resolve, reject) => this.waitingWrites.push({ resolve, reject }))
  }

  private releaseWriteSlot(): void {
    const next = this.waitingWrites.shift()
    if (next !== undefined) next.resolve()
    else this.writesInFlight--
  }

  /** Writes posted to the writer thread and not yet answered, and writes waiting for a slot. */
  get queuedWrites(): WriterQueue {
    return { posted: this.calls.size, waiting: this.waitingWrites.length }
  }

  writerQueue(): WriterQueue {
    return this.queuedWrites
  }

  observeWriter(observer: WriterObserver): () => void {
    this.writerObservers.add(observer)
    return () => { this.writerObservers.delete(observer) }
  }

  private tellObservers(message: WriteResponse, askedAt: number): void {
    const answered = (performance.now() - askedAt) / 1000
    for (const observer of this.writerObservers) {
      if (message.commit !== undefined) observer.committed(message.commit.writes, message.commit.ms / 1000)
      observer.answered(answered)
    }
  }

  /**
   * Announces that manifests of `repo` (all, when undefined) changed once `write` settled, before
   * its caller continues, so every cache drops them; on failure too, as a failed batch may still
   * have changed nothing or everything.
   */
  private async invalidating<T>(repo: string | undefined, write: Promise<T>): Promise<T> {
    try {
      return await write
    } finally {
      await this.invalidation.invalidate(repo)
    }
  }

  private failWriter(err: Error): void {
    if (this.closing !== undefined && this.calls.size === 0) return
    const first = this.writerFailure === undefined
    this.writerFailure ??= err
    for (const call of this.calls.values()) call.reject(err)
    this.calls.clear()
    this.writesInFlight = 0
    for (const waiting of this.waitingWrites.splice(0)) waiting.reject(err)
    // Before 'ready' the opener sees the failure through `ready`; after close() it is expected.
    if (first && this.writerReady && this.closing === undefined) this.onWriterFailure(err)
  }

  /** False once the writer thread died or the store is closing: writes cannot succeed (a readiness check says so). */
  isHealthy(): boolean {
    return this.writerReady && this.writerFailure === undefined && this.closing === undefined
  }

  async repositoryExists(repo: RepoName): Promise<boolean> {
    return this.stmt.repositoryExists.get(repo) !== undefined
  }

  async listRepositories(page: PageRequest): Promise<string[]> {
    return this.stmt.listRepositories.all(page.last ?? '', page.limit)
  }

  async getBlob(digest: Digest): Promise<BlobRecord | undefined> {
    const row = this.stmt.getBlob.get(digest)
    return row && { digest, size: row.size }
  }

  async getRepositoryBlob(repo: RepoName, digest: Digest): Promise<RepositoryBlobRecord | undefined> {
    const row = this.stmt.getRepositoryBlob.get(repo, digest)
    return row && { digest, size: row.size, usedAt: row.used_at }
  }

  async touchBlobLink(repo: RepoName, digest: Digest, now: number): Promise<boolean> {
    return this.write('touchBlobLink', repo, digest, now)
  }


  async recordBlob(repo: RepoName, digest: Digest, size: number, uploadId?: string): Promise<BlobRecorded> {
    return this.write('recordBlob', repo, digest, size, uploadId, Date.now())
  }


  async listBlobRepositories(digest: Digest, page: PageRequest): Promise<string[]> {
    return this.stmt.listBlobRepositories.all(digest, page.last ?? '', page.limit).map((row) => row.repo)
  }

  async linkBlob(repo: RepoName, digest: Digest, from?: RepoName): Promise<(BlobRecord & BlobRecorded) | undefined> {
    return this.write('linkBlob', repo, digest, from, Date.now())
  }


  async unlinkBlob(repo: RepoName, digest: Digest): Promise<DeleteOutcome> {
    return this.write('unlinkBlob', repo, digest)
  }


  async findManifest(repo: RepoName, reference: { readonly tag?: Tag; readonly digest?: Digest }): Promise<ManifestRecord | undefined> {
    return (await this.findManifestWithBody(repo, reference))?.record
  }

  async getManifestBody(digest: Digest): Promise<Buffer | undefined> {
    return this.stmt.manifestBody.get(digest)?.body
  }

  async findManifestWithBody(repo: RepoName, reference: { readonly tag?: Tag; readonly digest?: Digest }): Promise<{ record: ManifestRecord; body: Buffer } | undefined> {
    const key = reference.digest ?? reference.tag ?? ''
    const cached = this.manifestCache.get(repo, key)
    if (cached !== undefined) return cached
    const row = reference.digest !== undefined
      ? this.stmt.manifestInRepoWithBody.get(repo, reference.digest)
      : this.stmt.manifestByTagWithBody.get(repo, reference.tag ?? '')
    if (row === undefined) return undefined
    const found = { record: toManifestRecord(row), body: row.body }
    this.manifestCache.set(repo, key, found)
    return found
  }

  async putManifest(put: ManifestPut): Promise<PutManifestResult> {
    // The annotations are in the body (the writer stores that): not cloned to the writer thread twice.
    const { annotations: _annotations, ...stored } = put
    return this.invalidating(put.repo, this.write('putManifest', stored))
  }


  async deleteManifest(repo: RepoName, digest: Digest): Promise<DeleteOutcome> {
    return this.invalidating(repo, this.write('deleteManifest', repo, digest))
  }


  async deleteTag(repo: RepoName, tag: Tag): Promise<boolean> {
    return this.invalidating(repo, this.write('deleteTag', repo, tag))
  }


  async tagFetchedAt(repo: RepoName, tag: Tag): Promise<number | undefined> {
    return this.stmt.tagFetchedAt.get(repo, tag)?.fetched_at
  }

  async markTagFetched(repo: RepoName, tag: Tag, fetchedAt: number): Promise<void> {
    return this.write('markTagFetched', repo, tag, fetchedAt)
  }

  async listTags(repo: RepoName, page: PageRequest): Promise<string[]> {
    return this.stmt.listTags.all(repo, page.last ?? '', page.limit)
  }

  async listReferrers(repo: RepoName, subject: Digest, artifactType?: string, page?: PageRequest): Promise<ManifestRecord[]> {
    return this.stmt.referrers.all({ repo, subject, artifactType: artifactType ?? null, last: page?.last ?? '', limit: page?.limit ?? -1 }).map(toManifestRecord)
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
    return this.write('recordGcReport', report, finishedAt)
  }

  async lastGcReport(): Promise<{ readonly report: string; readonly finishedAt: number } | undefined> {
    return this.browse.lastGcReport()
  }

  async createUpload(upload: UploadRecord): Promise<void> {
    return this.write('createUpload', upload)
  }


  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const row = this.stmt.getUpload.get(id)
    return row && toUploadRecord(row)
  }

  async listUploads(updatedBefore?: number): Promise<UploadRecord[]> {
    return this.stmt.listUploads.all(updatedBefore ?? Number.MAX_SAFE_INTEGER).map(toUploadRecord)
  }

  async touchUpload(id: string, now: number): Promise<void> {
    return this.write('touchUpload', id, now)
  }


  async deleteUpload(id: string): Promise<boolean> {
    return this.write('deleteUpload', id)
  }


  async listAllTags(): Promise<TagRecord[]> {
    return this.db.prepare<[], { repo: string; tag: string; digest: string; updated_at: number }>(
      'SELECT repo, tag, digest, updated_at FROM tags ORDER BY repo, tag').all()
      .map((row) => ({ repo: row.repo, tag: row.tag, digest: row.digest as Digest, updatedAt: row.updated_at }))
  }

  async sweepRepository(plan: RepositorySweepPlan): Promise<RepositorySweepResult> {
    // A dry run reads a snapshot: it never takes the write lock, so pushes go on meanwhile.
    if (plan.dryRun) return this.reader.call('planSweep', plan)
    return this.invalidating(plan.repo, this.write('sweepRepository', plan))
  }

  async deleteOrphanManifestContents(): Promise<number> {
    return this.write('deleteOrphanManifestContents')
  }

  async listUnlinkedBlobs(after: string, limit: number, graceCutoff: number): Promise<{ readonly blobs: BlobRecord[]; readonly last?: string }> {
    return this.reader.call('listUnlinkedBlobs', after, limit, graceCutoff)
  }

  async countBlobLinks(digests: readonly Digest[]): Promise<number[]> {
    return this.reader.call('countBlobLinks', digests)
  }


  async deleteBlobsIfUnlinked(digests: readonly Digest[]): Promise<BlobRecord[]> {
    return this.write('deleteBlobsIfUnlinked', digests)
  }


  async diskUsage(options: { readonly perTag: boolean; readonly tagsOf?: string }): Promise<DiskUsage> {
    return this.reader.call('diskUsage', options)
  }


  async repositoryStorage(limit: number): Promise<RepositoryStorage> {
    return this.reader.call('repositoryStorage', limit)
  }

  async listBlobRecords(): Promise<BlobRecord[]> {
    return this.db.prepare<[], { digest: string; size: number }>('SELECT digest, size FROM blobs ORDER BY digest').all()
      .map((row) => ({ digest: row.digest as Digest, size: row.size }))
  }

  async findDanglingRows(): Promise<DanglingRows> {
    const db = this.db
    return {
      linksWithoutBlob: db.prepare<[], { repo: string; digest: string }>(
        'SELECT repo, digest FROM repository_blobs l WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.digest)').all(),
      tagsWithoutManifest: db.prepare<[], { repo: string; tag: string; digest: string }>(
        'SELECT repo, tag, digest FROM tags t WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = t.repo AND m.digest = t.digest)').all(),
      missingReferences: db.prepare<[], { repo: string; manifest: string; child: string; kind: string }>(
        `SELECT m.repo, m.digest AS manifest, r.child, r.kind FROM manifests m JOIN manifest_references r ON r.parent = m.digest
         WHERE r.kind <> 'external'
           AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.repo = m.repo AND l.digest = r.child AND r.kind <> 'manifest')
           AND NOT EXISTS (SELECT 1 FROM manifests c WHERE c.repo = m.repo AND c.digest = r.child AND r.kind IN ('manifest', 'blob'))
         ORDER BY m.repo, m.digest`).all(),
    }
  }

  async forgetBlobs(digests: readonly Digest[]): Promise<void> {
    return this.write('forgetBlobs', digests)
  }


  async removeDanglingRows(): Promise<{ links: number; tags: number }> {
    return this.invalidating(undefined, this.write('removeDanglingRows'))
  }


  async listManifestContents(after: string, limit: number): Promise<Array<{ digest: Digest; body: Buffer }>> {
    return this.db.prepare<[string, number], { digest: string; body: Buffer }>(
      'SELECT digest, body FROM manifest_contents WHERE digest > ? ORDER BY digest LIMIT ?').all(after, limit)
      .map((row) => ({ digest: row.digest as Digest, body: row.body }))
  }

  async enqueueNotifications(entries: readonly NotificationToQueue[], now: number): Promise<void> {
    if (entries.length === 0) return
    return this.write('enqueueNotifications', entries, now)
  }

  async nextNotifications(endpoint: string, limit: number): Promise<QueuedNotification[]> {
    return this.stmt.nextNotifications.all(endpoint, limit).map((row) => ({ id: row.id, event: row.event, enqueuedAt: row.enqueued_at }))
  }

  async markNotificationsDelivered(endpoint: string, ids: readonly number[], now: number): Promise<void> {
    return this.write('markNotificationsDelivered', endpoint, ids, now)
  }

  async recordNotificationFailure(endpoint: string, failure: NotificationFailure): Promise<number> {
    return this.write('recordNotificationFailure', endpoint, failure)
  }

  async notificationState(endpoint: string): Promise<NotificationEndpointState> {
    const queued = this.stmt.pendingNotifications.get(endpoint)!
    return notificationStateOf(endpoint, queued, this.stmt.notificationEndpoint.get(endpoint))
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopListening()
      if (this.writerFailure === undefined) {
        this.writer.ref()
        const closed = new Promise<void>((resolve) => {
          const onMessage = (message: unknown): void => {
            if (message === 'closed') { this.writer.off('message', onMessage); resolve() }
          }
          this.writer.on('message', onMessage)
          this.writer.once('exit', () => resolve())
        })
        // Writes already posted are answered before 'closed': the worker handles messages in order.
        this.writer.postMessage('close')
        await closed
      }
      await this.writer.terminate()
      await this.reader.close()
      if (this.db.open) this.db.close()
    })()
    return this.closing
  }

}
