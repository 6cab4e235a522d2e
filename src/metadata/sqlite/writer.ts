import type Database from 'better-sqlite3'
import type { Digest } from '../../oci/digest.js'
import type { ManifestReference } from '../../oci/manifest.js'
import type {
  BlobRecord, BlobRecorded, DiskUsage, ManifestPut, PutManifestResult, RepositorySweepPlan, RepositorySweepResult, RepositoryUsage, TagRecord, UploadRecord,
} from '../metadata-store.js'
import {
  SQL_DELETE_ORPHAN_CONTENTS, SQL_DELETE_UNREACHABLE_MANIFESTS, SQL_DELETE_UNREACHABLE_TAGS, SQL_DELETE_UNUSED_LINKS, SQL_MARK,
  SQL_REPOSITORY_EXCLUSIVE, SQL_REPOSITORY_IS_EMPTY, SQL_REPOSITORY_LOGICAL, SQL_TAG_SIZES, SQL_UNLINKED_BLOBS_PAGE, SQL_UNREACHABLE_MANIFESTS,
} from './schema.js'

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
      manifestSizeInRepo: db.prepare<[string, string], { size: number }>(
        `SELECT c.size FROM manifests m JOIN manifest_contents c ON c.digest = m.digest WHERE m.repo = ? AND m.digest = ?`),
      insertContent: db.prepare<[string, string, number, string | null, string | null, string | null, Buffer, number]>(
        `INSERT OR IGNORE INTO manifest_contents (digest, media_type, size, artifact_type, subject, annotations, body, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      insertReference: db.prepare<[string, string, string]>('INSERT OR IGNORE INTO manifest_references (parent, child, kind) VALUES (?, ?, ?)'),
      insertManifest: db.prepare<[string, string, number]>('INSERT OR IGNORE INTO manifests (repo, digest, created_at) VALUES (?, ?, ?)'),
      deleteManifest: db.prepare<[string, string]>('DELETE FROM manifests WHERE repo = ? AND digest = ?'),
      deleteTagsOf: db.prepare<[string, string]>('DELETE FROM tags WHERE repo = ? AND digest = ?'),
      setTag: db.prepare<[string, string, string, number]>(
        `INSERT INTO tags (repo, tag, digest, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`),
      deleteTag: db.prepare<[string, string]>('DELETE FROM tags WHERE repo = ? AND tag = ?'),
      deleteTagAt: db.prepare<[string, string, string]>('DELETE FROM tags WHERE repo = ? AND tag = ? AND digest = ?'),
      createUpload: db.prepare<[string, string, number, number]>('INSERT INTO uploads (id, repo, started_at, updated_at) VALUES (?, ?, ?, ?)'),
      touchUpload: db.prepare<[number, string]>('UPDATE uploads SET updated_at = ? WHERE id = ?'),
      deleteUpload: db.prepare<[string]>('DELETE FROM uploads WHERE id = ?'),
      unlinkedBlobSize: db.prepare<[string], { size: number }>(
        'SELECT size FROM blobs b WHERE digest = ? AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)'),
      deleteBlob: db.prepare<[string]>('DELETE FROM blobs WHERE digest = ?'),
      unlinkEverywhere: db.prepare<[string]>('DELETE FROM repository_blobs WHERE digest = ?'),
    }
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

  unlinkBlob(repo: string, digest: string): boolean {
    return this.stmt.unlinkBlob.run(repo, digest).changes > 0
  }

  touchBlobLink(repo: string, digest: string, now: number): boolean {
    return this.stmt.touchBlobLink.run(now, repo, digest).changes > 0
  }

  putManifest(put: ManifestPut): PutManifestResult {
    const missing: ManifestReference[] = []
    const sizeMismatch: ManifestReference[] = []
    for (const ref of put.references) {
      if (ref.kind === 'external') continue
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
    this.stmt.insertContent.run(put.digest, put.mediaType, body.length, put.artifactType ?? null, put.subject ?? null,
      put.annotations !== undefined ? JSON.stringify(put.annotations) : null, body, put.now)
    for (const ref of put.references) this.stmt.insertReference.run(put.digest, ref.digest, ref.kind)
    this.stmt.insertManifest.run(put.repo, put.digest, put.now)
    for (const tag of put.tags) this.stmt.setTag.run(put.repo, tag, put.digest, put.now)
    return { ok: true, repositoryCreated }
  }

  deleteManifest(repo: string, digest: string): boolean {
    const removed = this.stmt.deleteManifest.run(repo, digest).changes > 0
    if (removed) this.stmt.deleteTagsOf.run(repo, digest)
    return removed
  }

  deleteTag(repo: string, tag: string): boolean {
    return this.stmt.deleteTag.run(repo, tag).changes > 0
  }

  createUpload(upload: UploadRecord): void {
    this.stmt.createUpload.run(upload.id, upload.repo, upload.startedAt, upload.updatedAt)
  }

  touchUpload(id: string, now: number): void {
    this.stmt.touchUpload.run(now, id)
  }

  deleteUpload(id: string): boolean {
    return this.stmt.deleteUpload.run(id).changes > 0
  }

  sweepRepository(plan: RepositorySweepPlan): RepositorySweepResult {
    const db = this.db
    db.exec('SAVEPOINT sweep')
    try {
      const tagsRemoved: TagRecord[] = []
      for (const tag of plan.tags) {
        if (this.stmt.deleteTagAt.run(tag.repo, tag.tag, tag.digest).changes > 0) tagsRemoved.push(tag)
      }
      db.exec(`CREATE TEMP TABLE IF NOT EXISTS gc_kept (digest TEXT PRIMARY KEY) WITHOUT ROWID; DELETE FROM temp.gc_kept;`)
      const params = { repo: plan.repo, grace: plan.graceCutoff, untaggedCutoff: plan.untaggedCutoff ?? -1 }
      db.prepare(SQL_MARK).run(params)
      const manifestsRemoved = db.prepare<{ repo: string }, { digest: string; size: number }>(SQL_UNREACHABLE_MANIFESTS).all({ repo: plan.repo })
        .map((row) => ({ repo: plan.repo, digest: row.digest as Digest, size: row.size }))
      db.prepare(SQL_DELETE_UNREACHABLE_TAGS).run({ repo: plan.repo })
      db.prepare(SQL_DELETE_UNREACHABLE_MANIFESTS).run({ repo: plan.repo })
      const linksRemoved = db.prepare<{ repo: string; grace: number }, { digest: string }>(SQL_DELETE_UNUSED_LINKS)
        .all({ repo: plan.repo, grace: plan.graceCutoff }).map((row) => row.digest as Digest)
      const repositoryRemoved = db.prepare<{ repo: string }, { empty: number }>(SQL_REPOSITORY_IS_EMPTY).get({ repo: plan.repo })?.empty === 1
      if (repositoryRemoved) db.prepare<[string]>('DELETE FROM repositories WHERE name = ?').run(plan.repo)
      db.exec('DELETE FROM temp.gc_kept')
      if (plan.dryRun) db.exec('ROLLBACK TO sweep')
      db.exec('RELEASE sweep')
      return { tagsRemoved, manifestsRemoved, linksRemoved, repositoryRemoved }
    } catch (err) {
      db.exec('ROLLBACK TO sweep; RELEASE sweep')
      throw err
    }
  }

  deleteOrphanManifestContents(): number {
    const before = this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM manifest_contents').get()!.n
    this.db.exec(SQL_DELETE_ORPHAN_CONTENTS)
    return before - this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM manifest_contents').get()!.n
  }

  /** Read-only; runs here so a scan of a large table never holds up the serving thread. */
  listUnlinkedBlobs(after: string, limit: number, graceCutoff: number): { blobs: BlobRecord[]; last?: string } {
    const rows = this.db.prepare<{ after: string; limit: number; grace: number }, { digest: string; size: number; old: number; unlinked: number }>(
      SQL_UNLINKED_BLOBS_PAGE).all({ after, limit, grace: graceCutoff })
    return {
      blobs: rows.filter((r) => r.old === 1 && r.unlinked === 1).map((r) => ({ digest: r.digest as Digest, size: r.size })),
      ...(rows.length === limit ? { last: rows[rows.length - 1]!.digest } : {}),
    }
  }

  countBlobLinks(digests: readonly string[]): number[] {
    const count = this.db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM repository_blobs WHERE digest = ?')
    return digests.map((digest) => count.get(digest)!.n)
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

  removeDanglingRows(): { links: number; tags: number } {
    return {
      links: this.db.prepare('DELETE FROM repository_blobs WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = repository_blobs.digest)').run().changes,
      tags: this.db.prepare('DELETE FROM tags WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = tags.repo AND m.digest = tags.digest)').run().changes,
    }
  }

  /** Read-only, but run here so a large store's figures are computed off the serving thread. */
  diskUsage(options: { readonly perTag: boolean }): DiskUsage {
    const db = this.db
    const blobs = db.prepare<[], { count: number; bytes: number | null }>('SELECT COUNT(*) AS count, SUM(size) AS bytes FROM blobs').get()!
    const manifests = db.prepare<[], { count: number; bytes: number | null }>('SELECT COUNT(*) AS count, SUM(size) AS bytes FROM manifest_contents').get()!
    const shared = db.prepare<[], { bytes: number | null }>(
      `SELECT SUM(b.size) AS bytes FROM blobs b
       WHERE (SELECT COUNT(*) FROM repository_blobs l WHERE l.digest = b.digest) > 1`).get()!
    const logical = db.prepare<[string], { bytes: number | null }>(SQL_REPOSITORY_LOGICAL)
    const exclusive = db.prepare<{ repo: string }, { bytes: number | null }>(SQL_REPOSITORY_EXCLUSIVE)
    const perTag = db.prepare<[string], { tag: string; digest: string; bytes: number | null }>(SQL_TAG_SIZES)
    const repositories: RepositoryUsage[] = db.prepare<[], { name: string }>('SELECT name FROM repositories ORDER BY name').all()
      .map(({ name }) => ({
        name,
        logicalBytes: logical.get(name)?.bytes ?? 0,
        exclusiveBytes: exclusive.get({ repo: name })?.bytes ?? 0,
        ...(options.perTag ? { tags: perTag.all(name).map((row) => ({ tag: row.tag, digest: row.digest, bytes: row.bytes ?? 0 })) } : {}),
      }))
    return {
      blobs: { count: blobs.count, bytes: blobs.bytes ?? 0 },
      manifests: { count: manifests.count, bytes: manifests.bytes ?? 0 },
      sharedBytes: shared.bytes ?? 0,
      repositories,
    }
  }
}

/** The operations a writer thread accepts, by name. */
export type WriteOperation = {
  [K in keyof SqliteWriter]: SqliteWriter[K] extends (...args: never[]) => unknown ? K : never
}[keyof SqliteWriter]
