import type { Digest } from '../../oci/digest.js'
import type { ManifestReference } from '../../oci/manifest.js'
import type { BlobRecord, BlobRecorded, DeleteOutcome, ManifestPut, PutManifestResult, TagMove } from '../metadata-store.js'
import { lockRepository, type Queryable } from './connection.js'

/**
 * The serving writes that change a repository, each inside a write transaction its caller opened.
 * Each takes the repository's lock first (connection.ts lockRepository). A blob or manifest
 * content row the write relies on is locked too (an upsert, or FOR SHARE), so the cross-repository
 * cleanups (maintenance.ts), which lock those rows FOR UPDATE before re-checking, never remove one
 * under it.
 */

async function ensureRepository(q: Queryable, repo: string, now: number): Promise<boolean> {
  const rows = await q.query('INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING name', [repo, now])
  return rows.length > 0
}

async function link(q: Queryable, repo: string, digest: string, now: number): Promise<void> {
  await q.query(`INSERT INTO repository_blobs (repo, digest, used_at) VALUES ($1, $2, $3)
    ON CONFLICT (repo, digest) DO UPDATE SET used_at = excluded.used_at`, [repo, digest, now])
}

export async function recordBlob(q: Queryable, repo: string, digest: string, size: number, uploadId: string | undefined, now: number): Promise<BlobRecorded> {
  await lockRepository(q, repo)
  // DO UPDATE (to itself) rather than DO NOTHING: it locks the row, or waits for a concurrent removal and inserts anew.
  await q.query(`INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3)
    ON CONFLICT (digest) DO UPDATE SET size = blobs.size`, [digest, size, now])
  const repositoryCreated = await ensureRepository(q, repo, now)
  await link(q, repo, digest, now)
  if (uploadId !== undefined) await q.query('DELETE FROM uploads WHERE id = $1', [uploadId])
  return { repositoryCreated }
}

export async function linkBlob(q: Queryable, repo: string, digest: string, from: string | undefined, now: number): Promise<(BlobRecord & BlobRecorded) | undefined> {
  await lockRepository(q, repo)
  const [row] = from !== undefined
    ? await q.query<{ size: number }>(`SELECT b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
        WHERE l.repo = $1 AND l.digest = $2 FOR SHARE OF b`, [from, digest])
    : await q.query<{ size: number }>('SELECT size FROM blobs WHERE digest = $1 FOR SHARE', [digest])
  if (row === undefined) return undefined
  const repositoryCreated = await ensureRepository(q, repo, now)
  await link(q, repo, digest, now)
  return { digest: digest as Digest, size: row.size, repositoryCreated }
}

export async function unlinkBlob(q: Queryable, repo: string, digest: string): Promise<DeleteOutcome> {
  await lockRepository(q, repo)
  const referencedBy = await q.query<{ parent: string }>(
    `SELECT DISTINCT r.parent FROM manifest_references r JOIN manifests m ON m.repo = $1 AND m.digest = r.parent
     WHERE r.child = $2 AND r.kind NOT IN ('manifest', 'external') ORDER BY r.parent LIMIT 10`, [repo, digest])
  if (referencedBy.length > 0) return { status: 'referenced', referencedBy: referencedBy.map((r) => r.parent as Digest) }
  const deleted = await q.query('DELETE FROM repository_blobs WHERE repo = $1 AND digest = $2 RETURNING digest', [repo, digest])
  return deleted.length > 0 ? { status: 'deleted' } : { status: 'unknown' }
}

/** The sizes of the put's references present in its repository: blob links, then (for manifest and blob references) manifests. */
async function checkReferences(q: Queryable, put: ManifestPut): Promise<{ missing: ManifestReference[]; sizeMismatch: ManifestReference[] }> {
  const checked = put.references.filter((ref) => ref.kind !== 'external')
  const missing: ManifestReference[] = []
  const sizeMismatch: ManifestReference[] = []
  if (checked.length === 0) return { missing, sizeMismatch }
  const digests = [...new Set(checked.map((ref) => ref.digest))]
  const blobSizes = new Map((await q.query<{ digest: string; size: number }>(
    `SELECT l.digest, b.size FROM repository_blobs l JOIN blobs b ON b.digest = l.digest WHERE l.repo = $1 AND l.digest = ANY($2::text[])`,
    [put.repo, digests])).map((row) => [row.digest, row.size]))
  const manifestSizes = new Map((await q.query<{ digest: string; size: number }>(
    `SELECT m.digest, c.size FROM manifests m JOIN manifest_contents c ON c.digest = m.digest WHERE m.repo = $1 AND m.digest = ANY($2::text[])`,
    [put.repo, digests])).map((row) => [row.digest, row.size]))
  for (const ref of checked) {
    let size: number | undefined
    if (ref.kind !== 'manifest') size = blobSizes.get(ref.digest)
    if (size === undefined && (ref.kind === 'manifest' || ref.kind === 'blob')) size = manifestSizes.get(ref.digest)
    if (size === undefined) missing.push(ref)
    else if (size !== ref.size) sizeMismatch.push(ref)
  }
  return { missing, sizeMismatch }
}

export async function putManifest(q: Queryable, put: ManifestPut): Promise<PutManifestResult> {
  await lockRepository(q, put.repo)
  if (put.fromUpstream === undefined) {
    const { missing, sizeMismatch } = await checkReferences(q, put)
    if (missing.length > 0 || sizeMismatch.length > 0) return { ok: false, missing, sizeMismatch }
  }
  const repositoryCreated = await ensureRepository(q, put.repo, put.now)
  // DO UPDATE locks the content row (see the top of this file); the body, unchanged, is not rewritten.
  await q.query(`INSERT INTO manifest_contents (digest, media_type, size, artifact_type, subject, body, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (digest) DO UPDATE SET media_type = manifest_contents.media_type`,
  [put.digest, put.mediaType, put.body.length, put.artifactType ?? null, put.subject ?? null, put.body, put.now])
  if (put.references.length > 0) {
    await q.query(`INSERT INTO manifest_references (parent, child, kind)
      SELECT $1, child, kind FROM unnest($2::text[], $3::text[]) AS r (child, kind) ON CONFLICT DO NOTHING`,
    [put.digest, put.references.map((ref) => ref.digest), put.references.map((ref) => ref.kind)])
  }
  await q.query(`INSERT INTO manifests (repo, digest, created_at, pushed_at) VALUES ($1, $2, $3, $3)
    ON CONFLICT (repo, digest) DO UPDATE SET pushed_at = GREATEST(excluded.pushed_at, manifests.pushed_at)`, [put.repo, put.digest, put.now])
  const tags = [...new Set(put.tags as readonly string[])]
  if (tags.length === 0) return { ok: true, repositoryCreated, moved: [] }
  // Where each tag pointed, for tag.moved events: read under the repository's lock, it is exact.
  const previous = new Map((await q.query<{ tag: string; digest: string }>(
    'SELECT tag, digest FROM tags WHERE repo = $1 AND tag = ANY($2::text[])', [put.repo, tags])).map((row) => [row.tag, row.digest]))
  const moved: TagMove[] = []
  for (const tag of put.tags) {
    const before = previous.get(tag)
    if (before !== put.digest && !moved.some((m) => m.tag === tag)) moved.push(before !== undefined ? { tag, previous: before as Digest } : { tag })
  }
  // updated_at changes on every set, even within one millisecond: a sweep deletes a tag only
  // while it is the row its plan saw (sweep.ts), so a re-push in between always wins.
  await q.query(`INSERT INTO tags (repo, tag, digest, updated_at) SELECT $1, tag, $3, $4 FROM unnest($2::text[]) AS t (tag)
    ON CONFLICT (repo, tag) DO UPDATE SET digest = excluded.digest, updated_at = GREATEST(excluded.updated_at, tags.updated_at + 1)`,
  [put.repo, tags, put.digest, put.now])
  // A tag pushed here (allowPush) is the repository's own from then on: never re-validated upstream.
  if (put.fromUpstream !== undefined) {
    await q.query(`INSERT INTO proxied_tags (repo, tag, fetched_at) SELECT $1, tag, $3 FROM unnest($2::text[]) AS t (tag)
      ON CONFLICT (repo, tag) DO UPDATE SET fetched_at = GREATEST(excluded.fetched_at, proxied_tags.fetched_at)`, [put.repo, tags, put.fromUpstream.fetchedAt])
  } else {
    await q.query('DELETE FROM proxied_tags WHERE repo = $1 AND tag = ANY($2::text[])', [put.repo, tags])
  }
  return { ok: true, repositoryCreated, moved }
}

export async function deleteManifest(q: Queryable, repo: string, digest: string): Promise<DeleteOutcome> {
  await lockRepository(q, repo)
  const present = await q.query('SELECT 1 AS one FROM manifests WHERE repo = $1 AND digest = $2', [repo, digest])
  if (present.length === 0) return { status: 'unknown' }
  const referencedBy = await q.query<{ parent: string }>(
    `SELECT DISTINCT r.parent FROM manifest_references r JOIN manifests m ON m.repo = $1 AND m.digest = r.parent
     WHERE r.child = $2 AND r.kind IN ('manifest', 'blob') AND r.parent <> $2 ORDER BY r.parent LIMIT 10`, [repo, digest])
  if (referencedBy.length > 0) return { status: 'referenced', referencedBy: referencedBy.map((r) => r.parent as Digest) }
  await q.query('DELETE FROM manifests WHERE repo = $1 AND digest = $2', [repo, digest])
  await q.query('DELETE FROM tags WHERE repo = $1 AND digest = $2', [repo, digest])
  return { status: 'deleted' }
}

export async function deleteTag(q: Queryable, repo: string, tag: string): Promise<boolean> {
  await lockRepository(q, repo)
  await q.query('DELETE FROM proxied_tags WHERE repo = $1 AND tag = $2', [repo, tag])
  return (await q.query('DELETE FROM tags WHERE repo = $1 AND tag = $2 RETURNING tag', [repo, tag])).length > 0
}
