import type Database from 'better-sqlite3'
import { Worker } from 'node:worker_threads'
import type { CacheInvalidation } from '../coordination/coordination.js'
import { InProcessCoordination } from '../coordination/in-process.js'
import type { Digest } from '../oci/digest.js'
import type { RepoName, Tag } from '../oci/names.js'
import type {
  BlobRecord, BlobRecorded, DanglingRows, DiskUsage, ManifestPut, ManifestRecord, MetadataStore, PageRequest, PutManifestResult, RepositoryBlobRecord,
  RepositorySweepPlan, RepositorySweepResult, TagRecord, UploadRecord,
} from './metadata-store.js'
import { MANIFEST_COLUMNS, migrate, openDatabase, toManifestRecord, toUploadRecord, type ManifestRow } from './sqlite/schema.js'
import { ManifestCache } from './manifest-cache.js'
import type { WriteRequest, WriteResponse } from './sqlite/writer-worker.js'
import type { SqliteWriter, WriteOperation } from './sqlite/writer.js'

/** Manifest bodies kept in memory for reads by tag or digest. */
const MANIFEST_CACHE_BYTES = 16 * 1024 * 1024

/**
 * SQLite in WAL mode with synchronous=FULL: a committed row survives a crash. Reads run on this
 * thread's connection (WAL readers never wait); every write goes to one writer thread
 * (sqlite/writer-worker.ts) that group-commits them, so fsyncs never stall the serving thread.
 * A write's promise settles after its commit, so a read that follows it sees it.
 */
export class SqliteMetadataStore implements MetadataStore {
  private readonly db: Database.Database
  private readonly stmt
  private readonly writer: Worker
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>()
  private nextCallId = 1
  private readonly manifestCache = new ManifestCache(MANIFEST_CACHE_BYTES)
  /** Where this store announces writes that change manifests; its own cache listens there too. */
  private readonly invalidation: CacheInvalidation
  private readonly stopListening: () => void
  private writerFailure: Error | undefined
  private closing: Promise<void> | undefined
  /** Settles once the writer thread has opened the database (or failed to). */
  readonly ready: Promise<void>

  /** `invalidation`: shared with the other processes serving the store (a private channel when absent). */
  constructor(file: string, options: { readonly invalidation?: CacheInvalidation } = {}) {
    this.invalidation = options.invalidation ?? new InProcessCoordination()
    this.stopListening = this.invalidation.onInvalidate((repo) => {
      if (repo === undefined) this.manifestCache.clear()
      else this.manifestCache.invalidateRepository(repo)
    })
    this.db = openDatabase(file)
    migrate(this.db)
    // This connection only reads; the writer thread owns every change.
    this.db.pragma('query_only = ON')
    this.writer = new Worker(new URL('./sqlite/writer-worker.js', import.meta.url), { workerData: { file } })
    this.writer.unref()
    let markReady!: () => void
    let markFailed!: (err: Error) => void
    this.ready = new Promise<void>((resolve, reject) => { markReady = resolve; markFailed = reject })
    this.ready.catch(() => undefined)
    this.writer.on('message', (message: WriteResponse | 'closed' | 'ready') => {
      if (message === 'ready') { markReady(); return }
      if (message === 'closed') return
      const call = this.calls.get(message.id)
      if (call === undefined) return
      this.calls.delete(message.id)
      if (this.calls.size === 0) this.writer.unref()
      if (message.ok) call.resolve(message.value)
      else call.reject(Object.assign(new Error(message.error.message), { name: message.error.name, ...(message.error.code !== undefined ? { code: message.error.code } : {}) }))
    })
    this.writer.on('error', (err) => { markFailed(err); this.failWriter(err) })
    this.writer.on('exit', (code) => {
      const err = new Error(`metadata writer thread exited (${code})`)
      markFailed(err)
      this.failWriter(err)
    })
    const db = this.db
    this.stmt = {
      repositoryExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM repositories WHERE name = ?'),
      listRepositories: db.prepare<[string, number], { name: string }>('SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?'),
      getBlob: db.prepare<[string], { size: number }>('SELECT size FROM blobs WHERE digest = ?'),
      getRepositoryBlob: db.prepare<[string, string], { size: number; used_at: number }>(
        'SELECT b.size, r.used_at FROM repository_blobs r JOIN blobs b ON b.digest = r.digest WHERE r.repo = ? AND r.digest = ?'),
      manifestBody: db.prepare<[string], { body: Buffer }>('SELECT body FROM manifest_contents WHERE digest = ?'),
      manifestInRepoWithBody: db.prepare<[string, string], ManifestRow & { body: Buffer }>(
        `SELECT ${MANIFEST_COLUMNS}, c.body FROM manifests m JOIN manifest_contents c ON c.digest = m.digest WHERE m.repo = ? AND m.digest = ?`),
      manifestByTagWithBody: db.prepare<[string, string], ManifestRow & { body: Buffer }>(
        `SELECT ${MANIFEST_COLUMNS}, c.body FROM tags t JOIN manifest_contents c ON c.digest = t.digest WHERE t.repo = ? AND t.tag = ?`),
      listTags: db.prepare<[string, string, number], { tag: string }>('SELECT tag FROM tags WHERE repo = ? AND tag > ? ORDER BY tag LIMIT ?'),
      // Digest order: a stable cursor for pages (`last`), whatever is pushed or deleted in between.
      referrers: db.prepare<{ repo: string; subject: string; artifactType: string | null; last: string; limit: number }, ManifestRow>(
        `SELECT ${MANIFEST_COLUMNS} FROM manifest_contents c JOIN manifests m ON m.digest = c.digest AND m.repo = :repo
         WHERE c.subject = :subject AND c.digest > :last AND (:artifactType IS NULL OR c.artifact_type = :artifactType)
         ORDER BY c.digest LIMIT :limit`),
      getUpload: db.prepare<[string], { id: string; repo: string; started_at: number; updated_at: number }>(
        'SELECT id, repo, started_at, updated_at FROM uploads WHERE id = ?'),
      listUploads: db.prepare<[number], { id: string; repo: string; started_at: number; updated_at: number }>(
        'SELECT id, repo, started_at, updated_at FROM uploads WHERE updated_at < ? ORDER BY updated_at'),
    }
  }

  /** Runs a write on the writer thread; settles after the transaction holding it committed. */
  private write<K extends WriteOperation>(operation: K, ...args: Parameters<SqliteWriter[K]>): Promise<ReturnType<SqliteWriter[K]>> {
    if (this.writerFailure !== undefined) return Promise.reject(this.writerFailure)
    if (this.closing !== undefined) return Promise.reject(new Error('metadata store is closed'))
    const id = this.nextCallId++
    return new Promise((resolve, reject) => {
      if (this.calls.size === 0) this.writer.ref()
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.writer.postMessage({ id, operation, args } satisfies WriteRequest)
    })
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
      this.invalidation.invalidate(repo)
    }
  }

  private failWriter(err: Error): void {
    if (this.closing !== undefined && this.calls.size === 0) return
    this.writerFailure ??= err
    for (const call of this.calls.values()) call.reject(err)
    this.calls.clear()
  }

  async repositoryExists(repo: RepoName): Promise<boolean> {
    return this.stmt.repositoryExists.get(repo) !== undefined
  }

  async listRepositories(page: PageRequest): Promise<string[]> {
    return this.stmt.listRepositories.all(page.last ?? '', page.limit).map((row) => row.name)
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


  async linkBlob(repo: RepoName, digest: Digest, from?: RepoName): Promise<(BlobRecord & BlobRecorded) | undefined> {
    return this.write('linkBlob', repo, digest, from, Date.now())
  }


  async unlinkBlob(repo: RepoName, digest: Digest): Promise<boolean> {
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
    return this.invalidating(put.repo, this.write('putManifest', put))
  }


  async deleteManifest(repo: RepoName, digest: Digest): Promise<boolean> {
    return this.invalidating(repo, this.write('deleteManifest', repo, digest))
  }


  async deleteTag(repo: RepoName, tag: Tag): Promise<boolean> {
    return this.invalidating(repo, this.write('deleteTag', repo, tag))
  }


  async listTags(repo: RepoName, page: PageRequest): Promise<string[]> {
    return this.stmt.listTags.all(repo, page.last ?? '', page.limit).map((row) => row.tag)
  }

  async listReferrers(repo: RepoName, subject: Digest, artifactType?: string, page?: PageRequest): Promise<ManifestRecord[]> {
    return this.stmt.referrers.all({ repo, subject, artifactType: artifactType ?? null, last: page?.last ?? '', limit: page?.limit ?? -1 }).map(toManifestRecord)
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
    return this.invalidating(plan.repo, this.write('sweepRepository', plan))
  }

  async deleteOrphanManifestContents(): Promise<number> {
    return this.write('deleteOrphanManifestContents')
  }

  async listUnlinkedBlobs(after: string, limit: number, graceCutoff: number): Promise<{ readonly blobs: BlobRecord[]; readonly last?: string }> {
    return this.write('listUnlinkedBlobs', after, limit, graceCutoff)
  }

  async countBlobLinks(digests: readonly Digest[]): Promise<number[]> {
    return this.write('countBlobLinks', digests)
  }


  async deleteBlobsIfUnlinked(digests: readonly Digest[]): Promise<BlobRecord[]> {
    return this.write('deleteBlobsIfUnlinked', digests)
  }


  async diskUsage(options: { readonly perTag: boolean }): Promise<DiskUsage> {
    return this.write('diskUsage', options)
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
      if (this.db.open) this.db.close()
    })()
    return this.closing
  }

}
