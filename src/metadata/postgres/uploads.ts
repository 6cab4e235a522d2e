import type { RepoName } from '../../oci/names.js'
import type { UploadRecord } from '../metadata-store.js'
import type { PostgresConnection } from './connection.js'

interface UploadRow { id: string; repo: string; started_at: number; updated_at: number; owner: string | null }

const COLUMNS = 'id, repo, started_at, updated_at, owner'

function toUploadRecord(row: UploadRow): UploadRecord {
  return { id: row.id, repo: row.repo as RepoName, startedAt: row.started_at, updatedAt: row.updated_at, ...(row.owner !== null ? { owner: row.owner } : {}) }
}

/** Upload sessions (metadata-store.ts "Upload sessions"): one row each, any node can continue one. */
export class PostgresUploadSessions {
  private readonly db: PostgresConnection

  constructor(db: PostgresConnection) {
    this.db = db
  }

  async create(upload: UploadRecord): Promise<void> {
    await this.db.query(`INSERT INTO uploads (${COLUMNS}) VALUES ($1, $2, $3, $4, $5)`,
      [upload.id, upload.repo, upload.startedAt, upload.updatedAt, upload.owner ?? null])
  }

  async get(id: string): Promise<UploadRecord | undefined> {
    const [row] = await this.db.query<UploadRow>(`SELECT ${COLUMNS} FROM uploads WHERE id = $1`, [id])
    return row && toUploadRecord(row)
  }

  async touch(id: string, now: number): Promise<void> {
    await this.db.query('UPDATE uploads SET updated_at = $1 WHERE id = $2', [now, id])
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM uploads WHERE id = $1 RETURNING id', [id])).length > 0
  }

  /** Sessions last used before `updatedBefore` (all when absent), oldest first. */
  async list(updatedBefore?: number): Promise<UploadRecord[]> {
    return (await this.db.query<UploadRow>(`SELECT ${COLUMNS} FROM uploads WHERE updated_at < $1 ORDER BY updated_at`,
      [updatedBefore ?? Number.MAX_SAFE_INTEGER])).map(toUploadRecord)
  }
}
