import type Database from 'better-sqlite3'
import type { Digest } from '../../oci/digest.js'
import type { Tag } from '../../oci/names.js'
import type { ManifestLinks, RepositoryStats, SearchQuery, TaggedManifest, TagSearch } from '../metadata-store.js'
import { MANIFEST_RECORD_COLUMNS, SQL_REPOSITORY_EXCLUSIVE, SQL_REPOSITORY_LOGICAL, toManifestRecord, type ManifestRow } from './schema.js'

/** `%text%` for LIKE ... ESCAPE '\' (case-insensitive for ASCII, which names and tags are); null matches everything. */
function containsPattern(text: string | undefined): string | null {
  if (text === undefined || text === '') return null
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

const TAG_COLUMNS = `t.tag, t.updated_at, ${MANIFEST_RECORD_COLUMNS}, c.body`
const TAG_FILTER = `(:pattern IS NULL OR t.tag LIKE :pattern ESCAPE '\\')`

type TagRow = ManifestRow & { tag: string; updated_at: number; body: Buffer }

/**
 * The reads of the web UI and its JSON API (metadata-store.ts, "Browsing"), on the serving
 * connection: each is indexed and bounded by a page (sizes are computed for a page's rows only).
 */
export class SqliteBrowseReader {
  private readonly stmt

  constructor(db: Database.Database) {
    this.stmt = {
      repositories: db.prepare<{ pattern: string | null; last: string; limit: number }, { name: string }>(
        `SELECT name FROM repositories WHERE name > :last AND (:pattern IS NULL OR name LIKE :pattern ESCAPE '\\') ORDER BY name LIMIT :limit`),
      countRepositories: db.prepare<{ pattern: string | null }, { n: number }>(
        `SELECT COUNT(*) AS n FROM repositories WHERE (:pattern IS NULL OR name LIKE :pattern ESCAPE '\\')`),
      repositoryExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM repositories WHERE name = ?'),
      tagCount: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM tags WHERE repo = ?'),
      manifestStats: db.prepare<[string], { n: number; pushed: number | null }>('SELECT COUNT(*) AS n, MAX(pushed_at) AS pushed FROM manifests WHERE repo = ?'),
      logical: db.prepare<[string], { bytes: number | null }>(SQL_REPOSITORY_LOGICAL),
      exclusive: db.prepare<{ repo: string }, { bytes: number | null }>(SQL_REPOSITORY_EXCLUSIVE),
      tagsByName: db.prepare<{ repo: string; pattern: string | null; afterTag: string; limit: number }, TagRow>(
        `SELECT ${TAG_COLUMNS} FROM tags t JOIN manifest_contents c ON c.digest = t.digest
         WHERE t.repo = :repo AND t.tag > :afterTag AND ${TAG_FILTER} ORDER BY t.tag LIMIT :limit`),
      // Newest first, ties by tag: the cursor is (updated_at, tag); the first condition is a range of tags_by_time.
      tagsByTime: db.prepare<{ repo: string; pattern: string | null; afterAt: number; afterTag: string; limit: number }, TagRow>(
        `SELECT ${TAG_COLUMNS} FROM tags t INDEXED BY tags_by_time JOIN manifest_contents c ON c.digest = t.digest
         WHERE t.repo = :repo AND t.updated_at <= :afterAt AND (t.updated_at < :afterAt OR t.tag > :afterTag) AND ${TAG_FILTER}
         ORDER BY t.updated_at DESC, t.tag LIMIT :limit`),
      countTags: db.prepare<{ repo: string; pattern: string | null }, { n: number }>(
        `SELECT COUNT(*) AS n FROM tags t WHERE t.repo = :repo AND ${TAG_FILTER}`),
      contentSize: db.prepare<[string], { bytes: number | null }>(`
        WITH RECURSIVE closure (digest) AS (
          SELECT ? UNION SELECT r.child FROM closure c JOIN manifest_references r ON r.parent = c.digest
        )
        SELECT SUM(COALESCE(mc.size, b.size, 0)) AS bytes FROM closure c
          LEFT JOIN manifest_contents mc ON mc.digest = c.digest LEFT JOIN blobs b ON b.digest = c.digest`),
      manifestInRepo: db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM manifests WHERE repo = ? AND digest = ?'),
      tagsOf: db.prepare<[string, string], { tag: string }>('SELECT tag FROM tags WHERE repo = ? AND digest = ? ORDER BY tag'),
      // As the writer's refusal of a delete (writer.ts manifestReferencedBy): manifest and index-blob references.
      parents: db.prepare<{ repo: string; digest: string }, { digest: string }>(
        `SELECT DISTINCT r.parent AS digest FROM manifest_references r JOIN manifests m ON m.repo = :repo AND m.digest = r.parent
         WHERE r.child = :digest AND r.kind IN ('manifest', 'blob') AND r.parent <> :digest ORDER BY r.parent`),
      children: db.prepare<{ repo: string; digest: string }, { digest: string }>(
        `SELECT DISTINCT r.child AS digest FROM manifest_references r JOIN manifests m ON m.repo = :repo AND m.digest = r.child
         WHERE r.parent = :digest AND r.kind IN ('manifest', 'blob') AND r.child <> :digest ORDER BY r.child`),
      referrers: db.prepare<{ repo: string; digest: string }, { digest: string }>(
        `SELECT c.digest FROM manifest_contents c JOIN manifests m ON m.repo = :repo AND m.digest = c.digest
         WHERE c.subject = :digest ORDER BY c.digest`),
      subject: db.prepare<{ repo: string; digest: string }, { subject: string }>(
        `SELECT c.subject FROM manifest_contents c JOIN manifests m ON m.repo = :repo AND m.digest = c.subject WHERE c.digest = :digest`),
      bytesFreed: db.prepare<{ repo: string; removed: string }, { bytes: number | null }>(`
        WITH removed (digest) AS (SELECT DISTINCT value FROM json_each(:removed)),
        referenced (digest) AS (
          SELECT DISTINCT r.child FROM removed x JOIN manifest_references r ON r.parent = x.digest WHERE r.kind NOT IN ('manifest', 'external')
        )
        SELECT
          (SELECT COALESCE(SUM(c.size), 0) FROM removed x JOIN manifest_contents c ON c.digest = x.digest
            WHERE NOT EXISTS (SELECT 1 FROM manifests o WHERE o.digest = x.digest AND o.repo <> :repo))
          + (SELECT COALESCE(SUM(b.size), 0) FROM referenced f JOIN blobs b ON b.digest = f.digest
            WHERE NOT EXISTS (SELECT 1 FROM removed x WHERE x.digest = f.digest)
              AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = f.digest AND l.repo <> :repo)
              AND NOT EXISTS (SELECT 1 FROM manifest_references r JOIN manifests m ON m.repo = :repo AND m.digest = r.parent
                              WHERE r.child = f.digest AND NOT EXISTS (SELECT 1 FROM removed x WHERE x.digest = r.parent))) AS bytes`),
      lastGcReport: db.prepare<[], { report: string; finished_at: number }>('SELECT report, finished_at FROM gc_last_report WHERE id = 1'),
    }
  }

  searchRepositories(query: SearchQuery): { names: string[]; total: number } {
    const pattern = containsPattern(query.contains)
    const names = this.stmt.repositories.all({ pattern, last: query.last ?? '', limit: query.limit }).map((row) => row.name)
    return { names, total: this.stmt.countRepositories.get({ pattern })!.n }
  }

  repositoryStats(names: readonly string[]): RepositoryStats[] {
    return names.filter((name) => this.stmt.repositoryExists.get(name) !== undefined).map((name) => {
      const manifests = this.stmt.manifestStats.get(name)!
      return {
        name,
        tagCount: this.stmt.tagCount.get(name)!.n,
        manifestCount: manifests.n,
        logicalBytes: this.stmt.logical.get(name)?.bytes ?? 0,
        exclusiveBytes: this.stmt.exclusive.get({ repo: name })?.bytes ?? 0,
        lastPushedAt: manifests.n > 0 ? manifests.pushed : null,
      }
    })
  }

  searchTags(repo: string, query: TagSearch): { tags: TaggedManifest[]; total: number } {
    const pattern = containsPattern(query.contains)
    const rows = query.sort === 'time'
      ? this.stmt.tagsByTime.all({ repo, pattern, afterAt: query.after?.updatedAt ?? Number.MAX_SAFE_INTEGER, afterTag: query.after?.tag ?? '', limit: query.limit })
      : this.stmt.tagsByName.all({ repo, pattern, afterTag: query.after?.tag ?? '', limit: query.limit })
    return {
      tags: rows.map((row) => ({ tag: row.tag as Tag, updatedAt: row.updated_at, record: toManifestRecord(row), body: row.body })),
      total: this.stmt.countTags.get({ repo, pattern })!.n,
    }
  }

  contentSizes(digests: readonly string[]): number[] {
    return digests.map((digest) => this.stmt.contentSize.get(digest)?.bytes ?? 0)
  }

  manifestLinks(repo: string, digest: string): ManifestLinks | undefined {
    if (this.stmt.manifestInRepo.get(repo, digest) === undefined) return undefined
    const subject = this.stmt.subject.get({ repo, digest })?.subject
    return {
      tags: this.stmt.tagsOf.all(repo, digest).map((row) => row.tag as Tag),
      parents: this.stmt.parents.all({ repo, digest }).map((row) => row.digest as Digest),
      children: this.stmt.children.all({ repo, digest }).map((row) => row.digest as Digest),
      referrers: this.stmt.referrers.all({ repo, digest }).map((row) => row.digest as Digest),
      ...(subject !== undefined ? { subject: subject as Digest } : {}),
    }
  }

  bytesFreedWithout(repo: string, manifests: readonly string[]): number {
    if (manifests.length === 0) return 0
    return this.stmt.bytesFreed.get({ repo, removed: JSON.stringify(manifests) })?.bytes ?? 0
  }

  lastGcReport(): { report: string; finishedAt: number } | undefined {
    const row = this.stmt.lastGcReport.get()
    return row && { report: row.report, finishedAt: row.finished_at }
  }
}
