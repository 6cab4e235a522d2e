// Replays of the request sequences BuildKit v0.24 made against the reference registry
// (/work/shared/buildkit-requests.md): single- and multi-platform pushes, provenance attestation
// indexes, OCI / Docker / zstd media types, all three registry cache formats with a round trip,
// mounts, HEAD-before-PUT, a fresh builder pulling, a tag moving from a manifest to an index, and
// two builders pushing one tag at the same time for 20 rounds. Each replay checks the statuses
// against the recording and then reads everything back as a fresh client would.
import t from 'tap'
import { BuildkitReplay, countsOf, expand } from './helpers/buildkit.js'
import { uniqueSuffix, type Tap } from './helpers/env.js'
import { gzipLayer, newSalt } from './helpers/fixtures.js'
import { type Blob, type Content, type ImageContent, type IndexContent, jsonBytes, makeBlob, makeImage, makeIndex, MediaTypes, type Platform, RegistryClient, sameContent } from '../test/support/index.js'
import { startTarget } from './helpers/target.js'

const target = await startTarget()
t.teardown(() => target.stop())
const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
const runId = uniqueSuffix()
const salt = newSalt()
const repo = (name: string): string => `conformance/buildkit-${runId}/${name}`

type Types = { manifest: string; index: string; config: string; layer: string }
const OCI: Types = { manifest: MediaTypes.ociManifest, index: MediaTypes.ociIndex, config: MediaTypes.ociConfig, layer: MediaTypes.ociLayer }
const DOCKER: Types = { manifest: MediaTypes.dockerManifest, index: MediaTypes.dockerManifestList, config: MediaTypes.dockerConfig, layer: MediaTypes.dockerLayer }
const AMD64: Platform = { architecture: 'amd64', os: 'linux' }
const ARM64: Platform = { architecture: 'arm64', os: 'linux' }

let counter = 0
function layer(types: Types, label: string): { blob: Blob; diffId: string } {
  const { layer: blob, diffId } = gzipLayer(types.layer, [{ name: `layer-${label}.txt`, type: 'file', data: Buffer.from(`${salt} ${label} ${counter++}\n`) }])
  return { blob, diffId }
}

/** zstd frame(s) with raw blocks: valid zstd without a zstd library (Node 20 has none). */
function zstdRaw(data: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0]), Buffer.alloc(4)]
  parts[1]!.writeUInt32LE(data.length)
  const max = 128 * 1024
  for (let off = 0; off === 0 || off < data.length; off += max) {
    const chunk = data.subarray(off, Math.min(data.length, off + max))
    const last = off + max >= data.length ? 1 : 0
    const header = (chunk.length << 3) | last
    parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]), chunk)
  }
  return Buffer.concat(parts)
}

function image(types: Types, platform: Platform, layers: ReadonlyArray<{ blob: Blob; diffId: string }>, label: string): ImageContent {
  const config = makeBlob(jsonBytes({
    architecture: platform.architecture, os: platform.os, config: { Labels: { label, salt } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  }), { mediaType: types.config })
  return makeImage(types.manifest, config, layers.map((l) => l.blob), { platform })
}

const ATTESTATION_CONFIG = (): Blob => makeBlob(jsonBytes({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: [] }, salt }), { mediaType: MediaTypes.ociConfig })

/** BuildKit's provenance attestation manifest for `subject`. */
function attestation(subject: ImageContent): ImageContent {
  const statement = { ...makeBlob(jsonBytes({ _type: 'https://in-toto.io/Statement/v0.1', subject: [{ digest: { sha256: subject.manifest.digest.slice(7) } }], salt }), { mediaType: MediaTypes.inToto }),
    annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' } }
  return makeImage(MediaTypes.ociManifest, ATTESTATION_CONFIG(), [statement], { platform: { architecture: 'unknown', os: 'unknown' } })
}

function withAttestations(images: readonly ImageContent[]): IndexContent {
  const atts = images.map(attestation)
  const annotations = new Map<Content, Record<string, string>>()
  images.forEach((img, i) => annotations.set(atts[i]!, { 'vnd.docker.reference.digest': img.manifest.digest, 'vnd.docker.reference.type': 'attestation-manifest' }))
  return makeIndex(MediaTypes.ociIndex, [...images, ...atts], { childAnnotations: annotations })
}

/** Statuses and patterns the replay made, compared with the recording (as counts, or in order). */
function assertRecording(t: Tap, replay: BuildkitReplay, expected: readonly string[], ordered: boolean): void {
  if (ordered) t.same(replay.log, expand(expected), 'same requests and statuses, in the same order, as the recording')
  else t.same(Object.fromEntries([...replay.counts()].sort()), Object.fromEntries([...countsOf(expected)].sort()), 'same request patterns and statuses as the recording')
}

async function assertReadBack(t: Tap, r: string, tag: string, content: Content): Promise<void> {
  const pulled = await reg.pullVerified(r, tag)
  t.same(sameContent(pulled, content), [], `${tag}: a fresh client pulls exactly what was pushed`)
}

/** Puts base images in a separate repository (not part of the recording) for mounts and FROM. */
async function seedBase(name: string, content: Content, tag = 'latest'): Promise<string> {
  const r = repo(name)
  await reg.pushContent(r, tag, content)
  return r
}

const B = (s: string): string => s.replace('PUTB', 'PUT /v2/<name>/blobs/uploads/<upload-id>?digest=<digest>')

await t.test('s1: single-platform push (Docker media types), then a second tag', { timeout: 60_000 }, async (t) => {
  const replay = new BuildkitReplay(target.url)
  const img = image(DOCKER, AMD64, [layer(DOCKER, 's1')], 's1')
  await replay.pushContent(repo('s1'), 'latest', img)
  await replay.pushContent(repo('s1'), 'second', img)
  assertRecording(t, replay, [
    '2x HEAD /v2/<name>/blobs/<digest> -> 404', '2x POST /v2/<name>/blobs/uploads/ -> 202', B('2x PUTB -> 201'),
    'HEAD /v2/<name>/manifests/<tag> -> 404', 'PUT /v2/<name>/manifests/<tag> -> 201',
    '2x HEAD /v2/<name>/blobs/<digest> -> 200', 'HEAD /v2/<name>/manifests/<tag> -> 404', 'PUT /v2/<name>/manifests/<tag> -> 201',
  ].map(B), true)
  await assertReadBack(t, repo('s1'), 'latest', img)
  await assertReadBack(t, repo('s1'), 'second', img)
})

await t.test('HEAD-before-PUT: an unchanged manifest is not PUT again', { timeout: 60_000 }, async (t) => {
  const img = image(DOCKER, AMD64, [layer(DOCKER, 'same')], 'same')
  await new BuildkitReplay(target.url).pushContent(repo('same'), 'latest', img)
  const replay = new BuildkitReplay(target.url)
  await replay.pushContent(repo('same'), 'latest', img)
  assertRecording(t, replay, ['2x HEAD /v2/<name>/blobs/<digest> -> 200', 'HEAD /v2/<name>/manifests/<tag> -> 200'], true)
  await assertReadBack(t, repo('same'), 'latest', img)
})

await t.test('s2: multi-platform index', { timeout: 60_000 }, async (t) => {
  const replay = new BuildkitReplay(target.url)
  const index = makeIndex(OCI.index, [image(OCI, AMD64, [layer(OCI, 's2a')], 's2a'), image(OCI, ARM64, [layer(OCI, 's2b')], 's2b')])
  await replay.pushContent(repo('s2'), 'multi', index)
  assertRecording(t, replay, [
    '4x HEAD /v2/<name>/blobs/<digest> -> 404', '4x POST /v2/<name>/blobs/uploads/ -> 202', B('4x PUTB -> 201'),
    'HEAD /v2/<name>/manifests/<digest> -> 404', 'PUT /v2/<name>/manifests/<digest> -> 201',
    'HEAD /v2/<name>/manifests/<digest> -> 404', 'PUT /v2/<name>/manifests/<digest> -> 201',
    'HEAD /v2/<name>/manifests/<tag> -> 404', 'PUT /v2/<name>/manifests/<tag> -> 201',
  ].map(B), false)
  await assertReadBack(t, repo('s2'), 'multi', index)
})

await t.test('s3: multi-platform with provenance attestations (mode=max), mounting base layers', { timeout: 60_000 }, async (t) => {
  const baseAmd = [layer(OCI, 'base-amd-1'), layer(OCI, 'base-amd-2')]
  const baseArm = [layer(OCI, 'base-arm')]
  const baseRepo = await seedBase('s3-base', makeIndex(OCI.index, [image(OCI, AMD64, baseAmd, 'base'), image(OCI, ARM64, baseArm, 'base')]))
  const index = withAttestations([image(OCI, AMD64, baseAmd, 's3'), image(OCI, ARM64, baseArm, 's3')])
  const mounts = new Map([...baseAmd, ...baseArm].map((l) => [l.blob.digest, baseRepo]))
  const replay = new BuildkitReplay(target.url)
  await replay.pushContent(repo('s3'), 'multi', index, mounts)
  assertRecording(t, replay, [
    '8 HEAD /v2/<name>/blobs/<digest> -> 404', '4 HEAD /v2/<name>/manifests/<digest> -> 404', '1 HEAD /v2/<name>/manifests/<tag> -> 404',
    '5 POST /v2/<name>/blobs/uploads/ -> 202', '3 POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<name> -> 201', B('5 PUTB -> 201'),
    '4 PUT /v2/<name>/manifests/<digest> -> 201', '1 PUT /v2/<name>/manifests/<tag> -> 201',
  ].map((l) => l.replace(/^(\d+) /, '$1x ')).map(B), false)
  await assertReadBack(t, repo('s3'), 'multi', index)
  const served = JSON.parse((await reg.get(`/v2/${repo('s3')}/manifests/multi`, { Accept: MediaTypes.ociIndex })).text()) as { manifests: Array<{ platform: Platform; annotations?: Record<string, string> }> }
  t.same(served.manifests.filter((m) => m.platform.architecture === 'unknown').map((m) => m.annotations?.['vnd.docker.reference.type']),
    ['attestation-manifest', 'attestation-manifest'], 'attestation entries keep platform unknown/unknown and their annotations')
})

await t.test('s3b: single platform with default provenance (min)', { timeout: 60_000 }, async (t) => {
  const base = [layer(OCI, 'base-3b')]
  const baseRepo = await seedBase('s3b-base', image(OCI, AMD64, base, 'base'))
  const index = withAttestations([image(OCI, AMD64, base, 's3b')])
  const replay = new BuildkitReplay(target.url)
  await replay.pushContent(repo('s3b'), 'latest', index, new Map([[base[0]!.blob.digest, baseRepo]]))
  assertRecording(t, replay, [
    '4x HEAD /v2/<name>/blobs/<digest> -> 404', '2x HEAD /v2/<name>/manifests/<digest> -> 404', 'HEAD /v2/<name>/manifests/<tag> -> 404',
    '3x POST /v2/<name>/blobs/uploads/ -> 202', 'POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<name> -> 201', B('3x PUTB -> 201'),
    '2x PUT /v2/<name>/manifests/<digest> -> 201', 'PUT /v2/<name>/manifests/<tag> -> 201',
  ].map(B), false)
  await assertReadBack(t, repo('s3b'), 'latest', index)
})

for (const [id, name, types] of [['s4', 's4: OCI media types', OCI], ['s4b', 's4b: Docker media types', DOCKER]] as const) {
  await t.test(`${name}, two images mounting base layers`, { timeout: 60_000 }, async (t) => {
    const base = [layer(types, `${name}-base-1`), layer(types, `${name}-base-2`)]
    const baseRepo = await seedBase(`${id}-base`, image(types, AMD64, base, 'base'))
    const mounts = new Map(base.map((l) => [l.blob.digest, baseRepo]))
    const replay = new BuildkitReplay(target.url)
    const pushed: Array<[string, Content]> = []
    for (const which of ['x', 'y']) {
      const index = makeIndex(types.index, [image(types, AMD64, base, `${name}-${which}`)])
      await replay.pushContent(repo(`${id}-${which}`), 'latest', index, mounts)
      pushed.push([repo(`${id}-${which}`), index])
    }
    assertRecording(t, replay, [
      '6x HEAD /v2/<name>/blobs/<digest> -> 404', '2x HEAD /v2/<name>/manifests/<digest> -> 404', '2x HEAD /v2/<name>/manifests/<tag> -> 404',
      '2x POST /v2/<name>/blobs/uploads/ -> 202', '4x POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<name> -> 201', B('2x PUTB -> 201'),
      '2x PUT /v2/<name>/manifests/<digest> -> 201', '2x PUT /v2/<name>/manifests/<tag> -> 201',
    ].map(B), false)
    for (const [r, index] of pushed) await assertReadBack(t, r, 'latest', index)
  })
}

await t.test('s4c: zstd OCI layers', { timeout: 60_000 }, async (t) => {
  const { layer: gz, diffId } = gzipLayer(MediaTypes.ociLayerUncompressed, [{ name: 'zstd.txt', type: 'file', data: Buffer.from(`${salt} zstd\n`) }])
  const plain = (await import('node:zlib')).gunzipSync(gz.data)
  const zst = makeBlob(zstdRaw(plain), { mediaType: MediaTypes.ociLayerZstd })
  const img = image(OCI, AMD64, [{ blob: zst, diffId }], 's4c')
  const replay = new BuildkitReplay(target.url)
  await replay.pushContent(repo('s4c'), 'zstd', img)
  assertRecording(t, replay, [
    '2x HEAD /v2/<name>/blobs/<digest> -> 404', '2x POST /v2/<name>/blobs/uploads/ -> 202', B('2x PUTB -> 201'),
    'HEAD /v2/<name>/manifests/<tag> -> 404', 'PUT /v2/<name>/manifests/<tag> -> 201',
  ].map(B), true)
  await assertReadBack(t, repo('s4c'), 'zstd', img)
})

/** The three registry cache formats BuildKit exports. */
const CACHE_FORMATS = {
  'image-manifest (manifest with a cacheconfig config)': (layers: readonly Blob[], cfg: Blob): Content =>
    makeImage(MediaTypes.ociManifest, { ...cfg, mediaType: MediaTypes.buildkitCacheConfig }, layers),
  'OCI index of blobs (older format)': (layers: readonly Blob[], cfg: Blob): Content =>
    makeIndex(MediaTypes.ociIndex, [], { blobs: [...layers, { ...cfg, mediaType: MediaTypes.buildkitCacheConfig }] }),
  'Docker manifest list of blobs (oci-mediatypes=false)': (layers: readonly Blob[], cfg: Blob): Content =>
    makeIndex(MediaTypes.dockerManifestList, [], { blobs: [...layers.map((l) => ({ ...l, mediaType: MediaTypes.dockerLayer })), { ...cfg, mediaType: MediaTypes.buildkitCacheConfig }] }),
} as const

for (const [i, [format, build]] of Object.entries(CACHE_FORMATS).entries()) {
  await t.test(`s5: registry cache round trip, ${format}`, { timeout: 90_000 }, async (t) => {
    const types = format.startsWith('Docker') ? DOCKER : OCI
    const baseLayer = layer(types, `${format}-base`)
    const baseImage = image(types, AMD64, [baseLayer], 'base')
    const baseIndex = makeIndex(types.index, [baseImage])
    const baseRepo = await seedBase(`s5-base-${i}`, baseIndex)
    const r = repo(`s5-cache-${i}`)
    const l1 = layer(types, `${format}-1`)
    const l2 = layer(types, `${format}-2`)
    const l3 = layer(types, `${format}-3`)
    const imgA = image(types, AMD64, [baseLayer, l1, l2, l3], 'a')
    const cacheConfig = makeBlob(jsonBytes({ layers: [1, 2, 3], records: [format, salt] }), { mediaType: MediaTypes.buildkitCacheConfig })
    const cache = build([baseLayer.blob, l1.blob, l2.blob, l3.blob], cacheConfig)
    const replay = new BuildkitReplay(target.url)

    // Builder a: resolve FROM, push :a (mounting the base layer), export the cache (mode=max).
    await replay.resolve(baseRepo, 'latest')
    await replay.pushContent(r, 'a', imgA, new Map([[baseLayer.blob.digest, baseRepo]]))
    await replay.pushContent(r, 'buildcache', cache)
    // Fresh builder: resolve FROM and the cache, read them, push :b (all cached).
    await replay.resolve(baseRepo, 'latest')
    await replay.fetchManifest(baseRepo, baseIndex.manifest)
    await replay.fetchManifest(baseRepo, baseImage.manifest)
    await replay.fetchBlob(baseRepo, baseImage.config)
    const resolved = await replay.resolve(r, 'buildcache')
    t.equal(resolved?.digest, cache.manifest.digest, 'the cache tag resolves to the exported cache manifest')
    const cacheBody = await replay.fetchManifest(r, cache.manifest)
    t.ok(cacheBody.equals(cache.manifest.body), 'cache manifest read back byte-identical')
    t.ok((await replay.fetchBlob(r, cacheConfig)).equals(cacheConfig.data), 'cache config read back')
    await replay.pushContent(r, 'b', imgA)
    // Then :c with the last step re-run: cached layers pulled, one new layer and config pushed.
    await replay.resolve(baseRepo, 'latest')
    await replay.resolve(r, 'buildcache')
    await replay.fetchManifest(r, cache.manifest)
    await replay.fetchBlob(r, cacheConfig)
    for (const l of [baseLayer, l1, l2]) t.ok((await replay.fetchBlob(r, l.blob)).equals(l.blob.data), 'cached layer pulled intact')
    const l3b = layer(types, `${format}-3b`)
    const imgC = image(types, AMD64, [baseLayer, l1, l2, l3b], 'c')
    await replay.pushBlobs(r, [l3b.blob, baseLayer.blob, imgC.config, l1.blob, l2.blob])
    await replay.pushManifest(r, 'c', imgC.manifest)

    assertRecording(t, replay, [
      '6 GET /v2/<name>/blobs/<digest> -> 200', '4 GET /v2/<name>/manifests/<digest> -> 200',
      '12 HEAD /v2/<name>/blobs/<digest> -> 200', '8 HEAD /v2/<name>/blobs/<digest> -> 404',
      '5 HEAD /v2/<name>/manifests/<tag> -> 200', '4 HEAD /v2/<name>/manifests/<tag> -> 404',
      '7 POST /v2/<name>/blobs/uploads/ -> 202', '1 POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<name> -> 201',
      B('7 PUTB -> 201'), '4 PUT /v2/<name>/manifests/<tag> -> 201',
    ].map((l) => l.replace(/^(\d+) /, '$1x ')), false)
    await assertReadBack(t, r, 'a', imgA)
    await assertReadBack(t, r, 'b', imgA)
    await assertReadBack(t, r, 'c', imgC)
    await assertReadBack(t, r, 'buildcache', cache)
  })
}

await t.test('s7: a fresh builder pulls a multi-platform base, builds and pushes elsewhere', { timeout: 60_000 }, async (t) => {
  const amdBase = layer(OCI, 's7-amd')
  const armBase = layer(OCI, 's7-arm')
  const base = makeIndex(OCI.index, [image(OCI, AMD64, [amdBase], 'base'), image(OCI, ARM64, [armBase], 'base')])
  const baseRepo = await seedBase('s7-base', base)
  const replay = new BuildkitReplay(target.url)
  await replay.resolve(baseRepo, 'latest')
  await replay.resolve(baseRepo, 'latest')
  const served = JSON.parse((await replay.fetchManifest(baseRepo, base.manifest)).toString()) as { manifests: Array<{ digest: string; mediaType: string; size: number }> }
  for (const [i, entry] of served.manifests.entries()) {
    const child = base.children[i] as ImageContent
    t.ok((await replay.fetchManifest(baseRepo, entry)).equals(child.manifest.body), `platform manifest ${i} intact`)
    t.ok((await replay.fetchBlob(baseRepo, child.config)).equals(child.config.data), `config ${i} intact`)
    t.ok((await replay.fetchBlob(baseRepo, child.layers[0]!)).equals(child.layers[0]!.data), `layer ${i} intact`)
  }
  const extra = layer(OCI, 's7-new')
  const out = makeIndex(OCI.index, [image(OCI, AMD64, [amdBase, extra], 's7'), image(OCI, ARM64, [armBase], 's7')])
  await replay.pushContent(repo('s7'), 'latest', out)
  assertRecording(t, replay, [
    '2x HEAD /v2/<name>/manifests/<tag> -> 200', '3x GET /v2/<name>/manifests/<digest> -> 200', '4x GET /v2/<name>/blobs/<digest> -> 200',
    '5x HEAD /v2/<name>/blobs/<digest> -> 404', '5x POST /v2/<name>/blobs/uploads/ -> 202', B('5x PUTB -> 201'),
    '2x HEAD /v2/<name>/manifests/<digest> -> 404', '2x PUT /v2/<name>/manifests/<digest> -> 201',
    'HEAD /v2/<name>/manifests/<tag> -> 404', 'PUT /v2/<name>/manifests/<tag> -> 201',
  ].map(B), false)
  await assertReadBack(t, repo('s7'), 'latest', out)
})

await t.test('a tag moves from an image manifest to an index', { timeout: 60_000 }, async (t) => {
  const replay = new BuildkitReplay(target.url)
  const single = image(OCI, AMD64, [layer(OCI, 'move-1')], 'move')
  await replay.pushContent(repo('move'), 'latest', single)
  await assertReadBack(t, repo('move'), 'latest', single)
  const index = withAttestations([image(OCI, AMD64, [layer(OCI, 'move-2')], 'move')])
  await replay.pushContent(repo('move'), 'latest', index)
  await assertReadBack(t, repo('move'), 'latest', index)
  t.equal((await reg.get(`/v2/${repo('move')}/manifests/${single.manifest.digest}`, { Accept: MediaTypes.ociManifest })).status, 200, 'the old manifest stays pullable by digest')
})

// Debian's docker-registry 2.8 answers 500 to a HEAD of a tag while another push rewrites it (its
// filesystem driver does not write tag links atomically): a known reference bug, not a replay bug.
const raceTodo = target.kind === 'reference' ? { todo: 'reference registry 2.8 answers 500 to concurrent tag HEAD/PUT' } : {}
await t.test('two builders push one tag at the same time, 20 rounds', { timeout: 180_000, ...raceTodo }, async (t) => {
  const r = repo('race')
  const problems: string[] = []
  const winners = new Map<string, number>()
  for (let round = 0; round < 20; round++) {
    const shared = layer(OCI, `race-${round}-shared`)
    const contents = ['one', 'two'].map((who) => withAttestations([
      image(OCI, AMD64, [shared, layer(OCI, `race-${round}-${who}-amd`)], `${who}-${round}`),
      image(OCI, ARM64, [layer(OCI, `race-${round}-${who}-arm`)], `${who}-${round}`),
    ]))
    // Both builders share a layer (and the attestation config), so their blob uploads collide too.
    await Promise.all(contents.map((c) => new BuildkitReplay(target.url).pushContent(r, 'latest', c)))
    const pulled = await reg.pullVerified(r, 'latest')
    const winner = contents.findIndex((c) => c.manifest.digest === pulled.digest)
    if (winner === -1) problems.push(`round ${round}: latest is ${pulled.digest}, neither push`)
    else {
      winners.set(String(winner), (winners.get(String(winner)) ?? 0) + 1)
      const diff = sameContent(pulled, contents[winner]!)
      if (diff.length > 0) problems.push(`round ${round}: ${diff.join('; ')}`)
    }
    for (const c of contents) {
      const other = await reg.pullVerified(r, c.manifest.digest)
      const diff = sameContent(other, c)
      if (diff.length > 0) problems.push(`round ${round} by digest: ${diff.join('; ')}`)
    }
  }
  t.same(problems, [], 'every round: the tag is one of the two complete pushes, and both pull by digest')
  t.comment(`winners: ${JSON.stringify(Object.fromEntries(winners))}`)
})
