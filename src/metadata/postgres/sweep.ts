import type { Digest } from '../../oci/digest.js'
import type { RepositorySweepPlan, RepositorySweepResult, TagRecord } from '../metadata-store.js'
import { lockRepository, type Queryable } from './connection.js'
import { byCodeUnit } from './schema.js'

/**
 * The manifests of one repository that garbage collection keeps: tagged ones (but for the tags in
 * $4, which the plan drops), those pushed (last) within the grace period, untagged non-referrers
 * unless a retention cutoff says otherwise, then recursively the children of kept indexes and the
 * referrers of kept manifests. ($1 repo, $2 grace cutoff, $3 untagged cutoff, $4 dropped tags.)
 */
const SQL_KEPT = `
  WITH RECURSIVE kept (digest) AS (
    SELECT m.digest FROM manifests m JOIN manifest_contents c ON c.digest = m.digest
    WHERE m.repo = $1 AND (
          m.pushed_at >= $2
       OR EXISTS (SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest AND NOT (t.tag = ANY($4::text[])))
       OR (c.subject IS NULL AND m.pushed_at >= $3))
    UNION
    -- One recursive reference (PostgreSQL allows no more): children and referrers in one lateral step.
    SELECT m.digest FROM kept k
      CROSS JOIN LATERAL (
        SELECT r.child AS digest FROM manifest_references r WHERE r.parent = k.digest
        UNION ALL
        SELECT c.digest FROM manifest_contents c WHERE c.subject = k.digest
      ) n
      JOIN manifests m ON m.repo = $1 AND m.digest = n.digest
  )
  SELECT digest FROM kept`

/** A link goes unless a kept manifest ($3) references its blob or it was used since the grace cutoff ($2). */
const UNUSED_LINK = `
  repository_blobs.repo = $1 AND repository_blobs.used_at < $2
    AND NOT EXISTS (SELECT 1 FROM manifest_references r
                    WHERE r.parent = ANY($3::text[]) AND r.child = repository_blobs.digest AND r.kind <> 'manifest')`

/**
 * Sweeps one repository (`apply`: inside a write transaction, under the repository's lock, so no
 * manifest put or delete of the repository interleaves), or computes what that sweep would do
 * with reads only (inside a read-only snapshot: a dry run writes nothing and waits for no lock).
 */
export async function sweepRepository(q: Queryable, plan: RepositorySweepPlan, apply: boolean): Promise<RepositorySweepResult> {
  const repo = plan.repo
  if (apply) await lockRepository(q, repo)
  // A planned tag goes only while it is the row the plan saw: set again since (even to the same manifest), it stays.
  const planned = plan.tags.filter((tag) => tag.repo === repo)
  const unchanged = planned.length === 0 ? new Set<string>() : new Set((await q.query<{ tag: string }>(
    `SELECT t.tag FROM tags t JOIN unnest($2::text[], $3::text[], $4::bigint[]) AS p (tag, digest, updated_at)
       ON t.tag = p.tag AND t.digest = p.digest AND t.updated_at = p.updated_at
     WHERE t.repo = $1`,
    [repo, planned.map((tag) => tag.tag), planned.map((tag) => tag.digest), planned.map((tag) => tag.updatedAt)])).map((row) => row.tag))
  const tagsRemoved: TagRecord[] = []
  for (const tag of planned) if (unchanged.delete(tag.tag)) tagsRemoved.push(tag)
  const dropped = tagsRemoved.map((tag) => tag.tag)
  if (apply && dropped.length > 0) await q.query('DELETE FROM tags WHERE repo = $1 AND tag = ANY($2::text[])', [repo, dropped])

  const kept = (await q.query<{ digest: string }>(SQL_KEPT, [repo, plan.graceCutoff, plan.untaggedCutoff ?? -1, dropped])).map((row) => row.digest)
  const manifestsRemoved = (await q.query<{ digest: string; size: number }>(
    `SELECT m.digest, c.size FROM manifests m JOIN manifest_contents c ON c.digest = m.digest
     WHERE m.repo = $1 AND NOT (m.digest = ANY($2::text[])) ORDER BY m.digest`, [repo, kept]))
    .map((row) => ({ repo, digest: row.digest as Digest, size: row.size }))
  const linkParams = [repo, plan.graceCutoff, kept]
  if (!apply) {
    const linksRemoved = (await q.query<{ digest: string }>(`SELECT digest FROM repository_blobs WHERE ${UNUSED_LINK} ORDER BY digest`, linkParams))
      .map((row) => row.digest as Digest)
    const [empty] = await q.query<{ empty: boolean }>(`
      SELECT $4::int = 0
         AND NOT EXISTS (SELECT 1 FROM repository_blobs WHERE repository_blobs.repo = $1 AND NOT (${UNUSED_LINK}))
         AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo = $1 AND t.digest = ANY($3::text[]) AND NOT (t.tag = ANY($5::text[]))) AS empty`,
    [...linkParams, kept.length, dropped])
    return { tagsRemoved, manifestsRemoved, linksRemoved, repositoryRemoved: empty?.empty === true }
  }
  await q.query('DELETE FROM tags WHERE repo = $1 AND NOT (digest = ANY($2::text[]))', [repo, kept])
  await q.query('DELETE FROM manifests WHERE repo = $1 AND NOT (digest = ANY($2::text[]))', [repo, kept])
  const linksRemoved = (await q.query<{ digest: string }>(`DELETE FROM repository_blobs WHERE ${UNUSED_LINK} RETURNING digest`, linkParams))
    .map((row) => row.digest as Digest).sort(byCodeUnit)
  const [empty] = await q.query<{ empty: boolean }>(`
    SELECT NOT EXISTS (SELECT 1 FROM manifests WHERE repo = $1)
       AND NOT EXISTS (SELECT 1 FROM repository_blobs WHERE repo = $1)
       AND NOT EXISTS (SELECT 1 FROM tags WHERE repo = $1) AS empty`, [repo])
  const repositoryRemoved = empty?.empty === true
  if (repositoryRemoved) await q.query('DELETE FROM repositories WHERE name = $1', [repo])
  return { tagsRemoved, manifestsRemoved, linksRemoved, repositoryRemoved }
}
