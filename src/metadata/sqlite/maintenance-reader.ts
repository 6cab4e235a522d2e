import type Database from 'better-sqlite3'
import type { Digest } from '../../oci/digest.js'
import type { BlobRecord, DiskUsage, RepositoryStorage, RepositorySweepPlan, RepositorySweepResult, RepositoryUsage } from '../metadata-store.js'
import { SQL_REPOSITORY_EXCLUSIVE, SQL_REPOSITORY_LOGICAL, SQL_TAG_SIZES, SQL_UNLINKED_BLOBS_PAGE } from './schema.js'
import { sweepRepository } from './sweep.js'

/**
 * The long reads of maintenance (disk usage, dry-run sweeps, blob scans) on a read-only connection,
 * each in one read transaction: a consistent snapshot that never takes the write lock, so pushes
 * (and a server's writer, from another process) go on meanwhile. Runs on its own thread
 * (reader-worker.ts) so that the serving thread is not held up either.
 */
export class SqliteMaintenanceReader {
  private readonly db: Database.Database

  constructor(db: Database.Database) {
    this.db = db
  }

  /** What sweepRepository would remove, computed with reads only. */
  planSweep(plan: RepositorySweepPlan): RepositorySweepResult {
    return sweepRepository(this.db, plan, false)
  }

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

  /** One scan of the links (grouped in the primary key's repository order); the reader thread runs it in one read transaction. */
  repositoryStorage(limit: number): RepositoryStorage {
    const db = this.db
    const perRepository = db.prepare<[], { name: string; blobs: number; bytes: number | null }>(
      `SELECT l.repo AS name, COUNT(*) AS blobs, SUM(b.size) AS bytes FROM repository_blobs l JOIN blobs b ON b.digest = l.digest
       GROUP BY l.repo ORDER BY bytes DESC, name`).all()
    const top = perRepository.slice(0, Math.max(0, limit)).map((row) => ({ name: row.name, blobs: row.blobs, bytes: row.bytes ?? 0 }))
    const rest = { repositories: 0, blobs: 0, bytes: 0 }
    for (let i = top.length; i < perRepository.length; i++) {
      const row = perRepository[i]!
      rest.repositories++
      rest.blobs += row.blobs
      rest.bytes += row.bytes ?? 0
    }
    const blobs = db.prepare<[], { count: number; bytes: number | null }>('SELECT COUNT(*) AS count, SUM(size) AS bytes FROM blobs').get()!
    const repositories = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM repositories').get()!.n
    return { top, rest, repositories, blobs: { count: blobs.count, bytes: blobs.bytes ?? 0 } }
  }

  diskUsage(options: { readonly perTag: boolean; readonly tagsOf?: string }): DiskUsage {
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
        ...(options.perTag || name === options.tagsOf ? { tags: perTag.all(name).map((row) => ({ tag: row.tag, digest: row.digest, bytes: row.bytes ?? 0 })) } : {}),
      }))
    return {
      blobs: { count: blobs.count, bytes: blobs.bytes ?? 0 },
      manifests: { count: manifests.count, bytes: manifests.bytes ?? 0 },
      sharedBytes: shared.bytes ?? 0,
      repositories,
    }
  }
}

/** The operations a reader thread accepts, by name. */
export type ReadOperation = {
  [K in keyof SqliteMaintenanceReader]: SqliteMaintenanceReader[K] extends (...args: never[]) => unknown ? K : never
}[keyof SqliteMaintenanceReader]
