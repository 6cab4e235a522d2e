import type { Digest } from '../../oci/digest.js'
import type { Tag } from '../../oci/names.js'
import type { ManifestLinks, RepositoryStats, SearchQuery, TaggedManifest, TagSearch } from '../metadata-store.js'
import type { PostgresConnection, Queryable } from './connection.js'
import { SQL_REPOSITORY_EXCLUSIVE, SQL_REPOSITORY_LOGICAL } from './maintenance.js'
import { MANIFEST_COLUMNS, rowLimit, toManifestRecord, type ManifestRow } from './schema.js'

/** `%text%` for ILIKE ... ESCAPE '\'; null matches everything. */
function containsPattern(text: string | undefined): string | null {
  if (text === undefined || text === '') return null
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/** How long a repository's computed sizes are reused while its manifests are unchanged. */
const SIZES_TTL_MS = 30_000
const SIZE_CACHE_ENTRIES = 10_000

type TagRow = ManifestRow & { tag: string; updated_at: number; body: Buffer }

/**
 * The reads of the web UI and its JSON API (metadata-store.ts, "Browsing"). Each answer made of
 * several queries reads one snapshot.
 */
export class PostgresBrowseReader {
  private readonly db: PostgresConnection
  private readonly sizeCache = new Map<string, { fingerprint: string; at: number; sizes: { logicalBytes: number; exclusiveBytes: number } }>()

  constructor(db: PostgresConnection) {
    this.db = db
  }

  async searchRepositories(query: SearchQuery): Promise<{ names: string[]; total: number }> {
    const pattern = containsPattern(query.contains)
    return this.db.snapshot(async (q) => {
      const names = await q.query<{ name: string }>(
        `SELECT name FROM repositories WHERE name > $1 AND ($2::text IS NULL OR name ILIKE $2 ESCAPE '\\') ORDER BY name
         LIMIT $3`, [query.last ?? '', pattern, rowLimit(query.limit)])
      const [count] = await q.query<{ n: number }>(`SELECT COUNT(*) AS n FROM repositories WHERE ($1::text IS NULL OR name ILIKE $1 ESCAPE '\\')`, [pattern])
      return { names: names.map((row) => row.name), total: count!.n }
    })
  }

  async repositoryStats(names: readonly string[]): Promise<RepositoryStats[]> {
    return this.db.snapshot(async (q) => {
      const stats: RepositoryStats[] = []
      for (const name of names) {
        if ((await q.query('SELECT 1 AS one FROM repositories WHERE name = $1', [name])).length === 0) continue
        const [manifests] = await q.query<{ n: number; pushed: number | null }>('SELECT COUNT(*) AS n, MAX(pushed_at) AS pushed FROM manifests WHERE repo = $1', [name])
        const [tags] = await q.query<{ n: number }>('SELECT COUNT(*) AS n FROM tags WHERE repo = $1', [name])
        const lastPushedAt = manifests!.n > 0 ? manifests!.pushed : null
        stats.push({ name, tagCount: tags!.n, manifestCount: manifests!.n, ...await this.sizes(q, name, `${manifests!.n}:${lastPushedAt}`), lastPushedAt })
      }
      return stats
    })
  }

  /**
   * A repository's logical and exclusive bytes walk all its manifests: kept while its manifests
   * are unchanged (count and last push, `fingerprint`) for SIZES_TTL_MS at most, as exclusive
   * bytes also depend on what other repositories hold.
   */
  private async sizes(q: Queryable, name: string, fingerprint: string): Promise<{ logicalBytes: number; exclusiveBytes: number }> {
    const now = Date.now()
    const known = this.sizeCache.get(name)
    if (known !== undefined && known.fingerprint === fingerprint && now - known.at < SIZES_TTL_MS) return known.sizes
    const [logical] = await q.query<{ bytes: number }>(SQL_REPOSITORY_LOGICAL, [name])
    const [exclusive] = await q.query<{ bytes: number }>(SQL_REPOSITORY_EXCLUSIVE, [name])
    const sizes = { logicalBytes: logical!.bytes, exclusiveBytes: exclusive!.bytes }
    this.sizeCache.delete(name)
    this.sizeCache.set(name, { fingerprint, at: now, sizes })
    if (this.sizeCache.size > SIZE_CACHE_ENTRIES) this.sizeCache.delete(this.sizeCache.keys().next().value!)
    return sizes
  }

  async searchTags(repo: string, query: TagSearch): Promise<{ tags: TaggedManifest[]; total: number }> {
    const pattern = containsPattern(query.contains)
    const columns = `t.tag, t.updated_at, ${MANIFEST_COLUMNS}, c.body`
    return this.db.snapshot(async (q) => {
      // Newest first, ties by tag: the cursor is (updated_at, tag), a range of tags_by_time.
      const rows = query.sort === 'time'
        ? await q.query<TagRow>(
          `SELECT ${columns} FROM tags t JOIN manifest_contents c ON c.digest = t.digest
           WHERE t.repo = $1 AND t.updated_at <= $3 AND (t.updated_at < $3 OR t.tag > $4) AND ($2::text IS NULL OR t.tag ILIKE $2 ESCAPE '\\')
           ORDER BY t.updated_at DESC, t.tag LIMIT $5`,
          [repo, pattern, query.after?.updatedAt ?? Number.MAX_SAFE_INTEGER, query.after?.tag ?? '', rowLimit(query.limit)])
        : await q.query<TagRow>(
          `SELECT ${columns} FROM tags t JOIN manifest_contents c ON c.digest = t.digest
           WHERE t.repo = $1 AND t.tag > $3 AND ($2::text IS NULL OR t.tag ILIKE $2 ESCAPE '\\') ORDER BY t.tag LIMIT $4`,
          [repo, pattern, query.after?.tag ?? '', rowLimit(query.limit)])
      const [count] = await q.query<{ n: number }>(
        `SELECT COUNT(*) AS n FROM tags t WHERE t.repo = $1 AND ($2::text IS NULL OR t.tag ILIKE $2 ESCAPE '\\')`, [repo, pattern])
      return {
        tags: rows.map((row) => ({ tag: row.tag as Tag, updatedAt: row.updated_at, record: toManifestRecord(row), body: row.body })),
        total: count!.n,
      }
    })
  }

  async contentSizes(digests: readonly string[]): Promise<number[]> {
    return this.db.snapshot(async (q) => {
      const sizes: number[] = []
      for (const digest of digests) {
        const [row] = await q.query<{ bytes: number }>(`
          WITH RECURSIVE closure (digest) AS (
            SELECT $1::text COLLATE "C" UNION SELECT r.child FROM closure c JOIN manifest_references r ON r.parent = c.digest
          )
          SELECT COALESCE(SUM(COALESCE(mc.size, b.size, 0)), 0) AS bytes FROM closure c
            LEFT JOIN manifest_contents mc ON mc.digest = c.digest LEFT JOIN blobs b ON b.digest = c.digest`, [digest])
        sizes.push(row!.bytes)
      }
      return sizes
    })
  }

  async manifestLinks(repo: string, digest: string): Promise<ManifestLinks | undefined> {
    return this.db.snapshot(async (q) => {
      const [row] = await q.query<{ pushed_at: number; subject: string | null; present: boolean }>(
        `SELECT m.pushed_at, c.subject, EXISTS (SELECT 1 FROM manifests s WHERE s.repo = m.repo AND s.digest = c.subject) AS present
         FROM manifests m JOIN manifest_contents c ON c.digest = m.digest WHERE m.repo = $1 AND m.digest = $2`, [repo, digest])
      if (row === undefined) return undefined
      const digests = async (sql: string): Promise<Digest[]> => (await q.query<{ digest: string }>(sql, [repo, digest])).map((r) => r.digest as Digest)
      return {
        tags: (await q.query<{ tag: string }>('SELECT tag FROM tags WHERE repo = $1 AND digest = $2 ORDER BY tag', [repo, digest])).map((r) => r.tag as Tag),
        // As a delete's refusal (writes.ts deleteManifest): manifest and index-blob references.
        parents: await digests(`SELECT DISTINCT r.parent AS digest FROM manifest_references r JOIN manifests m ON m.repo = $1 AND m.digest = r.parent
          WHERE r.child = $2 AND r.kind IN ('manifest', 'blob') AND r.parent <> $2 ORDER BY r.parent`),
        children: await digests(`SELECT DISTINCT r.child AS digest FROM manifest_references r JOIN manifests m ON m.repo = $1 AND m.digest = r.child
          WHERE r.parent = $2 AND r.kind IN ('manifest', 'blob') AND r.child <> $2 ORDER BY r.child`),
        referrers: await digests(`SELECT c.digest FROM manifest_contents c JOIN manifests m ON m.repo = $1 AND m.digest = c.digest
          WHERE c.subject = $2 ORDER BY c.digest`),
        ...(row.subject !== null ? { subject: { digest: row.subject as Digest, present: row.present } } : {}),
        pushedAt: row.pushed_at,
      }
    })
  }

  async bytesFreedWithout(repo: string, manifests: readonly string[]): Promise<number> {
    if (manifests.length === 0) return 0
    const [row] = await this.db.query<{ bytes: number }>(`
      WITH removed (digest) AS (SELECT DISTINCT d COLLATE "C" FROM unnest($2::text[]) AS x (d)),
      referenced (digest) AS (
        SELECT DISTINCT r.child FROM removed x JOIN manifest_references r ON r.parent = x.digest WHERE r.kind NOT IN ('manifest', 'external')
      )
      SELECT
        (SELECT COALESCE(SUM(c.size), 0) FROM removed x JOIN manifest_contents c ON c.digest = x.digest
          WHERE NOT EXISTS (SELECT 1 FROM manifests o WHERE o.digest = x.digest AND o.repo <> $1))
        + (SELECT COALESCE(SUM(b.size), 0) FROM referenced f JOIN blobs b ON b.digest = f.digest
          WHERE NOT EXISTS (SELECT 1 FROM removed x WHERE x.digest = f.digest)
            AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = f.digest AND l.repo <> $1)
            AND NOT EXISTS (SELECT 1 FROM manifest_references r JOIN manifests m ON m.repo = $1 AND m.digest = r.parent
                            WHERE r.child = f.digest AND NOT EXISTS (SELECT 1 FROM removed x WHERE x.digest = r.parent))) AS bytes`,
    [repo, manifests])
    return row?.bytes ?? 0
  }

  async lastGcReport(): Promise<{ report: string; finishedAt: number } | undefined> {
    const [row] = await this.db.query<{ report: string; finished_at: number }>('SELECT report, finished_at FROM gc_last_report WHERE id = 1')
    return row && { report: row.report, finishedAt: row.finished_at }
  }
}
