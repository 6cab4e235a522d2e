import type { Test } from 'tap'
import type { MetadataStore } from '../../src/metadata/metadata-store.js'
import type { Digest } from '../../src/oci/digest.js'
import type { RepoName } from '../../src/oci/names.js'
import { manifestPut, randomDigest, ref, repo, type MetadataStoreFactory } from './metadata-store-contract.js'

async function blob(store: Pick<MetadataStore, 'recordBlob'>, repoName: RepoName, size: number): Promise<Digest> {
  const digest = randomDigest()
  await store.recordBlob(repoName, digest, size)
  return digest
}

/** The reads of the web UI (MetadataStore "Browsing") and the kept GC report: part of every backend's contract. */
export function runBrowseContract(t: Test, makeStore: MetadataStoreFactory): void {
  t.test('searchRepositories: case-insensitive substring, name order, paging, total; LIKE wildcards are literal', async (t) => {
    const store = await makeStore(t)
    for (const name of ['team/a_b', 'team/axb', 'team/web', 'other/web', 'z']) await blob(store, repo(name), 1)
    t.same(await store.searchRepositories({ limit: -1 }), { names: ['other/web', 'team/a_b', 'team/axb', 'team/web', 'z'], total: 5 })
    t.same(await store.searchRepositories({ contains: 'TEAM/', limit: 2 }), { names: ['team/a_b', 'team/axb'], total: 3 })
    t.same(await store.searchRepositories({ contains: 'team/', last: 'team/axb', limit: 2 }), { names: ['team/web'], total: 3 })
    t.same(await store.searchRepositories({ contains: '_', limit: 10 }), { names: ['team/a_b'], total: 1 })
    t.same(await store.searchRepositories({ contains: '%', limit: 10 }), { names: [], total: 0 })
  })

  t.test('repositoryStats: counts, logical and exclusive bytes, last push', async (t) => {
    const store = await makeStore(t)
    const r = repo('stats/app')
    const shared = await blob(store, r, 1000)
    await store.recordBlob(repo('stats/other'), shared, 1000)
    const own = await blob(store, r, 300)
    const a = manifestPut(r, [ref(shared, 1000, 'config'), ref(own, 300, 'layer')], { tags: ['a', 'latest'], now: 1000 })
    const b = manifestPut(r, [ref(own, 300, 'layer')], { now: 2000 })
    await store.putManifest(a.put)
    await store.putManifest(b.put)
    await blob(store, repo('stats/blobs-only'), 5)
    const manifestBytes = a.put.body.length + b.put.body.length
    t.same(await store.repositoryStats([r, repo('stats/none'), repo('stats/blobs-only')]), [
      { name: r, tagCount: 2, manifestCount: 2, logicalBytes: 1300 + manifestBytes, exclusiveBytes: 300 + manifestBytes, lastPushedAt: 2000 },
      { name: 'stats/blobs-only', tagCount: 0, manifestCount: 0, logicalBytes: 0, exclusiveBytes: 0, lastPushedAt: null },
    ])
  })

  t.test('searchTags: by name or newest first, filter, cursor, total, with each manifest', async (t) => {
    const store = await makeStore(t)
    const r = repo('tags/app')
    const config = await blob(store, r, 10)
    const m1 = manifestPut(r, [ref(config, 10, 'config')], { tags: ['v1', 'Latest'], now: 100 })
    const m2 = manifestPut(r, [ref(config, 10, 'config')], { tags: ['v2'], now: 300 })
    const m3 = manifestPut(r, [ref(config, 10, 'config')], { tags: ['dev'], now: 200 })
    for (const m of [m1, m2, m3]) await store.putManifest(m.put)
    const byName = await store.searchTags(r, { sort: 'name', limit: 10 })
    t.same(byName.tags.map((row) => row.tag), ['Latest', 'dev', 'v1', 'v2'])
    t.equal(byName.total, 4)
    t.same(byName.tags[0]!.record, { digest: m1.digest, mediaType: m1.put.mediaType, size: m1.put.body.length })
    t.same(byName.tags[0]!.body, m1.put.body)
    t.equal(byName.tags[3]!.updatedAt, 300)
    const byTime = await store.searchTags(r, { sort: 'time', limit: 2 })
    t.same(byTime.tags.map((row) => row.tag), ['v2', 'dev'])
    const rest = await store.searchTags(r, { sort: 'time', limit: 5, after: { tag: 'dev', updatedAt: 200 } })
    t.same(rest.tags.map((row) => row.tag), ['Latest', 'v1'], 'ties in time by tag')
    t.same((await store.searchTags(r, { sort: 'time', limit: 5, after: { tag: 'Latest', updatedAt: 100 } })).tags.map((row) => row.tag), ['v1'])
    const filtered = await store.searchTags(r, { sort: 'name', contains: 'V', limit: 1, after: { tag: 'v1' } })
    t.same(filtered.tags.map((row) => row.tag), ['v2'])
    t.equal(filtered.total, 3, 'v1, v2 and dev')
    t.same(await store.searchTags(repo('tags/none'), { sort: 'name', limit: 5 }), { tags: [], total: 0 })
  })

  t.test('contentSizes, manifestLinks and bytesFreedWithout follow an index, its children and referrers', async (t) => {
    const store = await makeStore(t)
    const r = repo('links/app')
    const config = await blob(store, r, 10)
    const layer = await blob(store, r, 1000)
    const own = await blob(store, r, 50)
    const child1 = manifestPut(r, [ref(config, 10, 'config'), ref(layer, 1000, 'layer')])
    const child2 = manifestPut(r, [ref(config, 10, 'config'), ref(layer, 1000, 'layer'), ref(own, 50, 'layer')])
    await store.putManifest(child1.put)
    await store.putManifest(child2.put)
    const index = manifestPut(r, [ref(child1.digest, child1.put.body.length, 'manifest'), ref(child2.digest, child2.put.body.length, 'manifest')], { tags: ['multi'] })
    await store.putManifest(index.put)
    const sig = manifestPut(r, [ref(config, 10, 'config')], { subject: index.digest, artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' })
    await store.putManifest(sig.put)
    const [indexSize, child2Size] = await store.contentSizes([index.digest, child2.digest])
    t.equal(indexSize, index.put.body.length + child1.put.body.length + child2.put.body.length + 10 + 1000 + 50, 'each blob counted once')
    t.equal(child2Size, child2.put.body.length + 1060)

    t.same(await store.manifestLinks(r, index.digest), { tags: ['multi'], parents: [], children: [child1.digest, child2.digest].sort(), referrers: [sig.digest] })
    t.same(await store.manifestLinks(r, child1.digest), { tags: [], parents: [index.digest], children: [], referrers: [] })
    t.same(await store.manifestLinks(r, sig.digest), { tags: [], parents: [], children: [], referrers: [], subject: index.digest })
    t.equal(await store.manifestLinks(r, randomDigest()), undefined)
    t.equal(await store.manifestLinks(repo('links/none'), index.digest), undefined)

    // Without child2: its own layer goes; config and layer stay (child1 and the signature use them).
    t.equal(await store.bytesFreedWithout(r, [child2.digest]), child2.put.body.length + 50)
    t.equal(await store.bytesFreedWithout(r, [index.digest, child1.digest, child2.digest, sig.digest]),
      index.put.body.length + child1.put.body.length + child2.put.body.length + sig.put.body.length + 1060)
    // What another repository holds is not freed.
    await store.recordBlob(repo('links/other'), layer, 1000)
    await store.recordBlob(repo('links/other'), config, 10)
    await store.putManifest({ ...child1.put, repo: repo('links/other') })
    t.equal(await store.bytesFreedWithout(r, [index.digest, child1.digest, child2.digest, sig.digest]),
      index.put.body.length + child2.put.body.length + sig.put.body.length + 50)
    t.equal(await store.bytesFreedWithout(r, []), 0)
  })

  t.test('the last garbage collection report is kept, the newest replacing the one before', async (t) => {
    const store = await makeStore(t)
    t.equal(await store.lastGcReport(), undefined)
    await store.recordGcReport('{"n":1}', 1000)
    await store.recordGcReport('{"n":2}', 2000)
    t.same(await store.lastGcReport(), { report: '{"n":2}', finishedAt: 2000 })
  })
}


