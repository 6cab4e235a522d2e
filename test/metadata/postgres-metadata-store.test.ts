/**
 * PostgresMetadataStore against a real PostgreSQL 15 started for this file (test/support/postgres.ts):
 * the same contract suites as the SQLite store, then what only a networked, shared database has to
 * get right: migrations by several nodes at once, a server restart, and a manifest PUT racing a
 * sweep from another node. Without PostgreSQL the file is skipped (failed under CI=true).
 */
import t from 'tap'
import type { Test } from 'tap'
import { PostgresMetadataStore } from '../../src/metadata/postgres-metadata-store.js'
import { MIGRATIONS } from '../../src/metadata/postgres/schema.js'
import { postgresAvailable, startPostgres } from '../support/postgres.js'
import { waitFor } from '../support/wait.js'
import { runBrowseContract } from './browse-contract.js'
import { manifestPut, randomDigest, ref, repo, runMetadataStoreContract, tag } from './metadata-store-contract.js'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

if (postgresAvailable(t)) {
  const server = await startPostgres(t)
  // Every test's database is a copy of one migrated once: CREATE DATABASE ... TEMPLATE is a file copy.
  const template = await server.createDatabase()
  await (await PostgresMetadataStore.open({ url: template.url })).close()

  const open = async (sub: Test, url?: string): Promise<PostgresMetadataStore> => {
    const store = await PostgresMetadataStore.open({ url: url ?? (await server.createDatabase({ template: template.name })).url })
    sub.teardown(() => store.close())
    return store
  }

  t.test('MetadataStore contract: PostgresMetadataStore', async (t) => {
    runMetadataStoreContract(t, (sub) => open(sub))
  })

  t.test('Browse contract: PostgresMetadataStore', async (t) => {
    runBrowseContract(t, (sub) => open(sub))
  })

  t.test('everything survives closing and reopening the store', async (t) => {
    const { url } = await server.createDatabase({ template: template.name })
    const first = await PostgresMetadataStore.open({ url })
    const r = repo('persist/me')
    const config = randomDigest()
    await first.recordBlob(r, config, 10)
    const m = manifestPut(r, [ref(config, 10, 'config')], { tags: ['latest'], subject: randomDigest() })
    t.match(await first.putManifest(m.put), { ok: true })
    await first.createUpload({ id: 'sess', repo: r, startedAt: 1, updatedAt: 2, owner: 'user:alice' })
    await first.enqueueNotifications([{ endpoint: 'hook', event: 'e1' }, { endpoint: 'hook', event: 'e2' }], 1)
    await first.recordNotificationFailure('hook', { error: 'refused', at: 2, nextAttemptAt: 3 })
    await first.recordGcReport('{"n":1}', 4)
    await first.close()
    await first.close() // closing twice is harmless
    t.equal(first.isHealthy(), false, 'a closed store is not healthy')
    await t.rejects(first.getBlob(config), /closed/, 'a closed store refuses calls')

    const second = await open(t, url)
    t.equal((await second.findManifest(r, { tag: tag('latest') }))?.digest, m.digest)
    t.ok((await second.getManifestBody(m.digest))?.equals(m.put.body), 'the exact bytes')
    t.match(await second.getRepositoryBlob(r, config), { digest: config, size: 10 })
    t.same(await second.getUpload('sess'), { id: 'sess', repo: r, startedAt: 1, updatedAt: 2, owner: 'user:alice' })
    t.same((await second.nextNotifications('hook', 10)).map((e) => e.event), ['e1', 'e2'])
    t.match(await second.notificationState('hook'), { pending: 2, consecutiveFailures: 1, nextAttemptAt: 3, lastError: 'refused' })
    t.same(await second.lastGcReport(), { report: '{"n":1}', finishedAt: 4 })
    t.same(await second.listRepositories({ limit: 5 }), ['persist/me'])
  })

  t.test('nodes opening one empty database at once: every one starts, the schema is applied once', async (t) => {
    const { url } = await server.createDatabase()
    const stores = await Promise.all(Array.from({ length: 4 }, () => open(t, url)))
    const applied = await server.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version', [], new URL(url).pathname.slice(1))
    t.same(applied.map((row) => row.version), MIGRATIONS.map((_, i) => i + 1), 'each migration recorded once')
    const digest = randomDigest()
    await stores[0]!.recordBlob(repo('shared'), digest, 7)
    for (const [i, store] of stores.entries()) t.match(await store.getRepositoryBlob(repo('shared'), digest), { size: 7 }, `node ${i} sees the write`)
    const later = await open(t, url)
    t.same(await later.listRepositories({ limit: 5 }), ['shared'], 'a node opening later applies nothing and finds the data')
  })

  t.test('a PostgreSQL restart: clear rejections without the password while it is down, then the store works again and nothing committed is lost', async (t) => {
    const password = 'pg-Secret-4711'
    const { url, name } = await server.createDatabase({ template: template.name, password })
    const store = await open(t, url)
    const r = repo('survives/restart')
    const config = randomDigest()
    await store.recordBlob(r, config, 10)
    const m = manifestPut(r, [ref(config, 10, 'config')], { tags: ['v1'] })
    t.match(await store.putManifest(m.put), { ok: true })
    t.equal(store.isHealthy(), true)
    const where = `${server.host}:${server.port}/${name}`

    await server.restart({
      whileDown: async () => {
        for (const [what, call] of [
          ['a read', () => store.getBlob(config)],
          ['a write', () => store.recordBlob(r, randomDigest(), 1)],
          ['a transaction', () => store.putManifest(manifestPut(r, [ref(config, 10, 'config')], { tags: ['v2'] }).put)],
          ['a snapshot', () => store.diskUsage({ perTag: false })],
        ] as const) {
          const error = await (call as () => Promise<unknown>)().then(() => undefined, (err: unknown) => err as Error)
          t.ok(error instanceof Error, `${what} rejects`)
          t.match(error?.message, `metadata database ${where} is unavailable`, `${what}: the message names the database`)
          t.notMatch(error?.message, password, `${what}: the message holds no password`)
          t.notMatch(error?.stack, password, `${what}: nor does the stack`)
        }
        t.equal(store.isHealthy(), false, 'unhealthy while the database is unreachable')
      },
    })

    // Without a call: the store's own probe finds the database back (a readiness check would wait for nothing else).
    await waitFor('the store to report healthy again', async () => store.isHealthy(), 5000)
    // No retry by the caller: the pool dropped its dead connections and opens new ones.
    t.equal((await store.findManifest(r, { tag: tag('v1') }))?.digest, m.digest, 'the committed manifest is there')
    t.match(await store.getRepositoryBlob(r, config), { size: 10 })
    const after = manifestPut(r, [ref(config, 10, 'config')], { tags: ['v3'] })
    t.match(await store.putManifest(after.put), { ok: true }, 'writes work again')
    t.same(await store.listTags(r, { limit: 10 }), ['v1', 'v3'], 'the put refused while down changed nothing')
  })

  t.test('two nodes: manifest PUTs on one racing sweeps on the other never leave a manifest whose references are gone', async (t) => {
    const { url } = await server.createDatabase({ template: template.name })
    const [pusher, collector] = [await open(t, url), await open(t, url)]
    const r = repo('gc/race')
    const config = randomDigest()
    await pusher.recordBlob(r, config, 10)
    // The config stays linked throughout: a tagged manifest references it.
    t.match(await pusher.putManifest(manifestPut(r, [ref(config, 10, 'config')], { tags: ['keep'] }).put), { ok: true })
    let stored = 0
    let refused = 0
    for (let i = 0; i < 40; i++) {
      // An old untagged child, and a tagged index referencing it, put while the other node collects untagged manifests and unused links.
      const layer = randomDigest()
      await pusher.recordBlob(r, layer, 5)
      const child = manifestPut(r, [ref(config, 10, 'config'), ref(layer, 5, 'layer')], { now: 1 })
      t.match(await pusher.putManifest(child.put), { ok: true })
      const index = manifestPut(r, [ref(child.digest, child.put.body.length, 'manifest', OCI_MANIFEST)], { mediaType: OCI_INDEX, tags: [`i${i}`] })
      const sweep = collector.sweepRepository({ repo: r, tags: [], graceCutoff: Date.now() + 1, untaggedCutoff: Date.now() + 1, dryRun: false })
      const [result] = await Promise.all([pusher.putManifest(index.put), sweep])
      const childThere = await collector.findManifest(r, { digest: child.digest }) !== undefined
      if (result.ok) { stored++; t.ok(childThere, `round ${i}: the index was stored, so its child stayed`) } else { refused++; t.notOk(childThere, `round ${i}: the child was swept first, so the index was refused`) }
      t.same((await collector.findDanglingRows()).missingReferences, [], `round ${i}: no stored manifest points at nothing`)
    }
    t.equal(stored + refused, 40)
    t.comment(`${stored} puts won, ${refused} sweeps won`)
  })

  t.test('two nodes: links and puts racing the cross-repository cleanups never leave a link without its blob or a manifest without its bytes', async (t) => {
    const { url } = await server.createDatabase({ template: template.name })
    const [serving, collector] = [await open(t, url), await open(t, url)]
    const outcomes = { linked: 0, blobRemoved: 0, put: 0, contentRemoved: 0 }
    for (let i = 0; i < 25; i++) {
      // A blob nobody links any more, mounted into another repository while the collector removes unlinked blobs.
      const digest = randomDigest()
      await serving.recordBlob(repo('cleanup/from'), digest, 3)
      await serving.unlinkBlob(repo('cleanup/from'), digest)
      const [linked, removed] = await Promise.all([serving.linkBlob(repo('cleanup/to'), digest), collector.deleteBlobsIfUnlinked([digest])])
      t.equal(linked === undefined, removed.length === 1, `round ${i}: the blob was either linked or removed`)
      if (linked !== undefined) outcomes.linked++; else outcomes.blobRemoved++
      t.equal(await collector.getBlob(digest) !== undefined, linked !== undefined, `round ${i}: its record is there exactly when it was linked`)

      // Manifest bytes no repository holds any more, put again elsewhere while the collector removes orphan contents.
      const config = randomDigest()
      for (const name of ['cleanup/from', 'cleanup/to']) await serving.recordBlob(repo(name), config, 4)
      const m = manifestPut(repo('cleanup/from'), [ref(config, 4, 'config')])
      await serving.putManifest(m.put)
      await serving.deleteManifest(repo('cleanup/from'), m.digest)
      const [put, orphans] = await Promise.all([serving.putManifest({ ...m.put, repo: repo('cleanup/to') }), collector.deleteOrphanManifestContents()])
      t.equal(put.ok, true, `round ${i}: the put succeeded`)
      if (orphans === 0) outcomes.put++; else outcomes.contentRemoved++
      t.ok((await collector.getManifestBody(m.digest))?.equals(m.put.body), `round ${i}: the stored manifest has its bytes`)
      t.match(await collector.findManifest(repo('cleanup/to'), { digest: m.digest }), { digest: m.digest })
      t.same(await serving.unlinkBlob(repo('cleanup/to'), config), { status: 'referenced', referencedBy: [m.digest] }, `round ${i}: with its references`)
    }
    t.same(await collector.findDanglingRows(), { linksWithoutBlob: [], tagsWithoutManifest: [], missingReferences: [] }, 'nothing points at nothing')
    t.comment(JSON.stringify(outcomes))
  })
}
