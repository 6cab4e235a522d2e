import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import type { Test } from 'tap'
import { SqliteMetadataStore } from '../../src/metadata/sqlite-metadata-store.js'
import { manifestPut, randomDigest, ref, repo, runMetadataStoreContract, tag } from './metadata-store-contract.js'

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-sqlite-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('MetadataStore contract: SqliteMetadataStore', async (t) => {
  runMetadataStoreContract(t, async (sub) => {
    const store = new SqliteMetadataStore(path.join(await tempDir(sub), 'metadata.db'))
    sub.teardown(() => store.close())
    return store
  })
})

t.test('everything survives closing and reopening the database', async (t) => {
  const file = path.join(await tempDir(t), 'metadata.db')
  const first = new SqliteMetadataStore(file)
  const r = repo('persist/me')
  const config = randomDigest()
  await first.recordBlob(r, config, 10)
  const m = manifestPut(r, [ref(config, 10, 'config')], { tags: ['latest'], subject: randomDigest() })
  t.match(await first.putManifest(m.put), { ok: true })
  await first.createUpload({ id: 'sess', repo: r, startedAt: 1, updatedAt: 2 })
  await first.close()
  await first.close() // closing twice is harmless

  const second = new SqliteMetadataStore(file)
  t.teardown(() => second.close())
  t.equal((await second.findManifest(r, { tag: tag('latest') }))?.digest, m.digest)
  t.ok((await second.getManifestBody(m.digest))?.equals(m.put.body))
  t.match(await second.getRepositoryBlob(r, config), { digest: config, size: 10 })
  t.match(await second.getUpload('sess'), { id: 'sess', repo: r, startedAt: 1, updatedAt: 2 })
  t.same(await second.listRepositories({ limit: 5 }), ['persist/me'])
})

t.test('the database is in WAL mode with the schema version recorded', async (t) => {
  const file = path.join(await tempDir(t), 'metadata.db')
  const store = new SqliteMetadataStore(file)
  await store.close()
  const db = new Database(file, { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal')
  t.ok((db.pragma('user_version', { simple: true }) as number) >= 1, 'user_version records the migrations')
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((x) => x.name)
  for (const name of ['blobs', 'manifest_contents', 'manifest_references', 'manifests', 'repositories', 'repository_blobs', 'tags', 'uploads']) {
    t.ok(tables.includes(name), `table ${name}`)
  }
})

t.test('references of a stored manifest are recorded (they drive garbage collection)', async (t) => {
  const file = path.join(await tempDir(t), 'metadata.db')
  const store = new SqliteMetadataStore(file)
  const r = repo('refs')
  const config = randomDigest()
  const layer = randomDigest()
  await store.recordBlob(r, config, 1)
  await store.recordBlob(r, layer, 2)
  const external = randomDigest()
  const m = manifestPut(r, [ref(config, 1, 'config'), ref(layer, 2, 'layer'), ref(external, 3, 'external')])
  await store.putManifest(m.put)
  await store.close()
  const db = new Database(file, { readonly: true })
  t.teardown(() => db.close())
  const rows = db.prepare('SELECT child, kind FROM manifest_references WHERE parent = ? ORDER BY kind').all(m.digest) as Array<{ child: string; kind: string }>
  t.same(rows, [{ child: config, kind: 'config' }, { child: external, kind: 'external' }, { child: layer, kind: 'layer' }])
})

t.test('group commit: writes issued together commit together, and a failing one fails alone', async (t) => {
  const store = new SqliteMetadataStore(path.join(await tempDir(t), 'metadata.db'))
  t.teardown(() => store.close())
  await store.ready
  const r = repo('group/commit')
  await store.createUpload({ id: 'taken', repo: r, startedAt: 1, updatedAt: 1 })
  const digests = Array.from({ length: 50 }, () => randomDigest())
  // All issued in one turn of the event loop: one batch, one transaction.
  const results = await Promise.allSettled([
    ...digests.map((d, i) => store.recordBlob(r, d, i)),
    store.createUpload({ id: 'taken', repo: r, startedAt: 2, updatedAt: 2 }),
    store.createUpload({ id: 'fresh', repo: r, startedAt: 3, updatedAt: 3 }),
  ])
  t.equal(results.filter((x) => x.status === 'fulfilled').length, 51, 'every write but the duplicate succeeded')
  const failed = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected')
  t.equal(failed.length, 1)
  t.match(String(failed[0]?.reason), /UNIQUE/, 'the duplicate session id was refused by its own savepoint')
  for (const [i, d] of digests.entries()) t.match(await store.getRepositoryBlob(r, d), { size: i }, `blob ${i} committed`)
  t.match(await store.getUpload('taken'), { startedAt: 1 }, 'the refused write changed nothing')
  t.match(await store.getUpload('fresh'), { startedAt: 3 })
})

t.test('a write is visible to reads as soon as its promise settles (reads and writes use different connections)', async (t) => {
  const store = new SqliteMetadataStore(path.join(await tempDir(t), 'metadata.db'))
  t.teardown(() => store.close())
  const r = repo('read/your/writes')
  for (let i = 0; i < 20; i++) {
    const d = randomDigest()
    await store.recordBlob(r, d, i)
    t.match(await store.getRepositoryBlob(r, d), { size: i })
  }
})
