import t from 'tap'
import { blobPath, configBlob, exists, makeBlob, type Manifest, type RegistryClient, removalsOf, sleep, startGcServer } from '../support/index.js'

/** Pushes one small image per tag, in order, a few ms apart so "most recently pushed" is well defined. */
async function pushTags(c: RegistryClient, repo: string, tags: readonly string[]): Promise<Map<string, Manifest>> {
  const out = new Map<string, Manifest>()
  for (const tag of tags) {
    out.set(tag, (await c.pushImage(repo, { tag: tag, config: configBlob({ tag }), layers: [makeBlob(200)] })).manifest)
    await sleep(3)
  }
  return out
}

t.test('retention policies: keepLast, maxAgeSeconds, keepTags, first match wins, dry run lists exactly what goes', async (t) => {
  const s = await startGcServer({
    graceSeconds: 0,
    retention: [
      { repositories: 'keep/special', keepLast: 3 },
      { repositories: 'keep/**', keepLast: 1 },
      { repositories: 'age/*', maxAgeSeconds: 0 },
      { repositories: 'prot/*', maxAgeSeconds: 0, keepTags: 'v*' },
      { repositories: 'mix/*', keepLast: 1, keepTags: 'v*' },
      { repositories: 'untag/*', keepLast: 1, untaggedMaxAgeSeconds: 0 },
    ],
  })
  t.teardown(() => s.stop(true))
  const c = s.client
  const five = ['t1', 't2', 't3', 't4', 't5']
  await pushTags(c, 'keep/special', five)
  const other = await pushTags(c, 'keep/other', five)
  await pushTags(c, 'keep/deep/x', ['a', 'b', 'c'])
  const age = await pushTags(c, 'age/a', ['x', 'y', 'z'])
  await pushTags(c, 'age/b/c', ['x', 'y'])
  await pushTags(c, 'prot/a', ['v1', 'v2.0', 'latest', 'dev'])
  await pushTags(c, 'mix/a', ['v1', 'a', 'v2', 'b', 'c'])
  const untag = await pushTags(c, 'untag/a', ['u1', 'u2', 'u3'])
  await pushTags(c, 'free/a', five)
  // Re-pushing t1 of keep/other (same manifest) makes it the most recently pushed tag there.
  await c.pushManifest('keep/other', 't1', other.get('t1')!)
  await sleep(5)

  const expected = [
    'keep/special:t1', 'keep/special:t2',
    'keep/other:t2', 'keep/other:t3', 'keep/other:t4', 'keep/other:t5',
    'keep/deep/x:a', 'keep/deep/x:b',
    'age/a:x', 'age/a:y', 'age/a:z',
    'prot/a:dev', 'prot/a:latest',
    'mix/a:a', 'mix/a:b',
    'untag/a:u1', 'untag/a:u2',
  ].sort()
  const names = (r: { tagsRemoved: Array<{ repo: string; tag: string }> }): string[] => r.tagsRemoved.map((x) => `${x.repo}:${x.tag}`).sort()

  const tagsBefore = await Promise.all(['keep/special', 'age/a', 'prot/a'].map((r) => c.tags(r)))
  const dry = await c.gc(true)
  t.same(names(dry), expected, 'dry run lists exactly the expected tags')
  t.same(await Promise.all(['keep/special', 'age/a', 'prot/a'].map((r) => c.tags(r))), tagsBefore, 'the dry run removed no tag')
  const real = await c.gc()
  t.same(names(real), names(dry), 'the real run removed exactly the tags the dry run listed')
  t.same(removalsOf(real), removalsOf(dry), 'and everything else the dry run listed')

  t.same(await c.tags('keep/special'), ['t3', 't4', 't5'], 'keepLast 3 (first matching policy wins over keep/**)')
  t.same(await c.tags('keep/other'), ['t1'], 'keepLast 1: the re-pushed tag is the most recent')
  t.same(await c.tags('keep/deep/x'), ['c'], '"**" crosses "/"')
  t.same(await c.tags('age/a'), [], 'maxAgeSeconds 0 expires every tag')
  t.same(await c.tags('age/b/c'), ['x', 'y'], '"*" does not cross "/": no policy applies')
  t.same(await c.tags('prot/a'), ['v1', 'v2.0'], 'keepTags v* protects v1 and v2.0 from maxAgeSeconds')
  t.same(await c.tags('mix/a'), ['c', 'v1', 'v2'], 'protected tags do not count towards keepLast')
  t.same(await c.tags('free/a'), five, 'repositories without a policy are untouched')
  t.same(await c.tags('untag/a'), ['u3'])

  // Without untaggedMaxAgeSeconds the manifests of expired tags stay, untagged.
  for (const m of age.values()) t.equal((await c.getManifest('age/a', m.digest)).status, 200, 'expired tag: manifest kept untagged by default')
  // With it, they go with their blobs.
  for (const tag of ['u1', 'u2']) {
    const m = untag.get(tag)!
    t.equal((await c.getManifest('untag/a', m.digest)).status, 404, `untag/a:${tag} manifest collected`)
    t.ok(real.manifestsRemoved.some((x) => x.digest === m.digest))
  }
  const removedFiles = await Promise.all(real.blobsRemoved.map((b) => exists(blobPath(s.storage, b.digest))))
  t.ok(real.blobsRemoved.length === 4 && removedFiles.every((e) => !e), 'the two collected images\' four blobs are gone from disk')
  t.equal((await c.getManifest('untag/a', 'u3')).status, 200)

  const again = await c.gc()
  t.same(again.tagsRemoved, [], 'a second run removes nothing more')
  t.same(c.serverErrorResponses, [])
})

t.test('maxAgeSeconds keeps a tag younger than the limit', async (t) => {
  const s = await startGcServer({ graceSeconds: 0, retention: [{ repositories: '**', maxAgeSeconds: 60 }] })
  t.teardown(() => s.stop(true))
  await pushTags(s.client, 'young/a', ['now'])
  const r = await s.client.gc()
  t.same(r.tagsRemoved, [], 'a tag younger than maxAgeSeconds is kept')
  t.same(await s.client.tags('young/a'), ['now'])
})
