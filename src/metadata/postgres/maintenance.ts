import type { Digest } from '../../oci/digest.js'
import type { BlobRecord, DanglingRows, DiskUsage, RepositoryStorage, RepositoryUsage } from '../metadata-store.js'
import type { Queryable } from './connection.js'

/** Every manifest of a repository ($1) and everything they reference, each once, with its bytes. */
const REPOSITORY_CLOSURE = `
  WITH RECURSIVE closure (digest) AS (
    SELECT digest FROM manifests WHERE repo = $1
    UNION
    SELECT r.child FROM closure c JOIN manifest_references r ON r.parent = c.digest
  )
  SELECT COALESCE(SUM(COALESCE(mc.size, b.size, 0)), 0) AS bytes FROM closure c
    LEFT JOIN manifest_contents mc ON mc.digest = c.digest LEFT JOIN blobs b ON b.digest = c.digest`

/** Distinct bytes of every manifest of a repository ($1) and everything they reference. */
export const SQL_REPOSITORY_LOGICAL = REPOSITORY_CLOSURE

/** The part of a repository's ($1) logical content that no other repository links or holds as a manifest. */
export const SQL_REPOSITORY_EXCLUSIVE = `${REPOSITORY_CLOSURE}
  WHERE NOT EXISTS (SELECT 1 FROM repository_blobs o WHERE o.digest = c.digest AND o.repo <> $1)
    AND NOT EXISTS (SELECT 1 FROM manifests o WHERE o.digest = c.digest AND o.repo <> $1)`

/** Per tag of a repository ($1): the manifest, its children and every blob they reference, each counted once. */
const SQL_TAG_SIZES = `
  WITH RECURSIVE closure (tag, root, digest) AS (
    SELECT tag, digest, digest FROM tags WHERE repo = $1
    UNION
    SELECT c.tag, c.root, r.child FROM closure c JOIN manifest_references r ON r.parent = c.digest
  )
  SELECT c.tag, c.root AS digest, COALESCE(SUM(COALESCE(mc.size, b.size, 0)), 0) AS bytes FROM closure c
    LEFT JOIN manifest_contents mc ON mc.digest = c.digest LEFT JOIN blobs b ON b.digest = c.digest
  GROUP BY c.tag, c.root ORDER BY c.tag`

/** Scans `limit` blob records after `after`; the unlinked ones created before `graceCutoff`. In a snapshot. */
export async function listUnlinkedBlobs(q: Queryable, after: string, limit: number, graceCutoff: number): Promise<{ blobs: BlobRecord[]; last?: string }> {
  const rows = await q.query<{ digest: string; size: number; old: boolean; unlinked: boolean }>(`
    WITH page AS (SELECT digest, size, created_at FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2)
    SELECT p.digest, p.size, p.created_at < $3 AS old,
           NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = p.digest) AS unlinked
    FROM page p ORDER BY p.digest`, [after, limit, graceCutoff])
  return {
    blobs: rows.filter((r) => r.old && r.unlinked).map((r) => ({ digest: r.digest as Digest, size: r.size })),
    ...(rows.length === limit ? { last: rows[rows.length - 1]!.digest } : {}),
  }
}

export async function countBlobLinks(q: Queryable, digests: readonly string[]): Promise<number[]> {
  const counts = new Map((await q.query<{ digest: string; n: number }>(
    'SELECT digest, COUNT(*) AS n FROM repository_blobs WHERE digest = ANY($1::text[]) GROUP BY digest', [digests])).map((row) => [row.digest, row.n]))
  return digests.map((digest) => counts.get(digest) ?? 0)
}

/**
 * Locks the blob records FOR UPDATE (in digest order: two cleanups never deadlock), so a link or
 * record of one of them (writes.ts, FOR SHARE or an upsert) waits, or has committed and is seen by
 * the statements that follow (READ COMMITTED: each sees what committed before it).
 */
async function lockBlobs(q: Queryable, digests: readonly string[]): Promise<void> {
  await q.query('SELECT digest FROM blobs WHERE digest = ANY($1::text[]) ORDER BY digest FOR UPDATE', [digests])
}

/** Removes the records of those blobs that no repository links, re-checked under their row locks; the ones removed, in the order given. */
export async function deleteBlobsIfUnlinked(q: Queryable, digests: readonly string[]): Promise<BlobRecord[]> {
  if (digests.length === 0) return []
  await lockBlobs(q, digests)
  const removed = new Map((await q.query<{ digest: string; size: number }>(
    `DELETE FROM blobs b WHERE b.digest = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest)
     RETURNING b.digest, b.size`, [digests])).map((row) => [row.digest, row.size]))
  return [...new Set(digests)].filter((digest) => removed.has(digest)).map((digest) => ({ digest: digest as Digest, size: removed.get(digest)! }))
}

export async function forgetBlobs(q: Queryable, digests: readonly string[]): Promise<void> {
  if (digests.length === 0) return
  await lockBlobs(q, digests)
  await q.query('DELETE FROM repository_blobs WHERE digest = ANY($1::text[])', [digests])
  await q.query('DELETE FROM blobs WHERE digest = ANY($1::text[])', [digests])
}

/**
 * Removes manifest contents no repository holds, and their references. The candidates are locked
 * first; the delete, a later statement, re-checks against every manifest committed meanwhile (a
 * put of the same content locks its row with an upsert: it waits, or the delete sees its manifest).
 */
export async function deleteOrphanManifestContents(q: Queryable): Promise<number> {
  const candidates = (await q.query<{ digest: string }>(
    `SELECT c.digest FROM manifest_contents c WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = c.digest)
     ORDER BY c.digest FOR UPDATE OF c`)).map((row) => row.digest)
  if (candidates.length === 0) return 0
  const deleted = await q.query(`DELETE FROM manifest_contents c WHERE c.digest = ANY($1::text[])
    AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = c.digest) RETURNING c.digest`, [candidates])
  await q.query(`DELETE FROM manifest_references r WHERE r.parent = ANY($1::text[])
    AND NOT EXISTS (SELECT 1 FROM manifest_contents c WHERE c.digest = r.parent)`, [candidates])
  return deleted.length
}

/** One scan of the links grouped by repository, in a snapshot. */
export async function repositoryStorage(q: Queryable, limit: number): Promise<RepositoryStorage> {
  const perRepository = await q.query<{ name: string; blobs: number; bytes: number }>(
    `SELECT l.repo AS name, COUNT(*) AS blobs, COALESCE(SUM(b.size), 0) AS bytes FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
     GROUP BY l.repo ORDER BY bytes DESC, name`)
  const top = perRepository.slice(0, Math.max(0, limit))
  const rest = { repositories: 0, blobs: 0, bytes: 0 }
  for (const row of perRepository.slice(top.length)) {
    rest.repositories++
    rest.blobs += row.blobs
    rest.bytes += row.bytes
  }
  const [blobs] = await q.query<{ count: number; bytes: number }>('SELECT COUNT(*) AS count, COALESCE(SUM(size), 0) AS bytes FROM blobs')
  const [repositories] = await q.query<{ n: number }>('SELECT COUNT(*) AS n FROM repositories')
  return { top, rest, repositories: repositories!.n, blobs: { count: blobs!.count, bytes: blobs!.bytes } }
}

/** Totals and per-repository figures, in a snapshot. */
export async function diskUsage(q: Queryable, options: { readonly perTag: boolean; readonly tagsOf?: string }): Promise<DiskUsage> {
  const [blobs] = await q.query<{ count: number; bytes: number }>('SELECT COUNT(*) AS count, COALESCE(SUM(size), 0) AS bytes FROM blobs')
  const [manifests] = await q.query<{ count: number; bytes: number }>('SELECT COUNT(*) AS count, COALESCE(SUM(size), 0) AS bytes FROM manifest_contents')
  const [shared] = await q.query<{ bytes: number }>(
    'SELECT COALESCE(SUM(b.size), 0) AS bytes FROM blobs b WHERE (SELECT COUNT(*) FROM repository_blobs l WHERE l.digest = b.digest) > 1')
  const repositories: RepositoryUsage[] = []
  for (const { name } of await q.query<{ name: string }>('SELECT name FROM repositories ORDER BY name')) {
    const [logical] = await q.query<{ bytes: number }>(SQL_REPOSITORY_LOGICAL, [name])
    const [exclusive] = await q.query<{ bytes: number }>(SQL_REPOSITORY_EXCLUSIVE, [name])
    const tags = options.perTag || name === options.tagsOf ? await q.query<{ tag: string; digest: string; bytes: number }>(SQL_TAG_SIZES, [name]) : undefined
    repositories.push({ name, logicalBytes: logical!.bytes, exclusiveBytes: exclusive!.bytes, ...(tags !== undefined ? { tags } : {}) })
  }
  return { blobs: blobs!, manifests: manifests!, sharedBytes: shared!.bytes, repositories }
}

export async function findDanglingRows(q: Queryable): Promise<DanglingRows> {
  return {
    linksWithoutBlob: await q.query<{ repo: string; digest: string }>(
      'SELECT repo, digest FROM repository_blobs l WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.digest) ORDER BY repo, digest'),
    tagsWithoutManifest: await q.query<{ repo: string; tag: string; digest: string }>(
      'SELECT repo, tag, digest FROM tags t WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = t.repo AND m.digest = t.digest) ORDER BY repo, tag'),
    missingReferences: await q.query<{ repo: string; manifest: string; child: string; kind: string }>(
      `SELECT m.repo, m.digest AS manifest, r.child, r.kind FROM manifests m JOIN manifest_references r ON r.parent = m.digest
       WHERE r.kind <> 'external'
         AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.repo = m.repo AND l.digest = r.child AND r.kind <> 'manifest')
         AND NOT EXISTS (SELECT 1 FROM manifests c WHERE c.repo = m.repo AND c.digest = r.child AND r.kind IN ('manifest', 'blob'))
       ORDER BY m.repo, m.digest, r.child, r.kind`),
  }
}

export async function removeDanglingRows(q: Queryable): Promise<{ links: number; tags: number }> {
  const links = await q.query('DELETE FROM repository_blobs l WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = l.digest) RETURNING 1')
  const tags = await q.query('DELETE FROM tags t WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo = t.repo AND m.digest = t.digest) RETURNING 1')
  return { links: links.length, tags: tags.length }
}
