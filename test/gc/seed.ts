import { createHash } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import Database from 'better-sqlite3'
import { migrate, openDatabase } from '../../src/metadata/sqlite/schema.js'

const fakeDigest = (seed: string): string => `sha256:${createHash('sha256').update(seed).digest('hex')}`

/**
 * Writes a large metadata database straight into `storage` (no blob files: disk usage and dry runs
 * read only the metadata), so that tests can make maintenance reads take a while. One repository
 * `big/one` holds `manifests` tagged manifests of `layersPerManifest` blobs each; `repositories`
 * small ones hold one each. Everything is older than a day.
 */
export async function seedMetadata(storage: string, options: {
  manifests: number; layersPerManifest: number; repositories: number
  /** Blobs recorded but linked nowhere (garbage for the next collection). */
  unlinkedBlobs?: number
}): Promise<void> {
  await mkdir(storage, { recursive: true })
  const db: Database.Database = openDatabase(path.join(storage, 'metadata.db'))
  migrate(db)
  const now = Date.now() - 24 * 60 * 60 * 1000
  const repo = db.prepare('INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?, ?)')
  const blob = db.prepare('INSERT OR IGNORE INTO blobs (digest, size, created_at) VALUES (?, ?, ?)')
  const link = db.prepare('INSERT OR IGNORE INTO repository_blobs (repo, digest, used_at) VALUES (?, ?, ?)')
  const content = db.prepare(`INSERT INTO manifest_contents (digest, media_type, size, body, created_at)
    VALUES (?, 'application/vnd.oci.image.manifest.v1+json', ?, ?, ?)`)
  const reference = db.prepare('INSERT OR IGNORE INTO manifest_references (parent, child, kind) VALUES (?, ?, ?)')
  const manifest = db.prepare('INSERT INTO manifests (repo, digest, created_at, pushed_at) VALUES (?, ?, ?, ?)')
  const tag = db.prepare('INSERT INTO tags (repo, tag, digest, updated_at) VALUES (?, ?, ?, ?)')
  const addImage = (name: string, i: number, layers: number): void => {
    repo.run(name, now)
    const body = Buffer.from(JSON.stringify({ name, i }))
    const digest = fakeDigest(body.toString())
    content.run(digest, body.length, body, now)
    for (let l = 0; l < layers; l++) {
      // Every other layer is shared with the previous image, as image layers are.
      const layer = fakeDigest(`${name}/${l % 2 === 0 ? i : i - 1}/${l}`)
      blob.run(layer, 1000 + l, now)
      link.run(name, layer, now)
      reference.run(digest, layer, 'layer')
    }
    manifest.run(name, digest, now, now)
    tag.run(name, `t${i}`, digest, now)
  }
  db.transaction(() => {
    for (let i = 0; i < options.manifests; i++) addImage('big/one', i, options.layersPerManifest)
    for (let r = 0; r < options.repositories; r++) addImage(`small/r${r}`, 0, 2)
    for (let b = 0; b < (options.unlinkedBlobs ?? 0); b++) blob.run(fakeDigest(`unlinked/${b}`), 100, now)
  })()
  db.close()
}
