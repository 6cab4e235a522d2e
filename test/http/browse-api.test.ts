/**
 * The UI's JSON API (/_wharf/v1/repositories...) on a real `wharf serve`: images, a buildx-style
 * index with attestation manifests, a BuildKit cache, a cosign signature and an SBOM referrer;
 * kinds, platforms and sizes exact; sorting, filtering and cursor paging; delete previews; errors.
 */
import t from 'tap'
import {
  configBlob, descriptor, imageManifest, makeBlob, MediaTypes, ociIndex, startGcServer,
  type Blob, type GcServer, type HttpResponse, type Manifest, type RegistryClient,
} from '../support/index.js'

const API = '/_wharf/v1/repositories'
const REPO = 'apps/web'
const SIG_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json'
const SPDX = 'application/spdx+json'

interface Tags { total: number; next?: string; can: unknown; tags: Array<{ tag: string; digest: string; kind: string; platforms: unknown[]; size: number; pushedAt: number; mediaType: string; artifactType?: string }> }
interface Repos { total: number; next?: string; repositories: Array<{ name: string; tagCount: number; manifestCount: number; logicalBytes: number; exclusiveBytes: number; lastPushedAt: number | null }> }

function errorCode(res: HttpResponse): string | undefined {
  return res.json<{ errors?: Array<{ code: string }> }>().errors?.[0]?.code
}

const sum = (...sizes: number[]): number => sizes.reduce((a, b) => a + b, 0)

let server: GcServer
let client: RegistryClient

/** Pushes blobs (if missing) then the manifest under `reference`. */
async function push(repo: string, reference: string, manifest: Manifest, blobs: readonly Blob[]): Promise<Manifest> {
  for (const blob of blobs) await client.ensureBlob(repo, blob)
  return client.pushManifest(repo, reference, manifest)
}

t.before(async () => {
  // No scheduled collection: the last report is only the one this test asks for.
  server = await startGcServer()
  client = server.client
})
t.teardown(async () => { await server?.stop(true) })

// The content of apps/web, pushed once.
const v1Config = configBlob({ created: '2024-01-02T03:04:05Z', config: { Env: ['PATH=/usr/bin'], Cmd: ['serve', '--port', '80'], Labels: { team: 'web' }, ExposedPorts: { '80/tcp': {} } }, history: [{ created_by: 'ADD rootfs /' }] })
const v1Layers = [makeBlob(3000), makeBlob(5000)]
const v1 = imageManifest(v1Config, v1Layers)
const emptyConfig = makeBlob('{}', { mediaType: MediaTypes.ociEmpty })
const sigLayer = makeBlob(JSON.stringify({ critical: { image: { 'docker-manifest-digest': v1.digest } } }), { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json' })
const signature = imageManifest(emptyConfig, [sigLayer], { artifactType: SIG_TYPE, subject: { ...v1 } })
const sbomLayer = makeBlob(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'web' }), { mediaType: SPDX })
const sbom = imageManifest(emptyConfig, [sbomLayer], { artifactType: SPDX, subject: { ...v1 } })
const amdConfig = configBlob({ architecture: 'amd64', os: 'linux' })
const armConfig = configBlob({ architecture: 'arm64', os: 'linux', variant: 'v8' })
const amdLayer = makeBlob(2000)
const armLayer = makeBlob(2100)
const amd = imageManifest(amdConfig, [amdLayer])
const arm = imageManifest(armConfig, [armLayer])
const attestation = (image: Manifest): { manifest: Manifest; blobs: Blob[] } => {
  const config = configBlob({ architecture: 'unknown', os: 'unknown' })
  const statement = makeBlob(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', subject: [{ digest: image.digest }] }), { mediaType: MediaTypes.inToto, annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' } })
  return { manifest: imageManifest(config, [statement]), blobs: [config, statement] }
}
const amdAttestation = attestation(amd)
const armAttestation = attestation(arm)
const unknownPlatform = { architecture: 'unknown', os: 'unknown' }
const attestationEntry = (a: { manifest: Manifest }, of: Manifest): ReturnType<typeof descriptor> =>
  descriptor(a.manifest, undefined, { platform: unknownPlatform, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': of.digest } })
const multi = ociIndex([
  descriptor(amd, undefined, { platform: { architecture: 'amd64', os: 'linux' } }),
  descriptor(arm, undefined, { platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } }),
  attestationEntry(amdAttestation, amd),
  attestationEntry(armAttestation, arm),
])
const cacheConfig = makeBlob(JSON.stringify({ layers: [], records: [] }), { mediaType: MediaTypes.buildkitCacheConfig })
const cacheLayer = makeBlob(4000)
const cache = imageManifest(cacheConfig, [cacheLayer])

const v1Size = sum(v1.size, v1Config.size, ...v1Layers.map((l) => l.size))
const multiSize = sum(multi.size, amd.size, arm.size, amdConfig.size, armConfig.size, amdLayer.size, armLayer.size,
  amdAttestation.manifest.size, armAttestation.manifest.size, ...[...amdAttestation.blobs, ...armAttestation.blobs].map((b) => b.size))
const cacheSize = sum(cache.size, cacheConfig.size, cacheLayer.size)
const referrersSize = sum(signature.size, sbom.size, emptyConfig.size, sigLayer.size, sbomLayer.size)

t.test('content of a repository: kinds, platforms and sizes', async (t) => {
  await push(REPO, 'v1', v1, [v1Config, ...v1Layers])
  await push(REPO, signature.digest, signature, [emptyConfig, sigLayer])
  await push(REPO, sbom.digest, sbom, [emptyConfig, sbomLayer])
  await push(REPO, amd.digest, amd, [amdConfig, amdLayer])
  await push(REPO, arm.digest, arm, [armConfig, armLayer])
  await push(REPO, amdAttestation.manifest.digest, amdAttestation.manifest, amdAttestation.blobs)
  await push(REPO, armAttestation.manifest.digest, armAttestation.manifest, armAttestation.blobs)
  await push(REPO, 'multi', multi, [])
  await push(REPO, 'cache', cache, [cacheConfig, cacheLayer])

  const page = await client.getJson<Tags>(`${API}/${REPO}/tags`)
  t.equal(page.total, 3)
  t.same(page.can, { pull: true, push: true, delete: true }, 'without access control everyone may do everything')
  t.same(page.tags.map((tag) => tag.tag), ['cache', 'multi', 'v1'])
  const [cacheTag, multiTag, v1Tag] = page.tags
  t.match(cacheTag, { kind: 'buildkit-cache', digest: cache.digest, platforms: [], size: cacheSize })
  t.match(multiTag, { kind: 'index', digest: multi.digest, mediaType: MediaTypes.ociIndex, size: multiSize })
  t.same(multiTag!.platforms, [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }], 'attestation entries left out')
  t.match(v1Tag, { kind: 'image', digest: v1.digest, size: v1Size })
  t.same(v1Tag!.platforms, [{ os: 'linux', architecture: 'amd64' }], 'an image platform comes from its config')
  t.ok(v1Tag!.pushedAt < multiTag!.pushedAt && multiTag!.pushedAt < cacheTag!.pushedAt, 'pushedAt in push order')

  const repos = await client.getJson<Repos>(`${API}?filter=apps/`)
  t.equal(repos.total, 1)
  const everything = v1Size + multiSize + cacheSize + referrersSize
  t.match(repos.repositories[0], { name: REPO, tagCount: 3, manifestCount: 9, logicalBytes: everything, exclusiveBytes: everything })
  t.type(repos.repositories[0]!.lastPushedAt, 'number')
})

t.test('an image in detail: config, layers, referrers with their kinds', async (t) => {
  const detail = await client.getJson<Record<string, any>>(`${API}/${REPO}/manifests/${v1.digest}`)
  t.match(detail, { repository: REPO, digest: v1.digest, kind: 'image', size: v1.size, totalSize: v1Size, tags: ['v1'], body: v1.body.toString('utf8') })
  t.match(detail.config, {
    digest: v1Config.digest, created: '2024-01-02T03:04:05Z', os: 'linux', architecture: 'amd64',
    env: ['PATH=/usr/bin'], cmd: ['serve', '--port', '80'], labels: { team: 'web' }, exposedPorts: ['80/tcp'], history: [{ createdBy: 'ADD rootfs /' }],
  })
  t.same(detail.configDescriptor, { mediaType: v1Config.mediaType, digest: v1Config.digest, size: v1Config.size })
  t.same(detail.layers.map((l: { digest: string; size: number }) => [l.digest, l.size]), v1Layers.map((l) => [l.digest, l.size]))
  const referrers = new Map(detail.referrers.map((r: { digest: string; kind: string }) => [r.digest, r.kind]))
  t.same(Object.fromEntries(referrers), { [signature.digest]: 'signature', [sbom.digest]: 'sbom' })
  t.same(detail.can, { pull: true, push: true, delete: true })

  const sig = await client.getJson<Record<string, any>>(`${API}/${REPO}/manifests/${signature.digest}`)
  t.match(sig, { kind: 'signature', artifactType: SIG_TYPE, subject: { digest: v1.digest, present: true }, tags: [] })
  t.notOk('config' in sig, 'an artifact\'s config is not an image config')
})

t.test('an index in detail: platforms, attestation manifests labelled', async (t) => {
  const detail = await client.getJson<Record<string, any>>(`${API}/${REPO}/manifests/${multi.digest}`)
  t.equal(detail.kind, 'index')
  t.same(detail.children.map((c: { digest: string; kind: string; present: boolean; platform?: unknown }) => [c.digest, c.kind, c.present, c.platform]), [
    [amd.digest, 'image', true, { os: 'linux', architecture: 'amd64' }],
    [arm.digest, 'image', true, { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    [amdAttestation.manifest.digest, 'attestation', true, { os: 'unknown', architecture: 'unknown' }],
    [armAttestation.manifest.digest, 'attestation', true, { os: 'unknown', architecture: 'unknown' }],
  ])
  const att = await client.getJson<Record<string, any>>(`${API}/${REPO}/manifests/${amdAttestation.manifest.digest}`)
  t.equal(att.kind, 'attestation', 'an attestation manifest opened alone is labelled by its in-toto layers')
  const cacheDetail = await client.getJson<Record<string, any>>(`${API}/${REPO}/manifests/${cache.digest}`)
  t.equal(cacheDetail.kind, 'buildkit-cache')
  t.notOk('config' in cacheDetail)
})

t.test('delete previews', async (t) => {
  const v1Preview = await client.getJson<Record<string, any>>(`${API}/${REPO}/delete-preview?tag=v1`)
  t.same(v1Preview.target, { tag: 'v1', digest: v1.digest })
  t.same(v1Preview.tags, ['v1'])
  t.same(new Set(v1Preview.manifests.map((m: { digest: string; kind: string }) => `${m.kind} ${m.digest}`)),
    new Set([`image ${v1.digest}`, `signature ${signature.digest}`, `sbom ${sbom.digest}`]))
  t.equal(v1Preview.freedBytes, v1Size + referrersSize)
  t.notOk('refused' in v1Preview)

  const child = await client.getJson<Record<string, any>>(`${API}/${REPO}/delete-preview?digest=${amd.digest}`)
  t.same(child.refused, { reason: 'manifest is referenced by an index in this repository: delete the index first', referencedBy: [multi.digest] })
  const refusedDelete = await client.deleteManifest(REPO, amd.digest)
  t.equal(refusedDelete.status, 409, 'the registry refuses that delete as the preview said')

  const index = await client.getJson<Record<string, any>>(`${API}/${REPO}/delete-preview?digest=${multi.digest}`)
  t.same(index.tags, ['multi'])
  t.same(new Set(index.manifests.map((m: { digest: string }) => m.digest)), new Set([amd.digest, arm.digest, amdAttestation.manifest.digest, armAttestation.manifest.digest]))
  t.equal(index.freedBytes, multiSize)

  // A second tag on the same manifest: deleting one tag frees nothing.
  await client.pushManifest(REPO, 'cache-copy', cache)
  const copy = await client.getJson<Record<string, any>>(`${API}/${REPO}/delete-preview?tag=cache`)
  t.same(copy.manifests, [])
  t.equal(copy.freedBytes, 0)
  const byDigest = await client.getJson<Record<string, any>>(`${API}/${REPO}/delete-preview?digest=${cache.digest}`)
  t.same(byDigest.tags, ['cache', 'cache-copy'])
  t.equal(byDigest.freedBytes, cacheSize)

  // Nothing changed.
  t.equal((await client.getJson<Tags>(`${API}/${REPO}/tags`)).total, 4)
})

t.test('tags: sort, filter, cursor paging, total', async (t) => {
  const repo = 'paging/tags'
  const image = await client.pushImage(repo, { tag: 'seed' })
  const names = Array.from({ length: 25 }, (_, i) => `t${String(i).padStart(2, '0')}`)
  for (const name of names) await client.pushManifest(repo, name, image.manifest)
  const all: string[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page: Tags = await client.getJson<Tags>(`${API}/${repo}/tags?n=10${cursor !== undefined ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    t.equal(page.total, 26)
    all.push(...page.tags.map((tag) => tag.tag))
    cursor = page.next
    pages++
  } while (cursor !== undefined)
  t.equal(pages, 3)
  t.same(all, ['seed', ...names])

  const byTime: string[] = []
  cursor = undefined
  do {
    const page: Tags = await client.getJson<Tags>(`${API}/${repo}/tags?sort=time&n=7${cursor !== undefined ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    byTime.push(...page.tags.map((tag) => tag.tag))
    cursor = page.next
  } while (cursor !== undefined)
  t.same(byTime, ['seed', ...names].reverse(), 'newest first')

  const filtered = await client.getJson<Tags>(`${API}/${repo}/tags?filter=T1&n=5`)
  t.equal(filtered.total, 10, 'case-insensitive substring')
  t.same(filtered.tags.map((tag) => tag.tag), ['t10', 't11', 't12', 't13', 't14'])
  const rest = await client.getJson<Tags>(`${API}/${repo}/tags?filter=T1&n=5&cursor=${encodeURIComponent(filtered.next!)}`)
  t.same(rest.tags.map((tag) => tag.tag), ['t15', 't16', 't17', 't18', 't19'])
  t.notOk('next' in (await client.getJson<Tags>(`${API}/${repo}/tags?filter=T1&n=10`)))

  const wrongSort = await client.get(`${API}/${repo}/tags?sort=time&cursor=${encodeURIComponent(filtered.next!)}`)
  t.equal(wrongSort.status, 400, 'a cursor of another sort order is refused')
  t.equal(errorCode(wrongSort), 'PAGINATION_NUMBER_INVALID')
})

t.test('repositories: filter, cursor paging, total', async (t) => {
  for (const name of ['list/alpha', 'list/beta', 'list/gamma', 'list/delta', 'other/alpha']) await client.pushImage(name, { tag: 'latest' })
  const first = await client.getJson<Repos>(`${API}?filter=LIST/&n=2`)
  t.equal(first.total, 4)
  t.same(first.repositories.map((r) => r.name), ['list/alpha', 'list/beta'])
  const second = await client.getJson<Repos>(`${API}?filter=list/&n=2&cursor=${encodeURIComponent(first.next!)}`)
  t.same(second.repositories.map((r) => r.name), ['list/delta', 'list/gamma'])
  t.notOk('next' in second)
  const alpha = await client.getJson<Repos>(`${API}?filter=alpha`)
  t.same(alpha.repositories.map((r) => r.name), ['list/alpha', 'other/alpha'])
  t.match(alpha.repositories[0], { tagCount: 1, manifestCount: 1 })
})

t.test('errors in the spec format', async (t) => {
  const cases: Array<[string, number, string]> = [
    [`${API}/no/such/tags`, 404, 'NAME_UNKNOWN'],
    [`${API}/${REPO}/manifests/sha256:${'0'.repeat(64)}`, 404, 'MANIFEST_UNKNOWN'],
    [`${API}/${REPO}/delete-preview?tag=nope`, 404, 'MANIFEST_UNKNOWN'],
    [`${API}/Bad_Name!/tags`, 400, 'NAME_INVALID'],
    [`${API}/${REPO}/manifests/sha256:short`, 400, 'DIGEST_INVALID'],
    [`${API}?n=abc`, 400, 'PAGINATION_NUMBER_INVALID'],
    [`${API}?n=0`, 400, 'PAGINATION_NUMBER_INVALID'],
    [`${API}/${REPO}/tags?n=-1`, 400, 'PAGINATION_NUMBER_INVALID'],
    [`${API}?cursor=garbage`, 400, 'PAGINATION_NUMBER_INVALID'],
    [`${API}/${REPO}/tags?sort=size`, 400, 'UNSUPPORTED'],
    [`${API}/${REPO}/delete-preview`, 400, 'UNSUPPORTED'],
    [`${API}/${REPO}/delete-preview?tag=a&digest=${v1.digest}`, 400, 'UNSUPPORTED'],
  ]
  for (const [path, status, code] of cases) {
    const res = await client.get(path)
    t.equal(res.status, status, `${path} → ${status}`)
    t.equal(errorCode(res), code, `${path} → ${code}`)
  }
  const big = await client.getJson<Repos>(`${API}?n=5000`)
  t.ok(big.repositories.length > 0, 'n above the maximum is clamped')
})

t.test('GET /_wharf/v1/gc: running and the last report, kept across restarts', async (t) => {
  const before = await client.getJson<{ running: boolean; lastReport: unknown }>('/_wharf/v1/gc')
  t.same(before, { running: false, lastReport: null })
  await client.gc(true)
  t.same((await client.getJson<{ lastReport: unknown }>('/_wharf/v1/gc')).lastReport, null, 'a dry run is not the last collection')
  const report = await client.gc()
  const after = await client.getJson<{ running: boolean; lastReport: Record<string, unknown> }>('/_wharf/v1/gc')
  t.equal(after.running, false)
  t.same(after.lastReport, report)
  await server.stop()
  server = await startGcServer({ storage: server.storage })
  client = server.client
  t.same((await client.getJson<{ lastReport: unknown }>('/_wharf/v1/gc')).lastReport, report, 'kept in the metadata store')
})
