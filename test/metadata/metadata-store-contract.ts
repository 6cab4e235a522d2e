import { createHash, randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import type { ManifestPut, MetadataMaintenance, MetadataStore, NotificationQueue } from '../../src/metadata/metadata-store.js'
import type { Digest } from '../../src/oci/digest.js'
import type { ManifestReference } from '../../src/oci/manifest.js'
import type { RepoName, Tag } from '../../src/oci/names.js'

/**
 * The behaviour every metadata backend must have, all parts (MetadataStore: serving;
 * MetadataMaintenance: GC, fsck, disk usage; NotificationQueue: the webhook queue). `makeStore`
 * opens a fresh, empty store and registers its cleanup on `t`. The web UI's reads have their own
 * part, runBrowseContract (browse-contract.ts): a backend runs both (sqlite-browse.test.ts).
 */
export type MetadataStoreFactory = (t: Test) => Promise<MetadataStore & MetadataMaintenance & NotificationQueue>

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

export const repo = (name: string): RepoName => name as RepoName
export const tag = (name: string): Tag => name as Tag

export function randomDigest(): Digest {
  return `sha256:${createHash('sha256').update(randomBytes(16)).digest('hex')}` as Digest
}

function bodyDigest(body: Buffer): Digest {
  return `sha256:${createHash('sha256').update(body).digest('hex')}` as Digest
}

export interface FakeManifest {
  readonly put: ManifestPut
  readonly digest: Digest
}

/** A ManifestPut with a unique body; references and tags as given. */
export function manifestPut(repoName: RepoName, references: ManifestReference[], options: {
  tags?: string[]; subject?: Digest; artifactType?: string; annotations?: Record<string, string>; mediaType?: string; now?: number
} = {}): FakeManifest {
  // Like a real manifest, the body holds the annotations (a store may read them from it).
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2, nonce: randomBytes(8).toString('hex'), references,
    ...(options.annotations !== undefined ? { annotations: options.annotations } : {}),
  }))
  const digest = bodyDigest(body)
  return {
    digest,
    put: {
      repo: repoName, digest, body, mediaType: options.mediaType ?? OCI_MANIFEST, references,
      tags: (options.tags ?? []).map(tag), now: options.now ?? Date.now(),
      ...(options.subject !== undefined ? { subject: options.subject } : {}),
      ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
      ...(options.annotations !== undefined ? { annotations: options.annotations } : {}),
    },
  }
}

export function ref(digest: Digest, size: number, kind: ManifestReference['kind'], mediaType = 'application/octet-stream'): ManifestReference {
  return { digest, size, kind, mediaType }
}

/** Records a random blob of `size` in `repo`; returns its digest. */
async function blob(store: Pick<MetadataStore, 'recordBlob'>, repoName: RepoName, size = 100): Promise<Digest> {
  const digest = randomDigest()
  await store.recordBlob(repoName, digest, size)
  return digest
}

export function runMetadataStoreContract(t: Test, makeStore: MetadataStoreFactory): void {
  t.test('an empty store knows no repository', async (t) => {
    const store = await makeStore(t)
    t.equal(await store.repositoryExists(repo('a')), false)
    t.same(await store.listRepositories({ limit: 10 }), [])
    t.same(await store.listTags(repo('a'), { limit: 10 }), [])
    t.equal(await store.getBlob(randomDigest()), undefined)
    t.equal(await store.findManifest(repo('a'), { tag: tag('latest') }), undefined)
  })

  t.test('recordBlob records the blob, links it into the repository and creates the repository', async (t) => {
    const store = await makeStore(t)
    const digest = await blob(store, repo('lib/one'), 1234)
    t.match(await store.getBlob(digest), { digest, size: 1234 })
    t.match(await store.getRepositoryBlob(repo('lib/one'), digest), { digest, size: 1234 })
    t.equal(await store.getRepositoryBlob(repo('lib/two'), digest), undefined, 'not linked elsewhere')
    t.equal(await store.repositoryExists(repo('lib/one')), true)
    t.equal(await store.repositoryExists(repo('lib/two')), false)
    t.same(await store.listRepositories({ limit: 10 }), ['lib/one'])
    await store.recordBlob(repo('lib/one'), digest, 1234)
    t.match(await store.getBlob(digest), { digest, size: 1234 }, 'recording again is harmless')
  })

  t.test('recordBlob, linkBlob and putManifest say whether they created the repository', async (t) => {
    const store = await makeStore(t)
    const digest = randomDigest()
    t.same(await store.recordBlob(repo('made/by-blob'), digest, 3), { repositoryCreated: true })
    t.same(await store.recordBlob(repo('made/by-blob'), digest, 3), { repositoryCreated: false }, 'it exists now')
    t.same(await store.linkBlob(repo('made/by-link'), digest), { digest, size: 3, repositoryCreated: true })
    t.same(await store.linkBlob(repo('made/by-link'), digest), { digest, size: 3, repositoryCreated: false })
    const m = manifestPut(repo('made/by-manifest'), [ref(randomDigest(), 9, 'external')])
    t.same(await store.putManifest(m.put), { ok: true, repositoryCreated: true, moved: [] })
    t.same(await store.putManifest(m.put), { ok: true, repositoryCreated: false, moved: [] })
    t.same(await store.listRepositories({ limit: 10 }), ['made/by-blob', 'made/by-link', 'made/by-manifest'])
  })

  t.test('recordBlob with an upload id ends that upload session atomically', async (t) => {
    const store = await makeStore(t)
    await store.createUpload({ id: 'u-1', repo: repo('r'), startedAt: 1, updatedAt: 1 })
    await store.createUpload({ id: 'u-2', repo: repo('r'), startedAt: 1, updatedAt: 1 })
    await store.recordBlob(repo('r'), randomDigest(), 5, 'u-1')
    t.equal(await store.getUpload('u-1'), undefined, 'ended')
    t.ok(await store.getUpload('u-2'), 'the other session stays')
  })

  t.test('linkBlob without from links any recorded blob', async (t) => {
    const store = await makeStore(t)
    const digest = await blob(store, repo('src'), 42)
    t.match(await store.linkBlob(repo('dst'), digest), { digest, size: 42 })
    t.match(await store.getRepositoryBlob(repo('dst'), digest), { digest, size: 42 })
    t.equal(await store.repositoryExists(repo('dst')), true)
    const unknown = randomDigest()
    t.equal(await store.linkBlob(repo('other'), unknown), undefined, 'unrecorded blob')
    t.equal(await store.getRepositoryBlob(repo('other'), unknown), undefined)
    t.equal(await store.repositoryExists(repo('other')), false, 'a failed link creates no repository')
  })

  t.test('linkBlob with from links only a blob linked in from', async (t) => {
    const store = await makeStore(t)
    const digest = await blob(store, repo('has'), 7)
    await blob(store, repo('empty'))
    t.match(await store.linkBlob(repo('dst'), digest, repo('has')), { digest, size: 7 })
    t.match(await store.getRepositoryBlob(repo('dst'), digest), { digest, size: 7 })
    t.equal(await store.linkBlob(repo('dst2'), digest, repo('empty')), undefined, 'from lacks it')
    t.equal(await store.getRepositoryBlob(repo('dst2'), digest), undefined)
    t.equal(await store.linkBlob(repo('dst3'), digest, repo('nonexistent')), undefined, 'from does not exist')
    t.match(await store.linkBlob(repo('dst'), digest, repo('has')), { digest, size: 7 }, 'linking twice is fine')
  })

  t.test('unlinkBlob removes only the link', async (t) => {
    const store = await makeStore(t)
    const digest = await blob(store, repo('a'), 9)
    await store.linkBlob(repo('b'), digest)
    t.same(await store.unlinkBlob(repo('a'), digest), { status: 'deleted' })
    t.same(await store.unlinkBlob(repo('a'), digest), { status: 'unknown' }, 'second time')
    t.equal(await store.getRepositoryBlob(repo('a'), digest), undefined)
    t.match(await store.getRepositoryBlob(repo('b'), digest), { digest, size: 9 }, 'other repository keeps it')
    t.match(await store.getBlob(digest), { digest, size: 9 }, 'the record stays')
    t.same(await store.unlinkBlob(repo('c'), randomDigest()), { status: 'unknown' })
  })

  t.test('putManifest stores the manifest, its exact bytes and its tags', async (t) => {
    const store = await makeStore(t)
    const r = repo('app')
    const config = await blob(store, r, 10)
    const layer = await blob(store, r, 2000)
    const subject = randomDigest()
    const m = manifestPut(r, [ref(config, 10, 'config'), ref(layer, 2000, 'layer')], {
      tags: ['v1', 'latest'], artifactType: 'application/vnd.example+json', subject, annotations: { 'org.example.a': 'b' },
    })
    t.match(await store.putManifest(m.put), { ok: true })
    const expected = { digest: m.digest, mediaType: OCI_MANIFEST, size: m.put.body.length, artifactType: 'application/vnd.example+json', subject }
    t.match(await store.findManifest(r, { digest: m.digest }), expected, 'by digest')
    t.match(await store.listReferrers(r, subject), [{ ...expected, annotations: { 'org.example.a': 'b' } }], 'as a referrer, with its annotations')
    t.match(await store.findManifest(r, { tag: tag('v1') }), expected, 'by tag')
    t.match(await store.findManifest(r, { tag: tag('latest') }), expected, 'by the other tag')
    t.ok((await store.getManifestBody(m.digest))?.equals(m.put.body), 'exact bytes')
    t.same(await store.listTags(r, { limit: 10 }), ['latest', 'v1'])
    t.equal(await store.findManifest(repo('elsewhere'), { digest: m.digest }), undefined, 'only in its repository')
    t.match(await store.putManifest(m.put), { ok: true }, 'putting it again is fine')
  })

  t.test('putManifest says which tags moved and where they pointed before', async (t) => {
    const store = await makeStore(t)
    const r = repo('moves')
    const config = await blob(store, r, 3)
    const first = manifestPut(r, [ref(config, 3, 'config')], { tags: ['a', 'b'] })
    t.same(await store.putManifest(first.put), { ok: true, repositoryCreated: false, moved: [{ tag: 'a' }, { tag: 'b' }] }, 'new tags have no previous')
    t.same(await store.putManifest(first.put), { ok: true, repositoryCreated: false, moved: [] }, 'the same put again moves nothing')
    const second = manifestPut(r, [ref(config, 3, 'config')], { tags: ['b', 'c'] })
    t.same(await store.putManifest(second.put), { ok: true, repositoryCreated: false, moved: [{ tag: 'b', previous: first.digest }, { tag: 'c' }] })
  })

  t.test('a manifest without optional fields has none in its record', async (t) => {
    const store = await makeStore(t)
    const r = repo('plain')
    const config = await blob(store, r, 3)
    const m = manifestPut(r, [ref(config, 3, 'config')])
    t.match(await store.putManifest(m.put), { ok: true })
    const record = await store.findManifest(r, { digest: m.digest })
    t.match(record, { digest: m.digest, mediaType: OCI_MANIFEST, size: m.put.body.length })
    t.notOk(record !== undefined && 'artifactType' in record, 'no artifactType key')
    t.notOk(record !== undefined && 'annotations' in record, 'no annotations key')
    t.notOk(record !== undefined && 'subject' in record, 'no subject key')
  })

  t.test('putManifest with a missing reference refuses and changes nothing', async (t) => {
    const store = await makeStore(t)
    const r = repo('app')
    const config = await blob(store, r, 10)
    const missingLayer = randomDigest()
    const first = manifestPut(r, [ref(config, 10, 'config')], { tags: ['latest'] })
    await store.putManifest(first.put)
    const elsewhere = await blob(store, repo('other'), 50)
    const bad = manifestPut(r, [ref(config, 10, 'config'), ref(missingLayer, 20, 'layer'), ref(elsewhere, 50, 'layer')], { tags: ['latest', 'new'], subject: randomDigest() })
    const result = await store.putManifest(bad.put)
    t.equal(result.ok, false)
    if (!result.ok) {
      t.same(result.missing.map((m) => m.digest).sort(), [missingLayer, elsewhere].sort(), 'both the unknown and the other repository\'s blob are missing')
      t.same(result.sizeMismatch, [])
    }
    t.equal(await store.findManifest(r, { digest: bad.digest }), undefined, 'not stored')
    t.equal(await store.getManifestBody(bad.digest), undefined, 'no body stored')
    t.equal((await store.findManifest(r, { tag: tag('latest') }))?.digest, first.digest, 'tag did not move')
    t.equal(await store.findManifest(r, { tag: tag('new') }), undefined, 'no new tag')
    t.same(await store.listTags(r, { limit: 10 }), ['latest'])
    t.same(await store.listReferrers(r, bad.put.subject!), [], 'no referrer')
  })

  t.test('putManifest fromUpstream stores without its references and records when its tags were fetched', async (t) => {
    const store = await makeStore(t)
    const r = repo('docker.io/library/alpine')
    const missingConfig = randomDigest()
    const missingChild = randomDigest()
    const cached = manifestPut(r, [ref(missingConfig, 10, 'config'), ref(missingChild, 20, 'manifest')], { tags: ['latest'], now: 1000 })
    t.match(await store.putManifest({ ...cached.put, fromUpstream: { fetchedAt: 5000 } }), { ok: true, repositoryCreated: true }, 'stored though nothing it references is present')
    t.equal((await store.findManifest(r, { tag: tag('latest') }))?.digest, cached.digest)
    t.equal(await store.tagFetchedAt(r, tag('latest')), 5000)
    t.equal(await store.tagFetchedAt(r, tag('other')), undefined, 'a tag never fetched')
    await store.markTagFetched(r, tag('latest'), 9000)
    t.equal(await store.tagFetchedAt(r, tag('latest')), 9000, 'confirmed by the upstream later')
    await store.markTagFetched(r, tag('latest'), 7000)
    t.equal(await store.tagFetchedAt(r, tag('latest')), 9000, 'never goes back in time')
    const config = await blob(store, r, 10)
    const pushed = manifestPut(r, [ref(config, 10, 'config')], { tags: ['latest'] })
    t.match(await store.putManifest(pushed.put), { ok: true })
    t.equal(await store.tagFetchedAt(r, tag('latest')), undefined, 'a tag pushed here is no longer the upstream\'s')
    await store.putManifest({ ...cached.put, tags: [tag('v1')], fromUpstream: { fetchedAt: 6000 } })
    t.ok(await store.deleteTag(r, tag('v1')))
    t.equal(await store.tagFetchedAt(r, tag('v1')), undefined, 'deleting the tag forgets it')
    const unproxied = manifestPut(repo('plain'), [ref(randomDigest(), 10, 'config')], { tags: ['x'] })
    t.equal((await store.putManifest(unproxied.put)).ok, false, 'without fromUpstream references are still required')
  })

  t.test('putManifest with a size mismatch refuses and changes nothing', async (t) => {
    const store = await makeStore(t)
    const r = repo('sized')
    const config = await blob(store, r, 10)
    const m = manifestPut(r, [ref(config, 11, 'config')], { tags: ['t'] })
    const result = await store.putManifest(m.put)
    t.equal(result.ok, false)
    if (!result.ok) {
      t.same(result.missing, [])
      t.same(result.sizeMismatch.map((x) => x.digest), [config])
    }
    t.equal(await store.findManifest(r, { digest: m.digest }), undefined)
    t.same(await store.listTags(r, { limit: 10 }), [])
  })

  t.test('new repository: a refused manifest does not create it', async (t) => {
    const store = await makeStore(t)
    const m = manifestPut(repo('fresh'), [ref(randomDigest(), 1, 'config')], { tags: ['x'] })
    t.equal((await store.putManifest(m.put)).ok, false)
    t.equal(await store.repositoryExists(repo('fresh')), false)
    t.same(await store.listRepositories({ limit: 10 }), [])
  })

  t.test('external references are not checked', async (t) => {
    const store = await makeStore(t)
    const r = repo('win')
    const config = await blob(store, r, 10)
    const m = manifestPut(r, [ref(config, 10, 'config'), ref(randomDigest(), 999, 'external')])
    t.match(await store.putManifest(m.put), { ok: true })
  })

  t.test('index references: manifests must be manifests of the repository, blobs may be either', async (t) => {
    const store = await makeStore(t)
    const r = repo('multi')
    const config = await blob(store, r, 10)
    const child = manifestPut(r, [ref(config, 10, 'config')])
    await store.putManifest(child.put)
    const childSize = child.put.body.length
    const cacheBlob = await blob(store, r, 77)
    const index = manifestPut(r, [ref(child.digest, childSize, 'manifest', OCI_MANIFEST), ref(cacheBlob, 77, 'blob'), ref(child.digest, childSize, 'blob', OCI_MANIFEST)], { mediaType: OCI_INDEX, tags: ['idx'] })
    t.match(await store.putManifest(index.put), { ok: true })
    t.equal((await store.findManifest(r, { tag: tag('idx') }))?.mediaType, OCI_INDEX)

    const blobAsManifest = manifestPut(r, [ref(cacheBlob, 77, 'manifest', OCI_MANIFEST)], { mediaType: OCI_INDEX })
    const result = await store.putManifest(blobAsManifest.put)
    t.equal(result.ok, false, 'a blob does not satisfy a manifest reference')

    const otherRepo = repo('multi-other')
    await store.recordBlob(otherRepo, randomDigest(), 1)
    const crossRepo = manifestPut(otherRepo, [ref(child.digest, childSize, 'manifest', OCI_MANIFEST)], { mediaType: OCI_INDEX })
    const cross = await store.putManifest(crossRepo.put)
    t.equal(cross.ok, false, 'a manifest of another repository is missing')
    if (!cross.ok) t.same(cross.missing.map((m) => m.digest), [child.digest])

    const wrongSize = manifestPut(r, [ref(child.digest, childSize + 1, 'manifest', OCI_MANIFEST)], { mediaType: OCI_INDEX })
    const sized = await store.putManifest(wrongSize.put)
    t.equal(sized.ok, false, 'a manifest reference of the wrong size')
    if (!sized.ok) t.same(sized.sizeMismatch.map((m) => m.digest), [child.digest])
  })

  t.test('tags move to the newest manifest', async (t) => {
    const store = await makeStore(t)
    const r = repo('moving')
    const config = await blob(store, r, 10)
    const a = manifestPut(r, [ref(config, 10, 'config')], { tags: ['latest', 'a'] })
    const b = manifestPut(r, [ref(config, 10, 'config')], { tags: ['latest'], mediaType: OCI_INDEX })
    await store.putManifest(a.put)
    await store.putManifest(b.put)
    t.equal((await store.findManifest(r, { tag: tag('latest') }))?.digest, b.digest)
    t.equal((await store.findManifest(r, { tag: tag('latest') }))?.mediaType, OCI_INDEX)
    t.equal((await store.findManifest(r, { tag: tag('a') }))?.digest, a.digest)
    t.ok(await store.findManifest(r, { digest: a.digest }), 'the old manifest stays')
    await store.putManifest(a.put)
    t.equal((await store.findManifest(r, { tag: tag('latest') }))?.digest, a.digest, 'and back')
  })

  t.test('deleteManifest removes the manifest and every tag of it, and only those', async (t) => {
    const store = await makeStore(t)
    const r = repo('del')
    const config = await blob(store, r, 10)
    const a = manifestPut(r, [ref(config, 10, 'config')], { tags: ['a1', 'a2'] })
    const b = manifestPut(r, [ref(config, 10, 'config')], { tags: ['b1'] })
    await store.putManifest(a.put)
    await store.putManifest(b.put)
    // The same manifest in another repository is independent.
    await store.recordBlob(repo('del2'), config, 10)
    await store.putManifest({ ...a.put, repo: repo('del2') })
    t.same(await store.deleteManifest(r, a.digest), { status: 'deleted' })
    t.same(await store.deleteManifest(r, a.digest), { status: 'unknown' }, 'second time')
    t.equal(await store.findManifest(r, { digest: a.digest }), undefined)
    t.equal(await store.findManifest(r, { tag: tag('a1') }), undefined)
    t.same(await store.listTags(r, { limit: 10 }), ['b1'])
    t.equal((await store.findManifest(r, { tag: tag('b1') }))?.digest, b.digest)
    t.equal((await store.findManifest(repo('del2'), { tag: tag('a1') }))?.digest, a.digest, 'other repository untouched')
    t.same(await store.deleteManifest(repo('nothing'), randomDigest()), { status: 'unknown' })
  })

  t.test('deleteManifest refuses while an index of the repository references the manifest, and changes nothing', async (t) => {
    const store = await makeStore(t)
    const r = repo('held')
    const config = await blob(store, r, 10)
    const child = manifestPut(r, [ref(config, 10, 'config')], { tags: ['child'] })
    await store.putManifest(child.put)
    const size = child.put.body.length
    const index = manifestPut(r, [ref(child.digest, size, 'manifest', OCI_MANIFEST)], { mediaType: OCI_INDEX, tags: ['idx'] })
    const cache = manifestPut(r, [ref(child.digest, size, 'blob', OCI_MANIFEST)], { mediaType: OCI_INDEX })
    await store.putManifest(index.put)
    await store.putManifest(cache.put)
    t.same(await store.deleteManifest(r, child.digest), { status: 'referenced', referencedBy: [index.digest, cache.digest].sort() })
    t.ok(await store.findManifest(r, { digest: child.digest }), 'the child stays')
    t.same(await store.listTags(r, { limit: 10 }), ['child', 'idx'], 'with its tag')
    // The same manifest in another repository, where no index holds it, can go.
    await store.recordBlob(repo('free'), config, 10)
    await store.putManifest({ ...child.put, repo: repo('free') })
    t.same(await store.deleteManifest(repo('free'), child.digest), { status: 'deleted' })
    // Once the indexes are gone, so can the child.
    t.same(await store.deleteManifest(r, index.digest), { status: 'deleted' })
    t.same(await store.deleteManifest(r, cache.digest), { status: 'deleted' })
    t.same(await store.deleteManifest(r, child.digest), { status: 'deleted' })
  })

  t.test('unlinkBlob refuses while a manifest of the repository references the blob, and changes nothing', async (t) => {
    const store = await makeStore(t)
    const r = repo('pinned')
    const config = await blob(store, r, 10)
    const layer = await blob(store, r, 20)
    const m = manifestPut(r, [ref(config, 10, 'config'), ref(layer, 20, 'layer'), ref(randomDigest(), 5, 'external')], { tags: ['v1'] })
    await store.putManifest(m.put)
    t.same(await store.unlinkBlob(r, layer), { status: 'referenced', referencedBy: [m.digest] })
    t.same(await store.unlinkBlob(r, config), { status: 'referenced', referencedBy: [m.digest] })
    t.match(await store.getRepositoryBlob(r, layer), { digest: layer, size: 20 }, 'still linked')
    // In another repository the same blob is free to go: references never cross repositories.
    await store.linkBlob(repo('other'), layer)
    t.same(await store.unlinkBlob(repo('other'), layer), { status: 'deleted' })
    t.same(await store.deleteManifest(r, m.digest), { status: 'deleted' })
    t.same(await store.unlinkBlob(r, layer), { status: 'deleted' }, 'free once the manifest is gone')
  })

  t.test('deleteTag removes one tag and keeps the manifest', async (t) => {
    const store = await makeStore(t)
    const r = repo('tagdel')
    const config = await blob(store, r, 10)
    const a = manifestPut(r, [ref(config, 10, 'config')], { tags: ['x', 'y'] })
    await store.putManifest(a.put)
    t.equal(await store.deleteTag(r, tag('x')), true)
    t.equal(await store.deleteTag(r, tag('x')), false)
    t.same(await store.listTags(r, { limit: 10 }), ['y'])
    t.ok(await store.findManifest(r, { digest: a.digest }))
    t.equal(await store.deleteTag(r, tag('never')), false)
  })

  t.test('listTags pages in sorted order', async (t) => {
    const store = await makeStore(t)
    const r = repo('paged')
    const config = await blob(store, r, 10)
    const tags = ['v10', 'v2', 'latest', 'A-upper', 'v1', '0', 'v1.0', 'z_last', 'beta']
    const m = manifestPut(r, [ref(config, 10, 'config')], { tags })
    await store.putManifest(m.put)
    const sorted = [...tags].sort()
    t.same(await store.listTags(r, { limit: 100 }), sorted)
    const pages: string[][] = []
    let last: string | undefined
    for (;;) {
      const page = await store.listTags(r, { limit: 4, ...(last !== undefined ? { last } : {}) })
      if (page.length === 0) break
      pages.push(page)
      last = page[page.length - 1]
    }
    t.same(pages, [sorted.slice(0, 4), sorted.slice(4, 8), sorted.slice(8)])
    t.same(await store.listTags(r, { limit: 2, last: 'latest' }), sorted.filter((x) => x > 'latest').slice(0, 2), 'last is exclusive')
    t.same(await store.listTags(r, { limit: 10, last: 'zzz' }), [])
    t.same(await store.listTags(r, { limit: 10, last: 'm' }), sorted.filter((x) => x > 'm'), 'last need not be a tag')
    t.same(await store.listTags(repo('other'), { limit: 10 }), [], 'other repository has none')
  })

  t.test('listRepositories pages in sorted order', async (t) => {
    const store = await makeStore(t)
    const names = ['zeta', 'alpha/beta', 'alpha', 'alpha-x', 'm/n/o', 'b']
    for (const name of names) await blob(store, repo(name))
    const sorted = [...names].sort()
    t.same(await store.listRepositories({ limit: 100 }), sorted)
    t.same(await store.listRepositories({ limit: 2 }), sorted.slice(0, 2))
    t.same(await store.listRepositories({ limit: 2, last: sorted[1]! }), sorted.slice(2, 4))
    t.same(await store.listRepositories({ limit: 10, last: sorted[5]! }), [])
  })

  t.test('referrers of a subject, optionally of one artifactType', async (t) => {
    const store = await makeStore(t)
    const r = repo('refs')
    const config = await blob(store, r, 10)
    const subject = randomDigest()
    const sig = manifestPut(r, [ref(config, 10, 'config')], { subject, artifactType: 'application/vnd.example.sig', annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' }, now: 1000 })
    const sbom = manifestPut(r, [ref(config, 10, 'config')], { subject, artifactType: 'application/spdx+json', now: 2000 })
    const unrelated = manifestPut(r, [ref(config, 10, 'config')], { subject: randomDigest(), artifactType: 'application/vnd.example.sig', now: 3000 })
    for (const m of [sig, sbom, unrelated]) t.match(await store.putManifest(m.put), { ok: true })
    const all = await store.listReferrers(r, subject)
    t.same(all.map((x) => x.digest), [sig.digest, sbom.digest].sort(), 'both, in digest order')
    t.match(all.find((x) => x.digest === sig.digest), { digest: sig.digest, mediaType: OCI_MANIFEST, size: sig.put.body.length, artifactType: 'application/vnd.example.sig', subject, annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' } })
    t.same((await store.listReferrers(r, subject, 'application/spdx+json')).map((x) => x.digest), [sbom.digest])
    t.same(await store.listReferrers(r, subject, 'application/none'), [])
    t.same(await store.listReferrers(repo('elsewhere'), subject), [], 'referrers are per repository')
    t.same(await store.listReferrers(r, randomDigest()), [])
    await store.deleteManifest(r, sig.digest)
    t.same((await store.listReferrers(r, subject)).map((x) => x.digest), [sbom.digest], 'a deleted referrer goes')
  })

  t.test('sweepRepository deletes a planned tag only while it is unchanged since listAllTags', async (t) => {
    const store = await makeStore(t)
    const r = repo('retained')
    const config = await blob(store, r, 10)
    const m = manifestPut(r, [ref(config, 10, 'config')], { tags: ['same', 'moved', 'expired'], now: 1000 })
    await store.putManifest(m.put)
    const snapshot = await store.listAllTags()
    t.same(snapshot.map((x) => x.tag), ['expired', 'moved', 'same'])
    // Between the snapshot and the sweep: the same manifest is pushed again under 'same', within the
    // same millisecond, and 'moved' now names another manifest.
    await store.putManifest({ ...m.put, tags: [tag('same')], now: 1000 })
    const other = manifestPut(r, [ref(config, 10, 'config')], { tags: ['moved'], now: 1000 })
    await store.putManifest(other.put)
    const result = await store.sweepRepository({ repo: r, tags: snapshot, graceCutoff: 0, dryRun: false })
    t.same(result.tagsRemoved.map((x) => x.tag), ['expired'], 'only the tag nobody touched since the snapshot')
    t.same(await store.listTags(r, { limit: 10 }), ['moved', 'same'], 'the re-pushed tags stay')
    t.equal((await store.findManifest(r, { tag: tag('same') }))?.digest, m.digest)
    t.equal((await store.findManifest(r, { tag: tag('moved') }))?.digest, other.digest)
  })

  t.test('referrers in pages: limit, and after a digest', async (t) => {
    const store = await makeStore(t)
    const r = repo('refpages')
    const config = await blob(store, r, 10)
    const subject = randomDigest()
    const puts = Array.from({ length: 5 }, (_, i) => manifestPut(r, [ref(config, 10, 'config')], {
      subject, artifactType: i % 2 === 0 ? 'even' : 'odd', annotations: { 'org.example.n': String(i) }, now: 1000 + i,
    }))
    for (const m of puts) t.match(await store.putManifest(m.put), { ok: true })
    const sorted = puts.map((m) => m.digest).sort()
    const annotationsOf = new Map(puts.map((m, i) => [m.digest as string, { 'org.example.n': String(i) }]))
    const first = await store.listReferrers(r, subject, undefined, { limit: 2 })
    t.same(first.map((x) => x.digest), sorted.slice(0, 2), 'the first page')
    t.same(first.map((x) => x.annotations), sorted.slice(0, 2).map((d) => annotationsOf.get(d)), 'each with its annotations (from the body)')
    t.same((await store.listReferrers(r, subject, undefined, { limit: 2, last: sorted[1]! })).map((x) => x.digest), sorted.slice(2, 4), 'after the last of it')
    t.same((await store.listReferrers(r, subject, undefined, { limit: 2, last: sorted[4]! })), [], 'after the end')
    const even = puts.filter((_, i) => i % 2 === 0).map((m) => m.digest).sort()
    const evenPage = await store.listReferrers(r, subject, 'even', { limit: 2 })
    t.same(evenPage.map((x) => x.digest), even.slice(0, 2), 'filtered, then paged')
    t.same(evenPage.map((x) => x.annotations), even.slice(0, 2).map((d) => annotationsOf.get(d)), 'filtered pages keep the annotations')
    t.same((await store.listReferrers(r, subject, 'even', { limit: 2, last: even[1]! })).map((x) => x.digest), even.slice(2), 'filtered, next page')
  })

  t.test('listBlobRepositories: the repositories a blob is linked into, in name order, paged', async (t) => {
    const store = await makeStore(t)
    const digest = await blob(store, repo('c/three'), 9)
    await store.linkBlob(repo('a/one'), digest)
    await store.linkBlob(repo('b/two'), digest)
    await blob(store, repo('d/unrelated'))
    t.same(await store.listBlobRepositories(digest, { limit: 10 }), ['a/one', 'b/two', 'c/three'])
    t.same(await store.listBlobRepositories(digest, { limit: 2 }), ['a/one', 'b/two'], 'the first page')
    t.same(await store.listBlobRepositories(digest, { limit: 2, last: 'b/two' }), ['c/three'], 'after the last of it')
    t.same(await store.listBlobRepositories(randomDigest(), { limit: 10 }), [], 'an unknown blob is nowhere')
    t.equal((await store.unlinkBlob(repo('b/two'), digest)).status, 'deleted')
    t.same(await store.listBlobRepositories(digest, { limit: 10 }), ['a/one', 'c/three'], 'an unlinked repository no longer holds it')
  })

  t.test('upload sessions keep their owner', async (t) => {
    const store = await makeStore(t)
    await store.createUpload({ id: 'owned', repo: repo('up/load'), startedAt: 1, updatedAt: 1, owner: 'user:alice' })
    await store.createUpload({ id: 'unowned', repo: repo('up/load'), startedAt: 1, updatedAt: 1 })
    t.equal((await store.getUpload('owned'))?.owner, 'user:alice')
    t.equal((await store.getUpload('unowned'))?.owner, undefined, 'no owner stays none')
    t.same((await store.listUploads()).map((u) => [u.id, u.owner]).sort(), [['owned', 'user:alice'], ['unowned', undefined]], 'listed with their owners')
  })

  t.test('upload sessions', async (t) => {
    const store = await makeStore(t)
    const upload = { id: 'abc-123', repo: repo('up/load'), startedAt: 1000, updatedAt: 1000 }
    t.equal(await store.getUpload(upload.id), undefined)
    await store.createUpload(upload)
    t.match(await store.getUpload(upload.id), upload)
    await t.rejects(store.createUpload({ ...upload, repo: repo('other') }), 'an id is unique')
    t.same((await store.getUpload(upload.id))?.repo, 'up/load')
    await store.touchUpload(upload.id, 5000)
    t.match(await store.getUpload(upload.id), { ...upload, updatedAt: 5000 })
    await store.touchUpload('unknown', 5000)
    t.equal(await store.getUpload('unknown'), undefined, 'touching an unknown session creates nothing')
    t.equal(await store.repositoryExists(repo('up/load')), false, 'a session alone creates no repository')
    t.equal(await store.deleteUpload(upload.id), true)
    t.equal(await store.deleteUpload(upload.id), false)
    t.equal(await store.getUpload(upload.id), undefined)
  })

  runMaintenanceContract(t, makeStore)
  runNotificationQueueContract(t, makeStore)
}

const HOUR = 60 * 60 * 1000

/** MetadataMaintenance, and the serving methods the first part does not cover. */
function runMaintenanceContract(t: Test, makeStore: MetadataStoreFactory): void {
  t.test('getRepositoryBlob says when the link was last used; touchBlobLink moves it', async (t) => {
    const store = await makeStore(t)
    const before = Date.now()
    const d = await blob(store, repo('used'), 5)
    const record = await store.getRepositoryBlob(repo('used'), d)
    t.ok(record !== undefined && record.usedAt >= before && record.usedAt <= Date.now(), 'linked now')
    t.equal(await store.touchBlobLink(repo('used'), d, before + HOUR), true, 'a present link is touched')
    t.match(await store.getRepositoryBlob(repo('used'), d), { usedAt: before + HOUR })
    t.equal(await store.touchBlobLink(repo('elsewhere'), d, 1), false, 'a missing link says so')
    t.equal(await store.getRepositoryBlob(repo('elsewhere'), d), undefined, 'touching creates no link')
  })

  t.test('findManifestWithBody: the record and the exact bytes, by tag and by digest', async (t) => {
    const store = await makeStore(t)
    const r = repo('bodies')
    const config = await blob(store, r, 10)
    const m = manifestPut(r, [ref(config, 10, 'config')], { tags: ['v'] })
    await store.putManifest(m.put)
    for (const reference of [{ tag: tag('v') }, { digest: m.digest }]) {
      const found = await store.findManifestWithBody(r, reference)
      t.match(found?.record, { digest: m.digest, mediaType: OCI_MANIFEST, size: m.put.body.length })
      t.ok(found?.body.equals(m.put.body), 'exact bytes')
    }
    t.equal(await store.findManifestWithBody(r, { tag: tag('none') }), undefined)
    t.equal(await store.findManifestWithBody(repo('other'), { digest: m.digest }), undefined)
  })

  t.test('listUploads: sessions idle since before a time, oldest first; all without one', async (t) => {
    const store = await makeStore(t)
    for (const [id, updatedAt] of [['c', 300], ['a', 100], ['b', 200]] as const) await store.createUpload({ id, repo: repo('u'), startedAt: 1, updatedAt })
    t.same((await store.listUploads(250)).map((u) => u.id), ['a', 'b'])
    t.same((await store.listUploads()).map((u) => u.id), ['a', 'b', 'c'])
    t.same(await store.listUploads(50), [])
  })

  t.test('listAllTags: every tag of every repository with its manifest and last set time', async (t) => {
    const store = await makeStore(t)
    const config = await blob(store, repo('b'), 10)
    await store.linkBlob(repo('a'), config)
    const m = manifestPut(repo('b'), [ref(config, 10, 'config')], { tags: ['y', 'x'], now: 500 })
    await store.putManifest(m.put)
    await store.putManifest({ ...manifestPut(repo('a'), [ref(config, 10, 'config')], { tags: ['z'], now: 700 }).put })
    const all = await store.listAllTags()
    t.same(all.map((x) => `${x.repo}:${x.tag}`), ['a:z', 'b:x', 'b:y'], 'by repository, then tag')
    t.match(all[1], { repo: 'b', tag: 'x', digest: m.digest, updatedAt: 500 })
  })

  t.test('sweepRepository marks and sweeps: tags, index children, referrers, the grace period and the untagged cutoff; a dry run says exactly what the sweep then does', async (t) => {
    const store = await makeStore(t)
    const r = repo('swept')
    const old = Date.now() - 10 * HOUR
    const young = Date.now() + HOUR
    const c = await blob(store, r, 10)
    const [la, lk, lu, ly, lo] = [await blob(store, r, 1), await blob(store, r, 2), await blob(store, r, 3), await blob(store, r, 4), await blob(store, r, 5)]
    const tagged = manifestPut(r, [ref(c, 10, 'config'), ref(la, 1, 'layer')], { tags: ['a'], now: old })
    const child = manifestPut(r, [ref(c, 10, 'config'), ref(lk, 2, 'layer')], { now: old })
    const untagged = manifestPut(r, [ref(c, 10, 'config'), ref(lu, 3, 'layer')], { now: old })
    const recent = manifestPut(r, [ref(c, 10, 'config'), ref(ly, 4, 'layer')], { now: young })
    for (const m of [tagged, child, untagged, recent]) t.match(await store.putManifest(m.put), { ok: true })
    const index = manifestPut(r, [ref(child.digest, child.put.body.length, 'manifest', OCI_MANIFEST)], { mediaType: OCI_INDEX, tags: ['i'], now: old })
    const referrer = manifestPut(r, [ref(c, 10, 'config')], { subject: tagged.digest, artifactType: 'application/vnd.example.sig', now: old })
    for (const m of [index, referrer]) t.match(await store.putManifest(m.put), { ok: true })

    // Every link is older than the cutoff (used before now); the untagged cutoff is now too.
    const plan = { repo: r, tags: [], graceCutoff: Date.now() + 1, untaggedCutoff: Date.now() + 1 }
    const dry = await store.sweepRepository({ ...plan, dryRun: true })
    t.same(dry.manifestsRemoved.map((m) => m.digest), [untagged.digest], 'only the old untagged manifest')
    t.equal(dry.manifestsRemoved[0]?.size, untagged.put.body.length)
    t.same([...dry.linksRemoved].sort(), [lu, lo].sort(), 'its layer and the link nothing references')
    t.equal(dry.repositoryRemoved, false)
    t.ok(await store.findManifest(r, { digest: untagged.digest }), 'the dry run changed nothing')
    t.ok(await store.getRepositoryBlob(r, lo))
    const real = await store.sweepRepository({ ...plan, dryRun: false })
    t.same(real, dry, 'the sweep did exactly what the dry run said')
    t.equal(await store.findManifest(r, { digest: untagged.digest }), undefined)
    for (const m of [tagged, child, recent, index, referrer]) t.ok(await store.findManifest(r, { digest: m.digest }), 'kept')
    for (const d of [c, la, lk, ly]) t.ok(await store.getRepositoryBlob(r, d), 'referenced links kept')
    for (const d of [lu, lo]) t.equal(await store.getRepositoryBlob(r, d), undefined, 'unused links removed')
    t.same((await store.sweepRepository({ ...plan, dryRun: false })).manifestsRemoved, [], 'a second sweep finds nothing')

    // Without an untagged cutoff, untagged manifests are roots; a recent link survives the grace period.
    const r2 = repo('graced')
    const kept = manifestPut(r2, [ref(await blob(store, r2, 7), 7, 'config')], { now: old })
    await store.putManifest(kept.put)
    const loose = await blob(store, r2, 9)
    const graced = await store.sweepRepository({ repo: r2, tags: [], graceCutoff: Date.now() - HOUR, dryRun: false })
    t.same(graced, { tagsRemoved: [], manifestsRemoved: [], linksRemoved: [], repositoryRemoved: false })
    t.ok(await store.getRepositoryBlob(r2, loose), 'a link used within the grace period stays')
  })

  t.test('sweepRepository removes a repository it leaves empty (and the dry run says so)', async (t) => {
    const store = await makeStore(t)
    const r = repo('emptied')
    const m = manifestPut(r, [ref(await blob(store, r, 3), 3, 'config')], { now: 1 })
    await store.putManifest(m.put)
    const plan = { repo: r, tags: [], graceCutoff: Date.now() + 1, untaggedCutoff: Date.now() + 1 }
    t.equal((await store.sweepRepository({ ...plan, dryRun: true })).repositoryRemoved, true)
    t.equal(await store.repositoryExists(r), true)
    t.equal((await store.sweepRepository({ ...plan, dryRun: false })).repositoryRemoved, true)
    t.equal(await store.repositoryExists(r), false)
    t.same(await store.listRepositories({ limit: 10 }), [])
  })

  t.test('deleteOrphanManifestContents removes the bytes no repository holds, keeps the others', async (t) => {
    const store = await makeStore(t)
    const config = await blob(store, repo('one'), 3)
    await store.linkBlob(repo('two'), config)
    const gone = manifestPut(repo('one'), [ref(config, 3, 'config')])
    const shared = manifestPut(repo('one'), [ref(config, 3, 'config')])
    await store.putManifest(gone.put)
    await store.putManifest(shared.put)
    await store.putManifest({ ...shared.put, repo: repo('two') })
    await store.deleteManifest(repo('one'), gone.digest)
    await store.deleteManifest(repo('one'), shared.digest)
    t.equal(await store.deleteOrphanManifestContents(), 1)
    t.equal(await store.getManifestBody(gone.digest), undefined)
    t.ok(await store.getManifestBody(shared.digest), 'still held by the other repository')
    t.equal(await store.deleteOrphanManifestContents(), 0)
  })

  t.test('listUnlinkedBlobs pages the blob table; countBlobLinks; deleteBlobsIfUnlinked re-checks each blob', async (t) => {
    const store = await makeStore(t)
    const r = repo('blobs')
    const digests = [await blob(store, r, 1), await blob(store, r, 2), await blob(store, r, 3), await blob(store, r, 4), await blob(store, r, 5)]
    const unlinked = digests.slice(0, 3)
    for (const d of unlinked) await store.unlinkBlob(r, d)
    const found: string[] = []
    let pages = 0
    for (let after = ''; ; pages++) {
      const page = await store.listUnlinkedBlobs(after, 2, Date.now() + 1)
      found.push(...page.blobs.map((b) => b.digest))
      if (page.last === undefined) break
      after = page.last
    }
    t.same(found.sort(), [...unlinked].sort(), 'every unlinked blob, over pages')
    t.ok(pages >= 2, 'in pages of two records')
    t.same((await store.listUnlinkedBlobs('', 100, 0)).blobs, [], 'none created before the cutoff')
    await store.linkBlob(repo('other'), unlinked[0]!)
    t.same(await store.countBlobLinks([unlinked[0]!, unlinked[1]!, digests[3]!, randomDigest()]), [1, 0, 1, 0])
    const removed = await store.deleteBlobsIfUnlinked([...unlinked, digests[3]!])
    t.same(removed.map((b) => b.digest).sort(), [unlinked[1]!, unlinked[2]!].sort(), 'only the blobs still unlinked')
    t.equal(await store.getBlob(unlinked[1]!), undefined)
    t.ok(await store.getBlob(unlinked[0]!), 'linked again meanwhile: kept')
  })

  t.test('diskUsage: totals, shared bytes, per repository logical and exclusive bytes, per tag', async (t) => {
    const store = await makeStore(t)
    const layer = await blob(store, repo('x'), 100)
    await store.linkBlob(repo('y'), layer)
    const cx = await blob(store, repo('x'), 10)
    const cy = await blob(store, repo('y'), 20)
    const mx = manifestPut(repo('x'), [ref(cx, 10, 'config'), ref(layer, 100, 'layer')], { tags: ['v'] })
    const my = manifestPut(repo('y'), [ref(cy, 20, 'config'), ref(layer, 100, 'layer')], { tags: ['w'] })
    await store.putManifest(mx.put)
    await store.putManifest(my.put)
    const [sx, sy] = [mx.put.body.length, my.put.body.length]
    const usage = await store.diskUsage({ perTag: true })
    t.same(usage.blobs, { count: 3, bytes: 130 })
    t.same(usage.manifests, { count: 2, bytes: sx + sy })
    t.equal(usage.sharedBytes, 100)
    t.same(usage.repositories, [
      { name: 'x', logicalBytes: 110 + sx, exclusiveBytes: 10 + sx, tags: [{ tag: 'v', digest: mx.digest, bytes: 110 + sx }] },
      { name: 'y', logicalBytes: 120 + sy, exclusiveBytes: 20 + sy, tags: [{ tag: 'w', digest: my.digest, bytes: 120 + sy }] },
    ])
    t.notOk('tags' in ((await store.diskUsage({ perTag: false })).repositories[0] ?? {}), 'no per tag figures unless asked')
  })

  t.test('repositoryStorage: blobs and bytes per repository, the largest ones by name, the rest summed, distinct totals', async (t) => {
    const store = await makeStore(t)
    t.same(await store.repositoryStorage(2), { top: [], rest: { repositories: 0, blobs: 0, bytes: 0 }, repositories: 0, blobs: { count: 0, bytes: 0 } })
    const shared = await blob(store, repo('a'), 100)
    await store.linkBlob(repo('b'), shared)
    await blob(store, repo('a'), 5)
    await blob(store, repo('c'), 7)
    await blob(store, repo('d'), 1)
    await blob(store, repo('d'), 2)
    const storage = await store.repositoryStorage(2)
    t.same(storage.top, [{ name: 'a', blobs: 2, bytes: 105 }, { name: 'b', blobs: 1, bytes: 100 }], 'by bytes, largest first')
    t.same(storage.rest, { repositories: 2, blobs: 3, bytes: 10 }, 'c and d summed')
    t.equal(storage.repositories, 4)
    t.same(storage.blobs, { count: 5, bytes: 115 }, 'the shared blob counts once')
    t.same((await store.repositoryStorage(10)).top.map((r) => r.name), ['a', 'b', 'c', 'd'])
    t.same((await store.repositoryStorage(0)).rest, { repositories: 4, blobs: 6, bytes: 215 })
  })

  t.test('fsck reads and repairs: listBlobRecords, listManifestContents, findDanglingRows, forgetBlobs, removeDanglingRows', async (t) => {
    const store = await makeStore(t)
    const r = repo('checked')
    const config = await blob(store, r, 10)
    const layer = await blob(store, r, 20)
    const m = manifestPut(r, [ref(config, 10, 'config'), ref(layer, 20, 'layer')], { tags: ['v'] })
    await store.putManifest(m.put)
    t.same(await store.listBlobRecords(), [{ digest: config, size: 10 }, { digest: layer, size: 20 }].sort((a, b) => (a.digest < b.digest ? -1 : 1)))
    const contents = await store.listManifestContents('', 10)
    t.same(contents.map((c) => c.digest), [m.digest])
    t.ok(contents[0]?.body.equals(m.put.body))
    t.same(await store.listManifestContents(m.digest, 10), [], 'pages after the given digest')
    t.same(await store.findDanglingRows(), { linksWithoutBlob: [], tagsWithoutManifest: [], missingReferences: [] }, 'a consistent store')
    await store.forgetBlobs([layer])
    t.equal(await store.getBlob(layer), undefined, 'the record is gone')
    t.equal(await store.getRepositoryBlob(r, layer), undefined, 'with its links')
    t.same((await store.findDanglingRows()).missingReferences, [{ repo: 'checked', manifest: m.digest, child: layer, kind: 'layer' }])
    t.same(await store.removeDanglingRows(), { links: 0, tags: 0 }, 'references are reported, not removed')
  })

  t.test('a manifest PUT and a sweep never see half of each other', async (t) => {
    const store = await makeStore(t)
    const r = repo('atomic')
    const config = await blob(store, r, 10)
    for (let i = 0; i < 20; i++) {
      // An old untagged child, and a tagged index referencing it put while a sweep collects untagged manifests.
      const child = manifestPut(r, [ref(config, 10, 'config')], { now: 1 })
      await store.putManifest(child.put)
      const index = manifestPut(r, [ref(child.digest, child.put.body.length, 'manifest', OCI_MANIFEST)], { mediaType: OCI_INDEX, tags: [`i${i}`] })
      const sweep = (): Promise<unknown> => store.sweepRepository({ repo: r, tags: [], graceCutoff: 2, untaggedCutoff: Date.now() + 1, dryRun: false })
      // Issued in the same turn, in either order.
      let put: Promise<{ ok: boolean }>
      let swept: Promise<unknown>
      if (i % 2 === 0) { put = store.putManifest(index.put); swept = sweep() } else { swept = sweep(); put = store.putManifest(index.put) }
      const [result] = await Promise.all([put, swept])
      const childThere = await store.findManifest(r, { digest: child.digest }) !== undefined
      if (result.ok) t.ok(childThere, `round ${i}: the index was stored, so its child stayed`)
      else t.notOk(childThere, `round ${i}: the child was swept first, so the index was refused`)
      t.same((await store.findDanglingRows()).missingReferences, [], `round ${i}: no stored manifest points at nothing`)
    }
  })

  t.test('after close, calls are refused', async (t) => {
    const store = await makeStore(t)
    await store.close()
    await t.rejects(store.recordBlob(repo('closed'), randomDigest(), 1))
  })
}

/** NotificationQueue: per-endpoint order, delivery, failures and backoff, what a restart finds. */
function runNotificationQueueContract(t: Test, makeStore: MetadataStoreFactory): void {
  t.test('notification queue: entries come back per endpoint, in enqueue order, across enqueues', async (t) => {
    const store = await makeStore(t)
    t.same(await store.nextNotifications('a', 10), [])
    await store.enqueueNotifications([{ endpoint: 'a', event: '{"n":1}' }, { endpoint: 'b', event: '{"n":1}' }, { endpoint: 'a', event: '{"n":2}' }], 1000)
    await store.enqueueNotifications([{ endpoint: 'a', event: '{"n":3}' }], 2000)
    await store.enqueueNotifications([], 3000)
    const a = await store.nextNotifications('a', 10)
    t.same(a.map((e) => e.event), ['{"n":1}', '{"n":2}', '{"n":3}'])
    t.same(a.map((e) => e.enqueuedAt), [1000, 1000, 2000])
    t.ok(a[0]!.id < a[1]!.id && a[1]!.id < a[2]!.id, 'ids grow in enqueue order')
    t.same((await store.nextNotifications('a', 2)).map((e) => e.event), ['{"n":1}', '{"n":2}'], 'limit takes the oldest')
    t.same((await store.nextNotifications('b', 10)).map((e) => e.event), ['{"n":1}'])
    t.match(await store.notificationState('a'), { endpoint: 'a', pending: 3, oldestPendingAt: 1000, delivered: 0, failedAttempts: 0, consecutiveFailures: 0, nextAttemptAt: 0 })
  })

  t.test('notification queue: delivered entries leave only their endpoint\'s queue and are counted', async (t) => {
    const store = await makeStore(t)
    await store.enqueueNotifications([{ endpoint: 'a', event: 'x1' }, { endpoint: 'a', event: 'x2' }, { endpoint: 'b', event: 'y1' }], 1000)
    const [first, second] = await store.nextNotifications('a', 10)
    const [other] = await store.nextNotifications('b', 10)
    // An id of another endpoint's entry removes nothing there.
    await store.markNotificationsDelivered('a', [first!.id, other!.id], 5000)
    t.same((await store.nextNotifications('a', 10)).map((e) => e.event), ['x2'])
    t.same((await store.nextNotifications('b', 10)).map((e) => e.event), ['y1'])
    const state = await store.notificationState('a')
    t.match(state, { pending: 1, oldestPendingAt: 1000, delivered: 1, lastSuccessAt: 5000 })
    await store.markNotificationsDelivered('a', [second!.id, second!.id], 6000)
    const empty = await store.notificationState('a')
    t.match(empty, { pending: 0, delivered: 2, lastSuccessAt: 6000 })
    t.equal(empty.oldestPendingAt, undefined)
  })

  t.test('notification queue: failures count, keep the entries, set the next attempt; a success clears the streak', async (t) => {
    const store = await makeStore(t)
    await store.enqueueNotifications([{ endpoint: 'a', event: 'x1' }], 1000)
    t.equal(await store.recordNotificationFailure('a', { error: 'connection refused', at: 2000, nextAttemptAt: 3000 }), 1)
    t.equal(await store.recordNotificationFailure('a', { error: 'HTTP 500', at: 3000, nextAttemptAt: 5000 }), 2)
    t.match(await store.notificationState('a'), {
      pending: 1, failedAttempts: 2, consecutiveFailures: 2, nextAttemptAt: 5000, lastError: 'HTTP 500', lastErrorAt: 3000,
    })
    t.equal((await store.notificationState('a')).lastSuccessAt, undefined)
    const [entry] = await store.nextNotifications('a', 1)
    await store.markNotificationsDelivered('a', [entry!.id], 6000)
    t.match(await store.notificationState('a'), {
      pending: 0, delivered: 1, failedAttempts: 2, consecutiveFailures: 0, nextAttemptAt: 0, lastError: 'HTTP 500', lastSuccessAt: 6000,
    })
    t.equal(await store.recordNotificationFailure('a', { error: 'timeout', at: 7000, nextAttemptAt: 8000 }), 1, 'a new streak')
    t.match(await store.notificationState('never-seen'), { endpoint: 'never-seen', pending: 0, delivered: 0, failedAttempts: 0, consecutiveFailures: 0, nextAttemptAt: 0 })
  })

  t.test('notification queue: ids are never reused after the queue empties', async (t) => {
    const store = await makeStore(t)
    await store.enqueueNotifications([{ endpoint: 'a', event: 'x1' }], 1000)
    const [first] = await store.nextNotifications('a', 1)
    await store.markNotificationsDelivered('a', [first!.id], 1000)
    await store.enqueueNotifications([{ endpoint: 'a', event: 'x2' }], 2000)
    const [next] = await store.nextNotifications('a', 1)
    t.ok(next!.id > first!.id)
  })
}
