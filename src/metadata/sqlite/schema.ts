import Database from 'better-sqlite3'
import type { Digest } from '../../oci/digest.js'
import type { RepoName } from '../../oci/names.js'
import type { ManifestRecord, UploadRecord } from '../metadata-store.js'
import { manifestRecordOf, type ManifestColumns } from '../rows.js'

/** Schema migrations, applied in order; PRAGMA user_version records how many ran. */
export const MIGRATIONS: readonly string[] = [
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
  // pushed_at: the manifest's last PUT into the repository (created_at keeps the first). The grace
  // period protects a manifest pushed again now, e.g. an untagged child about to be referenced by a new index.
  `
  ALTER TABLE manifests ADD COLUMN pushed_at INTEGER NOT NULL DEFAULT 0;
  UPDATE manifests SET pushed_at = created_at;
  `,
  // Annotations were stored a second time beside the body, which holds them: read them from the body.
  `
  ALTER TABLE manifest_contents DROP COLUMN annotations;
  `,
  // owner: who started the upload session (only they may continue it); NULL for older sessions.
  `
  ALTER TABLE uploads ADD COLUMN owner TEXT;
  `,
  // The webhook queue: one ordered queue per endpoint (AUTOINCREMENT: ids are never reused, so
  // order by id is enqueue order), and each endpoint's delivery record (counts, backoff, last error).
  `
  CREATE TABLE notification_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    event TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL
  );
  CREATE INDEX notification_queue_by_endpoint ON notification_queue (endpoint, id);
  CREATE TABLE notification_endpoints (
    name TEXT PRIMARY KEY,
    delivered INTEGER NOT NULL DEFAULT 0,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_at INTEGER,
    last_success_at INTEGER
  ) WITHOUT ROWID;
  `,
  // The pull-through cache: when a tag of a proxied repository was last fetched from (or confirmed
  // by) its upstream; it is served from the cache until its TTL has passed since.
  `
  CREATE TABLE proxied_tags (
    repo TEXT NOT NULL,
    tag TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (repo, tag)
  ) WITHOUT ROWID;
  `,
  // The web UI: tags newest first, paged from the index (no sort of a whole repository's tags per
  // page), and the report of the last garbage collection (one row), kept across restarts.
  `
  CREATE INDEX tags_by_time ON tags (repo, updated_at DESC, tag);
  CREATE TABLE gc_last_report (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    report TEXT NOT NULL,
    finished_at INTEGER NOT NULL
  );
  `,
]

/**
 * Opens the database with the settings every connection needs: WAL (readers never wait for the
 * writer), synchronous=FULL (a commit is on disk when it returns), and a busy timeout.
 */
export function openDatabase(file: string): Database.Database {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('busy_timeout = 10000')
  return db
}

/** Applies the migrations not yet applied, each in its own transaction. */
export function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number
  for (let i = version; i < MIGRATIONS.length; i++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[i]!)
      db.pragma(`user_version = ${i + 1}`)
    })()
  }
}

export interface ManifestRow extends ManifestColumns {
  annotations: string | null
}

export function toManifestRecord(row: ManifestRow): ManifestRecord {
  return manifestRecordOf(row, row.annotations !== null ? JSON.parse(row.annotations) as Record<string, string> : undefined)
}

export interface UploadRow { id: string; repo: string; started_at: number; updated_at: number; owner: string | null }

export function toUploadRecord(row: UploadRow): UploadRecord {
  return { id: row.id, repo: row.repo as RepoName, startedAt: row.started_at, updatedAt: row.updated_at, ...(row.owner !== null ? { owner: row.owner } : {}) }
}

const RECORD_COLUMNS = 'c.digest, c.media_type, c.size, c.artifact_type, c.subject'

/**
 * A manifest's record with its annotations, read from its body (where they are stored, once). A
 * body SQLite cannot parse (e.g. nested deeper than its limit) has none rather than failing the read.
 */
export const MANIFEST_COLUMNS = `${RECORD_COLUMNS},
  CASE WHEN json_valid(CAST(c.body AS TEXT)) THEN json_extract(CAST(c.body AS TEXT), '$.annotations') END AS annotations`

/** A manifest's record without its annotations, for reads that do not need them (no parse of the body). */
export const MANIFEST_RECORD_COLUMNS = `${RECORD_COLUMNS}, NULL AS annotations`

/**
 * Marks the manifests of one repository that garbage collection keeps: tagged ones (but for the
 * tags a retention plan drops, listed in temp.gc_dropped_tags), those pushed (last) within the grace
 * period, untagged non-referrers unless a retention cutoff says otherwise, then recursively the
 * children of kept indexes and the referrers of kept manifests. References never cross
 * repositories, so each repository is swept on its own, in its own short transaction.
 */
export const SQL_MARK = `
  INSERT INTO temp.gc_kept (digest)
  WITH RECURSIVE kept (digest) AS (
    SELECT m.digest FROM manifests m JOIN manifest_contents c ON c.digest = m.digest
    WHERE m.repo = :repo AND (
          m.pushed_at >= :grace
       OR EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest
                  AND NOT EXISTS (SELECT 1 FROM temp.gc_dropped_tags d WHERE d.tag = t.tag))
       OR (c.subject IS NULL AND m.pushed_at >= :untaggedCutoff))
    -- CROSS JOIN fixes the order: from each kept row through the indexes, never a scan of the repository per row.
    UNION
    SELECT m.digest FROM kept k
      CROSS JOIN manifest_references r ON r.parent = k.digest
      CROSS JOIN manifests m ON m.repo = :repo AND m.digest = r.child
    UNION
    SELECT m.digest FROM kept k
      CROSS JOIN manifest_contents c ON c.subject = k.digest AND c.subject IS NOT NULL
      CROSS JOIN manifests m ON m.repo = :repo AND m.digest = c.digest
  )
  SELECT digest FROM kept`

export const SQL_UNREACHABLE_MANIFESTS = `
  SELECT m.digest, c.size FROM manifests m JOIN manifest_contents c ON c.digest = m.digest
  WHERE m.repo = :repo AND NOT EXISTS (SELECT 1 FROM temp.gc_kept k WHERE k.digest = m.digest)
  ORDER BY m.digest`

export const SQL_DELETE_UNREACHABLE_TAGS = `
  DELETE FROM tags WHERE repo = :repo AND NOT EXISTS (SELECT 1 FROM temp.gc_kept k WHERE k.digest = tags.digest)`

export const SQL_DELETE_UNREACHABLE_MANIFESTS = `
  DELETE FROM manifests WHERE repo = :repo AND NOT EXISTS (SELECT 1 FROM temp.gc_kept k WHERE k.digest = manifests.digest)`

/** A link survives while a kept manifest of its repository references the blob, or it was used recently. */
const UNUSED_LINK = `
  repository_blobs.repo = :repo AND repository_blobs.used_at < :grace
    AND NOT EXISTS (
      SELECT 1 FROM manifest_references r JOIN temp.gc_kept k ON k.digest = r.parent
      WHERE r.child = repository_blobs.digest AND r.kind <> 'manifest')`

export const SQL_DELETE_UNUSED_LINKS = `DELETE FROM repository_blobs WHERE ${UNUSED_LINK} RETURNING digest`

export const SQL_UNUSED_LINKS = `SELECT digest FROM repository_blobs WHERE ${UNUSED_LINK} ORDER BY digest`

export const SQL_DELETE_ORPHAN_CONTENTS = `
  DELETE FROM manifest_contents WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = manifest_contents.digest);
  DELETE FROM manifest_references WHERE NOT EXISTS (SELECT 1 FROM manifest_contents c WHERE c.digest = manifest_references.parent)`

export const SQL_REPOSITORY_IS_EMPTY = `
  SELECT NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = :repo)
     AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.repo = :repo)
     AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = :repo) AS empty`

/** As SQL_REPOSITORY_IS_EMPTY, after a sweep that was planned but not applied (dry run). */
export const SQL_REPOSITORY_WOULD_BE_EMPTY = `
  SELECT NOT EXISTS (SELECT 1 FROM manifests m JOIN temp.gc_kept k ON k.digest = m.digest WHERE m.repo = :repo)
     AND NOT EXISTS (SELECT 1 FROM repository_blobs WHERE repository_blobs.repo = :repo AND NOT (${UNUSED_LINK}))
     AND NOT EXISTS (SELECT 1 FROM tags t JOIN temp.gc_kept k ON k.digest = t.digest WHERE t.repo = :repo
                     AND NOT EXISTS (SELECT 1 FROM temp.gc_dropped_tags d WHERE d.tag = t.tag)) AS empty`

/** One page of the blob table (by digest) and, of it, the blobs no repository links. */
export const SQL_UNLINKED_BLOBS_PAGE = `
  WITH page AS (SELECT digest, size, created_at FROM blobs WHERE digest > :after ORDER BY digest LIMIT :limit)
  SELECT p.digest, p.size, p.created_at < :grace AS old,
         NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = p.digest) AS unlinked
  FROM page p ORDER BY p.digest`

/** Distinct bytes of every manifest of a repository and everything they reference. */
export const SQL_REPOSITORY_LOGICAL = `
  WITH RECURSIVE closure (digest) AS (
    SELECT digest FROM manifests WHERE repo = ?
    UNION
    SELECT r.child FROM closure c JOIN manifest_references r ON r.parent = c.digest
  )
  SELECT SUM(COALESCE(mc.size, b.size, 0)) AS bytes FROM closure c
    LEFT JOIN manifest_contents mc ON mc.digest = c.digest LEFT JOIN blobs b ON b.digest = c.digest`

/**
 * What deleting the repository would free of what it serves: the part of its logical content that
 * no other repository links or holds as a manifest. (Blobs linked but unreferenced are counted as
 * reclaimable instead.)
 */
export const SQL_REPOSITORY_EXCLUSIVE = `
  WITH RECURSIVE closure (digest) AS (
    SELECT digest FROM manifests WHERE repo = :repo
    UNION
    SELECT r.child FROM closure c JOIN manifest_references r ON r.parent = c.digest
  )
  SELECT SUM(COALESCE(mc.size, b.size, 0)) AS bytes FROM closure c
    LEFT JOIN manifest_contents mc ON mc.digest = c.digest LEFT JOIN blobs b ON b.digest = c.digest
  WHERE NOT EXISTS (SELECT 1 FROM repository_blobs o WHERE o.digest = c.digest AND o.repo <> :repo)
    AND NOT EXISTS (SELECT 1 FROM manifests o WHERE o.digest = c.digest AND o.repo <> :repo)`

/** Per tag: the manifest, its children and every blob they reference, each counted once. */
export const SQL_TAG_SIZES = `
  WITH RECURSIVE closure (tag, root, digest) AS (
    SELECT tag, digest, digest FROM tags WHERE repo = ?
    UNION
    SELECT c.tag, c.root, r.child FROM closure c JOIN manifest_references r ON r.parent = c.digest
  )
  SELECT c.tag, c.root AS digest, SUM(COALESCE(mc.size, b.size, 0)) AS bytes FROM closure c
    LEFT JOIN manifest_contents mc ON mc.digest = c.digest LEFT JOIN blobs b ON b.digest = c.digest
  GROUP BY c.tag, c.root ORDER BY c.tag`

