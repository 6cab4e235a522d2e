import { createHash, randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import type { ManifestPut, MetadataStore } from '../../src/metadata/metadata-store.js'
import type { Digest } from '../../src/oci/digest.js'
import type { ManifestReference } from '../../src/oci/manifest.js'
import type { RepoName, Tag } from '../../src/oci/names.js'

/** The behaviour every MetadataStore backend must have. `makeStore` opens a fresh, empty store and registers its cleanup on `t`. */
export type MetadataStoreFactory = (t: Test) => Promise<MetadataStore>

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
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, nonce: randomBytes(8).toString('hex'), references }))
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
async function blob(store: MetadataStore, repoName: RepoName, size = 100): Promise<Digest> {
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
    t.same(await store.putManifest(m.put), { ok: true, repositoryCreated: true })
    t.same(await store.putManifest(m.put), { ok: true, repositoryCreated: false })
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
    t.equal(await store.unlinkBlob(repo('a'), digest), true)
    t.equal(await store.unlinkBlob(repo('a'), digest), false, 'second time')
    t.equal(await store.getRepositoryBlob(repo('a'), digest), undefined)
    t.match(await store.getRepositoryBlob(repo('b'), digest), { digest, size: 9 }, 'other repository keeps it')
    t.match(await store.getBlob(digest), { digest, size: 9 }, 'the record stays')
    t.equal(await store.unlinkBlob(repo('c'), randomDigest()), false)
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
    const expected = { digest: m.digest, mediaType: OCI_MANIFEST, size: m.put.body.length, artifactType: 'application/vnd.example+json', subject, annotations: { 'org.example.a': 'b' } }
    t.match(await store.findManifest(r, { digest: m.digest }), expected, 'by digest')
    t.match(await store.findManifest(r, { tag: tag('v1') }), expected, 'by tag')
    t.match(await store.findManifest(r, { tag: tag('latest') }), expected, 'by the other tag')
    t.ok((await store.getManifestBody(m.digest))?.equals(m.put.body), 'exact bytes')
    t.same(await store.listTags(r, { limit: 10 }), ['latest', 'v1'])
    t.equal(await store.findManifest(repo('elsewhere'), { digest: m.digest }), undefined, 'only in its repository')
    t.match(await store.putManifest(m.put), { ok: true }, 'putting it again is fine')
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
    t.equal(await store.deleteManifest(r, a.digest), true)
    t.equal(await store.deleteManifest(r, a.digest), false, 'second time')
    t.equal(await store.findManifest(r, { digest: a.digest }), undefined)
    t.equal(await store.findManifest(r, { tag: tag('a1') }), undefined)
    t.same(await store.listTags(r, { limit: 10 }), ['b1'])
    t.equal((await store.findManifest(r, { tag: tag('b1') }))?.digest, b.digest)
    t.equal((await store.findManifest(repo('del2'), { tag: tag('a1') }))?.digest, a.digest, 'other repository untouched')
    t.equal(await store.deleteManifest(repo('nothing'), randomDigest()), false)
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

  t.test('referrers in pages: limit, and after a digest', async (t) => {
    const store = await makeStore(t)
    const r = repo('refpages')
    const config = await blob(store, r, 10)
    const subject = randomDigest()
    const puts = Array.from({ length: 5 }, (_, i) => manifestPut(r, [ref(config, 10, 'config')], { subject, artifactType: i % 2 === 0 ? 'even' : 'odd', now: 1000 + i }))
    for (const m of puts) t.match(await store.putManifest(m.put), { ok: true })
    const sorted = puts.map((m) => m.digest).sort()
    t.same((await store.listReferrers(r, subject, undefined, { limit: 2 })).map((x) => x.digest), sorted.slice(0, 2), 'the first page')
    t.same((await store.listReferrers(r, subject, undefined, { limit: 2, last: sorted[1]! })).map((x) => x.digest), sorted.slice(2, 4), 'after the last of it')
    t.same((await store.listReferrers(r, subject, undefined, { limit: 2, last: sorted[4]! })), [], 'after the end')
    const even = puts.filter((_, i) => i % 2 === 0).map((m) => m.digest).sort()
    t.same((await store.listReferrers(r, subject, 'even', { limit: 2 })).map((x) => x.digest), even.slice(0, 2), 'filtered, then paged')
    t.same((await store.listReferrers(r, subject, 'even', { limit: 2, last: even[1]! })).map((x) => x.digest), even.slice(2), 'filtered, next page')
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
}
