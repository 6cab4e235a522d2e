import type { Digest } from '../../oci/digest.js'
import type { ManifestRecord } from '../metadata-store.js'
import { manifestRecordOf, type ManifestColumns } from '../rows.js'
import { MIGRATION_LOCK, type PostgresConnection } from './connection.js'

/**
 * Schema migrations, applied in order; schema_migrations records each one applied. Names, tags and
 * digests sort by byte (COLLATE "C", as SQLite's BINARY): pages and cursors must not depend on the
 * database's locale. Sizes and times (milliseconds) are bigint; bodies bytea.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE repositories (
    name text COLLATE "C" PRIMARY KEY,
    created_at bigint NOT NULL
  );
  CREATE TABLE blobs (
    digest text COLLATE "C" PRIMARY KEY,
    size bigint NOT NULL,
    created_at bigint NOT NULL
  );
  -- used_at: when the link was made or last confirmed to a client; garbage collection spares recent ones.
  CREATE TABLE repository_blobs (
    repo text COLLATE "C" NOT NULL,
    digest text COLLATE "C" NOT NULL,
    used_at bigint NOT NULL,
    PRIMARY KEY (repo, digest)
  );
  CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest, repo);
  -- A manifest's bytes and what is derived from them, once per digest; annotations are read from the body.
  CREATE TABLE manifest_contents (
    digest text COLLATE "C" PRIMARY KEY,
    media_type text NOT NULL,
    size bigint NOT NULL,
    artifact_type text,
    subject text COLLATE "C",
    body bytea NOT NULL,
    created_at bigint NOT NULL
  );
  CREATE INDEX manifest_contents_by_subject ON manifest_contents (subject, digest) WHERE subject IS NOT NULL;
  CREATE TABLE manifest_references (
    parent text COLLATE "C" NOT NULL,
    child text COLLATE "C" NOT NULL,
    kind text COLLATE "C" NOT NULL,
    PRIMARY KEY (parent, child, kind)
  );
  CREATE INDEX manifest_references_by_child ON manifest_references (child);
  -- pushed_at: the last PUT into the repository (created_at keeps the first); the grace period compares it.
  CREATE TABLE manifests (
    repo text COLLATE "C" NOT NULL,
    digest text COLLATE "C" NOT NULL,
    created_at bigint NOT NULL,
    pushed_at bigint NOT NULL,
    PRIMARY KEY (repo, digest)
  );
  CREATE INDEX manifests_by_digest ON manifests (digest);
  CREATE TABLE tags (
    repo text COLLATE "C" NOT NULL,
    tag text COLLATE "C" NOT NULL,
    digest text COLLATE "C" NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (repo, tag)
  );
  CREATE INDEX tags_by_digest ON tags (repo, digest);
  CREATE INDEX tags_by_time ON tags (repo, updated_at DESC, tag);
  -- owner: who started the session (only they may continue it); NULL for sessions without one.
  CREATE TABLE uploads (
    id text COLLATE "C" PRIMARY KEY,
    repo text COLLATE "C" NOT NULL,
    started_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    owner text
  );
  -- The webhook queue: an identity never hands out an id twice, so order by id is enqueue order.
  CREATE TABLE notification_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint text COLLATE "C" NOT NULL,
    event text NOT NULL,
    enqueued_at bigint NOT NULL
  );
  CREATE INDEX notification_queue_by_endpoint ON notification_queue (endpoint, id);
  CREATE TABLE notification_endpoints (
    name text COLLATE "C" PRIMARY KEY,
    delivered bigint NOT NULL DEFAULT 0,
    failed_attempts bigint NOT NULL DEFAULT 0,
    consecutive_failures bigint NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL DEFAULT 0,
    last_error text,
    last_error_at bigint,
    last_success_at bigint
  );
  -- The pull-through cache: when a tag was last fetched from (or confirmed by) its upstream.
  CREATE TABLE proxied_tags (
    repo text COLLATE "C" NOT NULL,
    tag text COLLATE "C" NOT NULL,
    fetched_at bigint NOT NULL,
    PRIMARY KEY (repo, tag)
  );
  CREATE TABLE gc_last_report (
    id integer PRIMARY KEY CHECK (id = 1),
    report text NOT NULL,
    finished_at bigint NOT NULL
  );
  `,
  // 2: the read-only mode set through the admin API, followed by every node.
  `
  CREATE TABLE maintenance_mode (
    id integer PRIMARY KEY CHECK (id = 1),
    read_only boolean NOT NULL,
    since bigint NOT NULL,
    changed_by text NOT NULL
  );
  `,
]

/**
 * Applies the migrations not yet applied, in one transaction holding an advisory lock: nodes
 * starting together wait for the first one, then find its migrations recorded and apply nothing.
 */
export async function migrate(db: PostgresConnection): Promise<void> {
  await db.write(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock($1, $2)', MIGRATION_LOCK)
    await q.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      applied_at bigint NOT NULL
    )`)
    const [row] = await q.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations')
    const applied = row?.version ?? 0
    if (applied > MIGRATIONS.length) {
      throw new Error(`metadata database ${db.where} has schema version ${applied}, newer than this Wharf knows (${MIGRATIONS.length})`)
    }
    for (let i = applied; i < MIGRATIONS.length; i++) {
      await q.query(MIGRATIONS[i]!)
      await q.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [i + 1, Date.now()])
    }
  })
}

export type ManifestRow = ManifestColumns

/** The columns of a ManifestRow, from manifest_contents `c`. */
export const MANIFEST_COLUMNS = 'c.digest, c.media_type, c.size, c.artifact_type, c.subject'

/** The record of a manifest; with `body`, its annotations read from it (a body that is not JSON has none). */
export function toManifestRecord(row: ManifestRow, body?: Buffer): ManifestRecord {
  return manifestRecordOf(row, body !== undefined ? annotationsOf(body) : undefined)
}

function annotationsOf(body: Buffer): Record<string, string> | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { annotations?: unknown }
    const annotations = parsed?.annotations
    return annotations !== null && typeof annotations === 'object' && !Array.isArray(annotations) ? annotations as Record<string, string> : undefined
  } catch {
    return undefined
  }
}

/** A page size for LIMIT: a negative one means every row (as SQLite's LIMIT -1), which PostgreSQL spells NULL. */
export function rowLimit(limit: number): number | null {
  return limit < 0 ? null : limit
}

/** Code-unit order, which is byte order for the ASCII names, tags and digests (COLLATE "C"). */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
