import Database from 'better-sqlite3'
import type { Digest } from '../oci/digest.js'
import type { ManifestReference } from '../oci/manifest.js'
import type { RepoName, Tag } from '../oci/names.js'
import type {
  BlobRecord, DanglingRows, DiskUsage, ManifestPut, ManifestRecord, MetadataStore, PageRequest, PutManifestResult, RepositoryBlobRecord,
  RepositoryUsage, SweepPlan, SweepResult, TagRecord, UploadRecord,
} from './metadata-store.js'

/** Schema migrations, applied in order; PRAGMA user_version records how many ran. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE repositories (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  -- used_at: when the link was made or last confirmed to a client (HEAD/GET); garbage collection
  -- spares links used within its grace period, so a client that saw a blob can still reference it.
  CREATE TABLE repository_blobs (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (repo, digest)
  ) WITHOUT ROWID;
  CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);
  -- A manifest's bytes and what is derived from them, once per digest.
  CREATE TABLE manifest_contents (
    digest TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    artifact_type TEXT,
    subject TEXT,
    annotations TEXT,
    body BLOB NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX manifest_contents_by_subject ON manifest_contents (subject) WHERE subject IS NOT NULL;
  CREATE TABLE manifest_references (
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (parent, child, kind)
  ) WITHOUT ROWID;
  CREATE INDEX manifest_references_by_child ON manifest_references (child);
  CREATE TABLE manifests (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repo, digest)
  ) WITHOUT ROWID;
  CREATE INDEX manifests_by_digest ON manifests (digest);
  CREATE TABLE tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (repo, tag)
  ) WITHOUT ROWID;
  CREATE INDEX tags_by_digest ON tags (repo, digest);
  CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
]

interface ManifestRow {
  digest: string
  media_type: string
  size: number
  artifact_type: string | null
  subject: string | null
  annotations: string | null
}

function toManifestRecord(row: ManifestRow): ManifestRecord {
  return {
    digest: row.digest as Digest,
    mediaType: row.media_type,
    size: row.size,
    ...(row.artifact_type !== null ? { artifactType: row.artifact_type } : {}),
    ...(row.subject !== null ? { subject: row.subject as Digest } : {}),
    ...(row.annotations !== null ? { annotations: JSON.parse(row.annotations) as Record<string, string> } : {}),
  }
}

function toUploadRecord(row: { id: string; repo: string; started_at: number; updated_at: number }): UploadRecord {
  return { id: row.id, repo: row.repo as RepoName, startedAt: row.started_at, updatedAt: row.updated_at }
}

const MANIFEST_COLUMNS = 'c.digest, c.media_type, c.size, c.artifact_type, c.subject, c.annotations'

/**
 * Marks the manifests garbage collection keeps, per repository: tagged ones, those created within
 * the grace period, untagged non-referrers unless a retention cutoff says otherwise, then
 * recursively the children of kept indexes and the referrers of kept manifests.
 */
const SQL_MARK = `
  INSERT INTO temp.gc_kept (repo, digest)
  WITH RECURSIVE kept (repo, digest) AS (
    SELECT m.repo, m.digest FROM manifests m JOIN manifest_contents c ON c.digest = m.digest
    WHERE m.created_at >= :grace
       OR EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest)
       OR (c.subject IS NULL AND m.created_at >= COALESCE((SELECT u.cutoff FROM temp.gc_untagged_cutoff u WHERE u.repo = m.repo), -1))
    UNION
    SELECT m.repo, m.digest FROM kept k
      JOIN manifest_references r ON r.parent = k.digest
      JOIN manifests m ON m.repo = k.repo AND m.digest = r.child
    UNION
    SELECT m.repo, m.digest FROM kept k
      JOIN manifest_contents c ON c.subject = k.digest
      JOIN manifests m ON m.repo = k.repo AND m.digest = c.digest
  )
  SELECT repo, digest FROM kept`

const SQL_UNREACHABLE_MANIFESTS = `
  SELECT m.repo, m.digest, c.size FROM manifests m JOIN manifest_contents c ON c.digest = m.digest
  WHERE NOT EXISTS (SELECT 1 FROM temp.gc_kept k WHERE k.repo = m.repo AND k.digest = m.digest)
  ORDER BY m.repo, m.digest`

const SQL_DELETE_UNREACHABLE_MANIFESTS = `
  DELETE FROM tags WHERE NOT EXISTS (SELECT 1 FROM temp.gc_kept k WHERE k.repo = tags.repo AND k.digest = tags.digest);
  DELETE FROM manifests WHERE NOT EXISTS (SELECT 1 FROM temp.gc_kept k WHERE k.repo = manifests.repo AND k.digest = manifests.digest)`

/** A link survives while a kept manifest of its repository references the blob, or it was used recently. */
const SQL_DELETE_UNUSED_LINKS = `
  DELETE FROM repository_blobs
  WHERE used_at < :grace
    AND NOT EXISTS (
      SELECT 1 FROM manifest_references r JOIN temp.gc_kept k ON k.digest = r.parent AND k.repo = repository_blobs.repo
      WHERE r.child = repository_blobs.digest AND r.kind <> 'manifest')`

const SQL_DELETE_ORPHAN_CONTENTS = `
  DELETE FROM manifest_contents WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = manifest_contents.digest);
  DELETE FROM manifest_references WHERE NOT EXISTS (SELECT 1 FROM manifest_contents c WHERE c.digest = manifest_references.parent)`

const SQL_EMPTY_REPOSITORIES = `
  SELECT name FROM repositories r
  WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = r.name)
    AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.repo = r.name)
    AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = r.name)`

const SQL_UNLINKED_BLOBS = `
  SELECT digest, size FROM blobs b
  WHERE b.created_at < :grace AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)
  ORDER BY digest`

/** Distinct bytes of every manifest of a repository and everything they reference. */
const SQL_REPOSITORY_LOGICAL = `
  WITH RECURSIVE closure (digest) AS (
    SELECT digest FROM manifests WHERE repo = ?
    UNION
    SELECT r.child FROM closure c JOIN manifest_references r ON r.parent = c.digest
  )
  SELECT SUM(COALESCE(mc.size, b.size, 0)) AS bytes FROM closure c
    LEFT JOIN manifest_contents mc ON mc.digest = c.digest LEFT JOIN blobs b ON b.digest = c.digest`

/** Blobs linked only into this repository plus manifests only it has. */
const SQL_REPOSITORY_EXCLUSIVE = `
  SELECT
    COALESCE((SELECT SUM(b.size) FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
              WHERE l.repo = :repo AND NOT EXISTS (SELECT 1 FROM repository_blobs o WHERE o.digest = l.digest AND o.repo <> :repo)), 0)
  + COALESCE((SELECT SUM(c.size) FROM manifests m JOIN manifest_contents c ON c.digest = m.digest
              WHERE m.repo = :repo AND NOT EXISTS (SELECT 1 FROM manifests o WHERE o.digest = m.digest AND o.repo <> :repo)), 0) AS bytes`

/** Per tag: the manifest, its children and every blob they reference, each counted once. */
const SQL_TAG_SIZES = `
  WITH RECURSIVE closure (tag, root, digest) AS (
    SELECT tag, digest, digest FROM tags WHERE repo = ?
    UNION
    SELECT c.tag, c.root, r.child FROM closure c JOIN manifest_references r ON r.parent = c.digest
  )
  SELECT c.tag, c.root AS digest, SUM(COALESCE(mc.size, b.size, 0)) AS bytes FROM closure c
    LEFT JOIN manifest_contents mc ON mc.digest = c.digest LEFT JOIN blobs b ON b.digest = c.digest
  GROUP BY c.tag, c.root ORDER BY c.tag`

/**
 * SQLite in WAL mode with synchronous=FULL: a committed row survives a crash. better-sqlite3 is
 * synchronous, so each method runs to completion on the event loop and transactions never
 * interleave; the async signatures are for other implementations.
 */
export class SqliteMetadataStore implements MetadataStore {
  private readonly db: Database.Database
  private readonly stmt
  private pending: Array<{ operation: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }> = []

  constructor(file: string) {
    this.db = new Database(file)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.pragma('busy_timeout = 5000')
    this.db.pragma('foreign_keys = ON')
    this.migrate()
    const db = this.db
    this.stmt = {
      repositoryExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM repositories WHERE name = ?'),
      listRepositories: db.prepare<[string, number], { name: string }>('SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?'),
      ensureRepository: db.prepare<[string, number]>('INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?, ?)'),
      getBlob: db.prepare<[string], { size: number }>('SELECT size FROM blobs WHERE digest = ?'),
      getRepositoryBlob: db.prepare<[string, string], { size: number; used_at: number }>(
        'SELECT b.size, r.used_at FROM repository_blobs r JOIN blobs b ON b.digest = r.digest WHERE r.repo = ? AND r.digest = ?'),
      touchBlobLink: db.prepare<[number, string, string]>('UPDATE repository_blobs SET used_at = ? WHERE repo = ? AND digest = ?'),
      insertBlob: db.prepare<[string, number, number]>('INSERT OR IGNORE INTO blobs (digest, size, created_at) VALUES (?, ?, ?)'),
      linkBlob: db.prepare<[string, string, number]>(`INSERT INTO repository_blobs (repo, digest, used_at) VALUES (?, ?, ?)
         ON CONFLICT (repo, digest) DO UPDATE SET used_at = excluded.used_at`),
      unlinkBlob: db.prepare<[string, string]>('DELETE FROM repository_blobs WHERE repo = ? AND digest = ?'),
      manifestInRepo: db.prepare<[string, string], ManifestRow>(
        `SELECT ${MANIFEST_COLUMNS} FROM manifests m JOIN manifest_contents c ON c.digest = m.digest WHERE m.repo = ? AND m.digest = ?`),
      manifestByTag: db.prepare<[string, string], ManifestRow>(
        `SELECT ${MANIFEST_COLUMNS} FROM tags t JOIN manifest_contents c ON c.digest = t.digest WHERE t.repo = ? AND t.tag = ?`),
      manifestBody: db.prepare<[string], { body: Buffer }>('SELECT body FROM manifest_contents WHERE digest = ?'),
      manifestInRepoWithBody: db.prepare<[string, string], ManifestRow & { body: Buffer }>(
        `SELECT ${MANIFEST_COLUMNS}, c.body FROM manifests m JOIN manifest_contents c ON c.digest = m.digest WHERE m.repo = ? AND m.digest = ?`),
      manifestByTagWithBody: db.prepare<[string, string], ManifestRow & { body: Buffer }>(
        `SELECT ${MANIFEST_COLUMNS}, c.body FROM tags t JOIN manifest_contents c ON c.digest = t.digest WHERE t.repo = ? AND t.tag = ?`),
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
      listTags: db.prepare<[string, string, number], { tag: string }>('SELECT tag FROM tags WHERE repo = ? AND tag > ? ORDER BY tag LIMIT ?'),
      referrers: db.prepare<[string, string], ManifestRow>(
        `SELECT ${MANIFEST_COLUMNS} FROM manifest_contents c JOIN manifests m ON m.digest = c.digest AND m.repo = ?
         WHERE c.subject = ? ORDER BY c.created_at, c.digest`),
      createUpload: db.prepare<[string, string, number, number]>('INSERT INTO uploads (id, repo, started_at, updated_at) VALUES (?, ?, ?, ?)'),
      getUpload: db.prepare<[string], { id: string; repo: string; started_at: number; updated_at: number }>(
        'SELECT id, repo, started_at, updated_at FROM uploads WHERE id = ?'),
      touchUpload: db.prepare<[number, string]>('UPDATE uploads SET updated_at = ? WHERE id = ?'),
      deleteUpload: db.prepare<[string]>('DELETE FROM uploads WHERE id = ?'),
      listUploads: db.prepare<[number], { id: string; repo: string; started_at: number; updated_at: number }>(
        'SELECT id, repo, started_at, updated_at FROM uploads WHERE updated_at < ? ORDER BY updated_at'),
    }
  }

  /**
   * Group commit: writes requested in the same turn of the event loop run in one transaction, each
   * in its own savepoint (a failing one rolls back alone), so one fsync of the WAL makes a whole
   * batch durable. Callers are answered only after the commit.
   */
  private write<T>(operation: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ operation, resolve: resolve as (value: unknown) => void, reject })
      if (this.pending.length === 1) setImmediate(() => this.flush())
    })
  }

  private flush(): void {
    const batch = this.pending
    this.pending = []
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = []
    try {
      this.db.exec('BEGIN IMMEDIATE')
      for (const { operation } of batch) {
        try {
          outcomes.push({ ok: true, value: this.db.transaction(operation)() })
        } catch (error) {
          outcomes.push({ ok: false, error })
        }
      }
      this.db.exec('COMMIT')
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing of the batch is durable.
      if (this.db.inTransaction) this.db.exec('ROLLBACK')
      for (const { reject } of batch) reject(error)
      return
    }
    batch.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!
      if (outcome.ok) resolve(outcome.value)
      else reject(outcome.error)
    })
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number
    for (let i = version; i < MIGRATIONS.length; i++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[i]!)
        this.db.pragma(`user_version = ${i + 1}`)
      })()
    }
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

  async touchBlobLink(repo: RepoName, digest: Digest, now: number): Promise<void> {
    return this.write(() => { this.stmt.touchBlobLink.run(now, repo, digest) })
  }

  async recordBlob(repo: RepoName, digest: Digest, size: number, uploadId?: string): Promise<void> {
    return this.write(() => {
      const now = Date.now()
      this.stmt.insertBlob.run(digest, size, now)
      this.stmt.ensureRepository.run(repo, now)
      this.stmt.linkBlob.run(repo, digest, now)
      if (uploadId !== undefined) this.stmt.deleteUpload.run(uploadId)
    })
  }

  async linkBlob(repo: RepoName, digest: Digest, from?: RepoName): Promise<BlobRecord | undefined> {
    return this.write((): BlobRecord | undefined => {
      const row = from !== undefined ? this.stmt.getRepositoryBlob.get(from, digest) : this.stmt.getBlob.get(digest)
      if (row === undefined) return undefined
      const now = Date.now()
      this.stmt.ensureRepository.run(repo, now)
      this.stmt.linkBlob.run(repo, digest, now)
      return { digest, size: row.size }
    })
  }

  async unlinkBlob(repo: RepoName, digest: Digest): Promise<boolean> {
    return this.write(() => this.stmt.unlinkBlob.run(repo, digest).changes > 0)
  }

  async findManifest(repo: RepoName, reference: { readonly tag?: Tag; readonly digest?: Digest }): Promise<ManifestRecord | undefined> {
    const row = reference.digest !== undefined
      ? this.stmt.manifestInRepo.get(repo, reference.digest)
      : this.stmt.manifestByTag.get(repo, reference.tag ?? '')
    return row && toManifestRecord(row)
  }

  async getManifestBody(digest: Digest): Promise<Buffer | undefined> {
    return this.stmt.manifestBody.get(digest)?.body
  }

  async findManifestWithBody(repo: RepoName, reference: { readonly tag?: Tag; readonly digest?: Digest }): Promise<{ record: ManifestRecord; body: Buffer } | undefined> {
    const row = reference.digest !== undefined
      ? this.stmt.manifestInRepoWithBody.get(repo, reference.digest)
      : this.stmt.manifestByTagWithBody.get(repo, reference.tag ?? '')
    return row && { record: toManifestRecord(row), body: row.body }
  }

  async putManifest(put: ManifestPut): Promise<PutManifestResult> {
    return this.write((): PutManifestResult => {
      const missing: ManifestReference[] = []
      const sizeMismatch: ManifestReference[] = []
      for (const ref of put.references) {
        if (ref.kind === 'external') continue
        let size: number | undefined
        if (ref.kind !== 'manifest') size = this.stmt.getRepositoryBlob.get(put.repo, ref.digest)?.size
        if (size === undefined && (ref.kind === 'manifest' || ref.kind === 'blob')) size = this.stmt.manifestInRepo.get(put.repo, ref.digest)?.size
        if (size === undefined) missing.push(ref)
        else if (size !== ref.size) sizeMismatch.push(ref)
      }
      if (missing.length > 0 || sizeMismatch.length > 0) return { ok: false, missing, sizeMismatch }
      this.stmt.ensureRepository.run(put.repo, put.now)
      this.stmt.insertContent.run(put.digest, put.mediaType, put.body.length, put.artifactType ?? null, put.subject ?? null,
        put.annotations !== undefined ? JSON.stringify(put.annotations) : null, put.body, put.now)
      for (const ref of put.references) this.stmt.insertReference.run(put.digest, ref.digest, ref.kind)
      this.stmt.insertManifest.run(put.repo, put.digest, put.now)
      for (const tag of put.tags) this.stmt.setTag.run(put.repo, tag, put.digest, put.now)
      return { ok: true }
    })
  }

  async deleteManifest(repo: RepoName, digest: Digest): Promise<boolean> {
    return this.write((): boolean => {
      const removed = this.stmt.deleteManifest.run(repo, digest).changes > 0
      if (removed) this.stmt.deleteTagsOf.run(repo, digest)
      return removed
    })
  }

  async deleteTag(repo: RepoName, tag: Tag): Promise<boolean> {
    return this.write(() => this.stmt.deleteTag.run(repo, tag).changes > 0)
  }

  async listTags(repo: RepoName, page: PageRequest): Promise<string[]> {
    return this.stmt.listTags.all(repo, page.last ?? '', page.limit).map((row) => row.tag)
  }

  async listReferrers(repo: RepoName, subject: Digest, artifactType?: string): Promise<ManifestRecord[]> {
    const rows = this.stmt.referrers.all(repo, subject).map(toManifestRecord)
    return artifactType === undefined ? rows : rows.filter((row) => row.artifactType === artifactType)
  }

  async createUpload(upload: UploadRecord): Promise<void> {
    return this.write(() => { this.stmt.createUpload.run(upload.id, upload.repo, upload.startedAt, upload.updatedAt) })
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const row = this.stmt.getUpload.get(id)
    return row && toUploadRecord(row)
  }

  async listUploads(updatedBefore?: number): Promise<UploadRecord[]> {
    return this.stmt.listUploads.all(updatedBefore ?? Number.MAX_SAFE_INTEGER).map(toUploadRecord)
  }

  async touchUpload(id: string, now: number): Promise<void> {
    return this.write(() => { this.stmt.touchUpload.run(now, id) })
  }

  async deleteUpload(id: string): Promise<boolean> {
    return this.write(() => this.stmt.deleteUpload.run(id).changes > 0)
  }

  async listAllTags(): Promise<TagRecord[]> {
    return this.db.prepare<[], { repo: string; tag: string; digest: string; updated_at: number }>(
      'SELECT repo, tag, digest, updated_at FROM tags ORDER BY repo, tag').all()
      .map((row) => ({ repo: row.repo, tag: row.tag, digest: row.digest as Digest, updatedAt: row.updated_at }))
  }

  async sweep(plan: SweepPlan): Promise<SweepResult> {
    const db = this.db
    return this.write((): SweepResult => {
      db.exec('SAVEPOINT sweep')
      try {
        const tagsRemoved: TagRecord[] = []
        const deleteTagAt = db.prepare<[string, string, string]>('DELETE FROM tags WHERE repo = ? AND tag = ? AND digest = ?')
        for (const tag of plan.tags) {
          if (deleteTagAt.run(tag.repo, tag.tag, tag.digest).changes > 0) tagsRemoved.push(tag)
        }
        db.exec(`CREATE TEMP TABLE IF NOT EXISTS gc_untagged_cutoff (repo TEXT PRIMARY KEY, cutoff INTEGER NOT NULL);
                 CREATE TEMP TABLE IF NOT EXISTS gc_kept (repo TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repo, digest)) WITHOUT ROWID;
                 DELETE FROM temp.gc_untagged_cutoff; DELETE FROM temp.gc_kept;`)
        const insertCutoff = db.prepare<[string, number]>('INSERT OR REPLACE INTO temp.gc_untagged_cutoff (repo, cutoff) VALUES (?, ?)')
        for (const { repo, cutoff } of plan.untaggedCutoffs) insertCutoff.run(repo, cutoff)
        db.prepare(SQL_MARK).run({ grace: plan.graceCutoff })
        const manifestsRemoved = db.prepare<[], { repo: string; digest: string; size: number }>(SQL_UNREACHABLE_MANIFESTS).all()
          .map((row) => ({ repo: row.repo, digest: row.digest as Digest, size: row.size }))
        db.exec(SQL_DELETE_UNREACHABLE_MANIFESTS)
        const linksRemoved = db.prepare(SQL_DELETE_UNUSED_LINKS).run({ grace: plan.graceCutoff }).changes
        db.exec(SQL_DELETE_ORPHAN_CONTENTS)
        const repositoriesRemoved = db.prepare<[], { name: string }>(SQL_EMPTY_REPOSITORIES).all().map((row) => row.name)
        const deleteRepository = db.prepare<[string]>('DELETE FROM repositories WHERE name = ?')
        for (const name of repositoriesRemoved) deleteRepository.run(name)
        const unlinkedBlobs = db.prepare<{ grace: number }, { digest: string; size: number }>(SQL_UNLINKED_BLOBS).all({ grace: plan.graceCutoff })
          .map((row) => ({ digest: row.digest as Digest, size: row.size }))
        db.exec('DELETE FROM temp.gc_kept; DELETE FROM temp.gc_untagged_cutoff')
        if (plan.dryRun) db.exec('ROLLBACK TO sweep')
        db.exec('RELEASE sweep')
        return { tagsRemoved, manifestsRemoved, linksRemoved, repositoriesRemoved, unlinkedBlobs }
      } catch (err) {
        db.exec('ROLLBACK TO sweep; RELEASE sweep')
        throw err
      }
    })
  }

  async deleteBlobIfUnlinked(digest: Digest): Promise<number | undefined> {
    return this.write((): number | undefined => {
      const row = this.db.prepare<[string], { size: number }>(
        'SELECT size FROM blobs b WHERE digest = ? AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)').get(digest)
      if (row === undefined) return undefined
      this.db.prepare<[string]>('DELETE FROM blobs WHERE digest = ?').run(digest)
      return row.size
    })
  }

  async diskUsage(options: { readonly perTag: boolean }): Promise<DiskUsage> {
    const db = this.db
    return db.transaction((): DiskUsage => {
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
    })()
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
    return this.write(() => {
      const unlink = this.db.prepare<[string]>('DELETE FROM repository_blobs WHERE digest = ?')
      const remove = this.db.prepare<[string]>('DELETE FROM blobs WHERE digest = ?')
      for (const digest of digests) { unlink.run(digest); remove.run(digest) }
    })
  }

  async removeDanglingRows(): Promise<{ links: number; tags: number }> {
    return this.write(() => ({
      links: this.db.prepare('DELETE FROM repository_blobs WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = repository_blobs.digest)').run().changes,
      tags: this.db.prepare('DELETE FROM tags WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = tags.repo AND m.digest = tags.digest)').run().changes,
    }))
  }

  async listManifestContents(after: string, limit: number): Promise<Array<{ digest: Digest; body: Buffer }>> {
    return this.db.prepare<[string, number], { digest: string; body: Buffer }>(
      'SELECT digest, body FROM manifest_contents WHERE digest > ? ORDER BY digest LIMIT ?').all(after, limit)
      .map((row) => ({ digest: row.digest as Digest, body: row.body }))
  }

  async close(): Promise<void> {
    if (this.db.open && this.pending.length > 0) this.flush()
    if (this.db.open) this.db.close()
  }
}
