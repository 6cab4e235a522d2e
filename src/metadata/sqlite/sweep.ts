import type Database from 'better-sqlite3'
import type { Digest } from '../../oci/digest.js'
import type { RepositorySweepPlan, RepositorySweepResult, TagRecord } from '../metadata-store.js'
import {
  SQL_DELETE_UNREACHABLE_MANIFESTS, SQL_DELETE_UNREACHABLE_TAGS, SQL_DELETE_UNUSED_LINKS, SQL_MARK, SQL_REPOSITORY_IS_EMPTY,
  SQL_REPOSITORY_WOULD_BE_EMPTY, SQL_UNREACHABLE_MANIFESTS, SQL_UNUSED_LINKS,
} from './schema.js'

/**
 * One repository's sweep, inside a transaction the caller holds. With `apply` it changes the
 * repository (the writer); without, it only reads (and fills temp tables, which a read-only
 * connection may), so a dry run is the same computation over a snapshot, never a rolled-back write.
 */
export function sweepRepository(db: Database.Database, plan: RepositorySweepPlan, apply: boolean): RepositorySweepResult {
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS gc_kept (digest TEXT PRIMARY KEY) WITHOUT ROWID;
           CREATE TEMP TABLE IF NOT EXISTS gc_dropped_tags (tag TEXT PRIMARY KEY) WITHOUT ROWID;
           DELETE FROM temp.gc_kept; DELETE FROM temp.gc_dropped_tags;`)
  try {
    // A planned tag goes only while it is the row the plan saw: set again since (even to the same manifest), it stays.
    const unchanged = db.prepare<[string, string, string, number], { one: number }>(
      'SELECT 1 AS one FROM tags WHERE repo = ? AND tag = ? AND digest = ? AND updated_at = ?')
    const remove = db.prepare<[string, string]>('DELETE FROM tags WHERE repo = ? AND tag = ?')
    const drop = db.prepare<[string]>('INSERT OR IGNORE INTO temp.gc_dropped_tags (tag) VALUES (?)')
    const tagsRemoved: TagRecord[] = []
    for (const tag of plan.tags) {
      if (tag.repo !== plan.repo || unchanged.get(tag.repo, tag.tag, tag.digest, tag.updatedAt) === undefined) continue
      if (apply) remove.run(tag.repo, tag.tag)
      else drop.run(tag.tag)
      tagsRemoved.push(tag)
    }
    const params = { repo: plan.repo, grace: plan.graceCutoff, untaggedCutoff: plan.untaggedCutoff ?? -1 }
    db.prepare(SQL_MARK).run(params)
    const repoOnly = { repo: plan.repo }
    const manifestsRemoved = db.prepare<{ repo: string }, { digest: string; size: number }>(SQL_UNREACHABLE_MANIFESTS).all(repoOnly)
      .map((row) => ({ repo: plan.repo, digest: row.digest as Digest, size: row.size }))
    const linkParams = { repo: plan.repo, grace: plan.graceCutoff }
    let linksRemoved: Digest[]
    let repositoryRemoved: boolean
    if (apply) {
      db.prepare(SQL_DELETE_UNREACHABLE_TAGS).run(repoOnly)
      db.prepare(SQL_DELETE_UNREACHABLE_MANIFESTS).run(repoOnly)
      linksRemoved = db.prepare<typeof linkParams, { digest: string }>(SQL_DELETE_UNUSED_LINKS).all(linkParams).map((row) => row.digest as Digest)
      repositoryRemoved = db.prepare<typeof repoOnly, { empty: number }>(SQL_REPOSITORY_IS_EMPTY).get(repoOnly)?.empty === 1
      if (repositoryRemoved) db.prepare<[string]>('DELETE FROM repositories WHERE name = ?').run(plan.repo)
    } else {
      linksRemoved = db.prepare<typeof linkParams, { digest: string }>(SQL_UNUSED_LINKS).all(linkParams).map((row) => row.digest as Digest)
      repositoryRemoved = db.prepare<typeof linkParams, { empty: number }>(SQL_REPOSITORY_WOULD_BE_EMPTY).get(linkParams)?.empty === 1
    }
    return { tagsRemoved, manifestsRemoved, linksRemoved, repositoryRemoved }
  } finally {
    db.exec('DELETE FROM temp.gc_kept; DELETE FROM temp.gc_dropped_tags')
  }
}
