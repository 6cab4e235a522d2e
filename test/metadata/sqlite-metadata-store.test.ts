import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import t from 'tap'
import type { Test } from 'tap'
import { SqliteMetadataStore } from '../../src/metadata/sqlite-metadata-store.js'
import { MIGRATIONS } from '../../src/metadata/sqlite/schema.js'
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
  await first.enqueueNotifications([{ endpoint: 'hook', event: 'e1' }, { endpoint: 'hook', event: 'e2' }], 1)
  await first.recordNotificationFailure('hook', { error: 'refused', at: 2, nextAttemptAt: 3 })
  await first.close()
  await first.close() // closing twice is harmless

  const second = new SqliteMetadataStore(file)
  t.teardown(() => second.close())
  t.equal((await second.findManifest(r, { tag: tag('latest') }))?.digest, m.digest)
  t.ok((await second.getManifestBody(m.digest))?.equals(m.put.body))
  t.match(await second.getRepositoryBlob(r, config), { digest: config, size: 10 })
  t.match(await second.getUpload('sess'), { id: 'sess', repo: r, startedAt: 1, updatedAt: 2 })
  t.same((await second.nextNotifications('hook', 10)).map((e) => e.event), ['e1', 'e2'])
  t.match(await second.notificationState('hook'), { pending: 2, consecutiveFailures: 1, nextAttemptAt: 3, lastError: 'refused' })
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

t.test('migration from the first schema: a manifest\'s last push time starts as its creation time', async (t) => {
  const file = path.join(await tempDir(t), 'metadata.db')
  const old = new Database(file)
  old.exec(MIGRATIONS[0]!)
  old.pragma('user_version = 1')
  old.prepare('INSERT INTO manifests (repo, digest, created_at) VALUES (?, ?, ?)').run('old/repo', 'sha256:aa', 1234)
  old.close()
  const store = new SqliteMetadataStore(file)
  await store.close()
  const db = new Database(file, { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length, 'every migration applied')
  t.same(db.prepare('SELECT created_at, pushed_at FROM manifests').all(), [{ created_at: 1234, pushed_at: 1234 }])
})

t.test('a dead writer thread: reported once through onWriterFailure, isHealthy() false, writes refused', async (t) => {
  const failures: Error[] = []
  const store = new SqliteMetadataStore(path.join(await tempDir(t), 'metadata.db'), { onWriterFailure: (err) => failures.push(err) })
  t.teardown(() => store.close())
  await store.ready
  t.equal(store.isHealthy(), true)
  await store.recordBlob(repo('w'), randomDigest(), 1)
  // Terminate the thread from outside, as a crash of the thread would end it.
  await (store as unknown as { writer: Worker }).writer.terminate()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(failures.length, 1, 'reported once')
  t.match(failures[0]?.message, /metadata writer thread exited/)
  t.equal(store.isHealthy(), false)
  await t.rejects(store.recordBlob(repo('w'), randomDigest(), 1), /metadata writer thread exited/, 'writes fail fast')
  t.equal(failures.length, 1, 'still reported once')
})

t.test('closing the store is not a writer failure', async (t) => {
  const failures: Error[] = []
  const store = new SqliteMetadataStore(path.join(await tempDir(t), 'metadata.db'), { onWriterFailure: (err) => failures.push(err) })
  await store.ready
  await store.close()
  t.same(failures, [])
  t.equal(store.isHealthy(), false, 'a closed store cannot write')
})

t.test('annotations are stored once, in the body: a manifest with 2 MiB of them costs the database about 2 MiB', async (t) => {
  const file = path.join(await tempDir(t), 'metadata.db')
  const store = new SqliteMetadataStore(file)
  const r = repo('annotated')
  const config = randomDigest()
  await store.recordBlob(r, config, 1)
  const subject = randomDigest()
  const annotations: Record<string, string> = {}
  for (let i = 0; i < 256; i++) annotations[`org.example.k${i}`] = 'v'.repeat(8192)
  const m = manifestPut(r, [ref(config, 1, 'config')], { annotations, subject, tags: ['big'] })
  t.ok(m.put.body.length > 2 * 1024 * 1024)
  t.match(await store.putManifest(m.put), { ok: true })
  t.same((await store.listReferrers(r, subject))[0]?.annotations, annotations, 'the referrers listing still has them')
  await store.close()
  const size = (await stat(file)).size
  t.ok(size < m.put.body.length * 1.3, `database ${size} bytes for a ${m.put.body.length}-byte manifest`)
})

t.test('migration from schema 2: the annotations column goes, referrers keep their annotations', async (t) => {
  const file = path.join(await tempDir(t), 'metadata.db')
  const old = new Database(file)
  old.exec(MIGRATIONS[0]!)
  old.exec(MIGRATIONS[1]!)
  old.pragma('user_version = 2')
  const subject = randomDigest()
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, subject: { digest: subject }, annotations: { 'org.example': 'yes' } }))
  old.prepare(`INSERT INTO manifest_contents (digest, media_type, size, subject, annotations, body, created_at) VALUES ('sha256:bb', 'application/vnd.oci.image.manifest.v1+json', ?, ?, ?, ?, 1)`)
    .run(body.length, subject, '{"org.example":"yes"}', body)
  old.prepare(`INSERT INTO manifests (repo, digest, created_at, pushed_at) VALUES ('old/repo', 'sha256:bb', 1, 1)`).run()
  old.close()
  const store = new SqliteMetadataStore(file)
  t.teardown(() => store.close())
  t.match(await store.listReferrers(repo('old/repo'), subject), [{ digest: 'sha256:bb', annotations: { 'org.example': 'yes' } }])
  const db = new Database(file, { readonly: true })
  t.teardown(() => db.close())
  const columns = (db.prepare('PRAGMA table_info(manifest_contents)').all() as Array<{ name: string }>).map((c) => c.name)
  t.notOk(columns.includes('annotations'), 'the duplicate column is gone')
})

t.test('migration from schema 3: upload sessions get an owner column; sessions from before have none and stay', async (t) => {
  const file = path.join(await tempDir(t), 'metadata.db')
  const old = new Database(file)
  for (const migration of MIGRATIONS.slice(0, 3)) old.exec(migration)
  old.pragma('user_version = 3')
  old.prepare(`INSERT INTO uploads (id, repo, started_at, updated_at) VALUES ('before', 'old/repo', 1, 2)`).run()
  old.close()
  const store = new SqliteMetadataStore(file)
  t.teardown(() => store.close())
  t.same(await store.getUpload('before'), { id: 'before', repo: 'old/repo', startedAt: 1, updatedAt: 2 }, 'the old session, without an owner')
  await store.createUpload({ id: 'after', repo: repo('old/repo'), startedAt: 3, updatedAt: 3, owner: 'robot:ci' })
  t.equal((await store.getUpload('after'))?.owner, 'robot:ci', 'a new session keeps its owner')
  const db = new Database(file, { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length, 'every migration applied')
})

t.test('backpressure: at most maxQueuedWrites are posted to the writer; the rest wait their turn and all succeed', async (t) => {
  const store = new SqliteMetadataStore(path.join(await tempDir(t), 'metadata.db'), { maxQueuedWrites: 4 })
  t.teardown(() => store.close())
  await store.ready
  const r = repo('bounded')
  const digests = Array.from({ length: 100 }, () => randomDigest())
  const writes = digests.map((d, i) => store.recordBlob(r, d, i))
  await new Promise((resolve) => setImmediate(resolve))
  t.match(store.queuedWrites, { posted: 4, waiting: 96 }, 'four posted, the others waiting')
  let maxPosted = 0
  const sampler = setInterval(() => { maxPosted = Math.max(maxPosted, store.queuedWrites.posted) }, 1)
  await Promise.all(writes)
  clearInterval(sampler)
  t.ok(maxPosted <= 4, `never more than 4 posted (${maxPosted})`)
  t.same(store.queuedWrites, { posted: 0, waiting: 0 })
  for (const [i, d] of digests.entries()) t.match(await store.getRepositoryBlob(r, d), { size: i }, `write ${i} committed`)
})
