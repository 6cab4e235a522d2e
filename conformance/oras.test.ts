// oras 1.2 (../shared/bin/oras) against the target registry and the reference registry: push and
// pull of a multi-file artifact with an artifactType, `attach` of a signature and an SBOM found by
// `discover` (through the referrers API: oras must not fall back to the `sha256-…` tag schema on a
// registry that has the API), `cp -r` to another repository with the referrers, `repo tags --last`,
// a 100 MiB blob (written and hashed streaming on disk), `manifest fetch --descriptor`. What both
// runs observe is compared (helpers/judges.ts, client-differences.ts).
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { assertPulls } from './helpers/checks.js'
import { scenario, toolPath, uniqueSuffix, type Requirements, type Tap } from './helpers/env.js'
import { newSalt } from './helpers/fixtures.js'
import { compareRuns, Observations, startJudgedRegistries } from './helpers/judges.js'
import { run, tempDir, type RunOptions, type RunResult } from './helpers/proc.js'
import type { RegistryTarget } from './helpers/target.js'
import { hexOf, MediaTypes, RegistryClient } from '../test/support/index.js'

const runId = uniqueSuffix()
const salt = newSalt()
const needs: Requirements = { tools: ['oras'] }
const repo = (name: string): string => `conformance/oras-${runId}/${name}`
const ARTIFACT_TYPE = 'application/vnd.wharf.conformance.bundle.v1'
const SIGNATURE_TYPE = 'application/vnd.wharf.conformance.signature.v1'
const SBOM_TYPE = 'application/spdx+json'
const BIG_MIB = 100
const { target, reference } = await startJudgedRegistries(t)

const work = await tempDir('oras')
t.teardown(() => work.remove())

/** oras with --plain-http, in `cwd` (oras names files by their path relative to it). */
function oras(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run('nice', ['-n', '10', toolPath('oras'), ...args], { timeoutMs: 120_000, cwd: work.path, ...options })
}

/** A file of `mib` MiB of random bytes, written 1 MiB at a time; resolves with its sha256 digest. */
async function writeRandomFile(file: string, mib: number): Promise<string> {
  const hash = createHash('sha256')
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let i = 0; i < mib; i++) {
      const chunk = randomBytes(1024 * 1024)
      hash.update(chunk)
      yield chunk
    }
  }
  await pipeline(chunks(), createWriteStream(file))
  return `sha256:${hash.digest('hex')}`
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(file), hash)
  return `sha256:${hash.digest('hex')}`
}

interface Manifest { mediaType: string; artifactType?: string; config: { mediaType: string }; layers: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }>; subject?: { digest: string } }
interface Discovered { manifests?: Array<{ digest: string; artifactType: string; mediaType: string }> }

// Shared inputs: the same files are pushed to every registry.
const files = {
  'readme.txt': { type: 'text/plain', data: Buffer.from(`wharf oras conformance ${salt}\n`) },
  'data.bin': { type: 'application/vnd.wharf.conformance.data', data: randomBytes(64 * 1024) },
  'config.json': { type: 'application/json', data: Buffer.from(JSON.stringify({ salt, note: 'third file' })) },
}
const signature = Buffer.from(JSON.stringify({ signed: salt }))
const sbom = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: `wharf-${salt}` }))
const inputs = path.join(work.path, 'in')
await mkdir(inputs, { recursive: true })
for (const [name, file] of Object.entries(files)) await writeFile(path.join(inputs, name), file.data)
await writeFile(path.join(inputs, 'signature.json'), signature)
await writeFile(path.join(inputs, 'sbom.spdx.json'), sbom)
let bigDigest: string | undefined

async function orasScenarios(t: Tap, target: RegistryTarget, obs: Observations): Promise<void> {
  const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
  const ref = (r: string, tag?: string): string => `${target.address}/${repo(r)}${tag ? `:${tag}` : ''}`
  const out = path.join(work.path, target.kind)
  await mkdir(out)
  let artifactDigest = ''

  await t.test('push a multi-file artifact with --artifact-type, pull it back', async (t) => {
    const pushed = JSON.parse((await oras(['push', '--plain-http', '--artifact-type', ARTIFACT_TYPE, '--format', 'json', ref('app', 'v1'),
      ...Object.entries(files).map(([name, file]) => `${name}:${file.type}`)], { cwd: inputs })).stdout) as { digest: string; artifactType: string }
    artifactDigest = pushed.digest
    const pulled = await assertPulls(t, reg, repo('app'), 'v1')
    t.equal(pulled.digest, pushed.digest, 'the registry serves the digest oras reported')
    const manifest = JSON.parse(pulled.manifests.get(pulled.digest)!.body.toString('utf8')) as Manifest
    t.equal(manifest.artifactType, ARTIFACT_TYPE, 'the manifest carries the artifactType')
    t.equal(manifest.config.mediaType, MediaTypes.ociEmpty, 'with the empty config (image-spec 1.1 artifact)')
    t.same(manifest.layers.map((l) => [l.annotations?.['org.opencontainers.image.title'], l.mediaType]),
      Object.entries(files).map(([name, file]) => [name, file.type]), 'one layer per file, titled, with its media type')
    for (const layer of manifest.layers) t.ok(pulled.blobs.get(layer.digest)?.equals(files[layer.annotations!['org.opencontainers.image.title'] as keyof typeof files].data), `${layer.annotations!['org.opencontainers.image.title']}: bytes served as pushed`)
    obs.record('push: manifest', { mediaType: manifest.mediaType, artifactType: manifest.artifactType, config: manifest.config.mediaType, layers: manifest.layers.map((l) => [l.mediaType, l.size]) })

    const into = path.join(out, 'pulled')
    await oras(['pull', '--plain-http', '-o', into, ref('app', 'v1')])
    const identical: string[] = []
    for (const [name, file] of Object.entries(files)) {
      const same = (await readFile(path.join(into, name))).equals(file.data)
      t.ok(same, `oras pull wrote ${name} byte-identical`)
      if (same) identical.push(name)
    }
    obs.record('pull: files written byte-identical', identical)
  })

  await t.test('attach a signature and an SBOM; discover finds them through the referrers API', async (t) => {
    const sig = JSON.parse((await oras(['attach', '--plain-http', '--artifact-type', SIGNATURE_TYPE, '--format', 'json', ref('app', 'v1'), 'signature.json:application/vnd.wharf.conformance.signature'], { cwd: inputs })).stdout) as { digest: string }
    const sb = JSON.parse((await oras(['attach', '--plain-http', '--artifact-type', SBOM_TYPE, '--format', 'json', ref('app', 'v1'), 'sbom.spdx.json:application/spdx+json'], { cwd: inputs })).stdout) as { digest: string }
    for (const [what, digest] of [['signature', sig.digest], ['SBOM', sb.digest]] as const) {
      const pulled = await reg.pullVerified(repo('app'), digest)
      const manifest = JSON.parse(pulled.manifests.get(digest)!.body.toString('utf8')) as Manifest
      t.equal(manifest.subject?.digest, artifactDigest, `the ${what} names the artifact as its subject`)
    }
    const discovered = JSON.parse((await oras(['discover', '--plain-http', '--format', 'json', ref('app', 'v1')])).stdout) as Discovered
    t.same((discovered.manifests ?? []).map((m) => [m.artifactType, m.digest]).sort(), [[SBOM_TYPE, sb.digest], [SIGNATURE_TYPE, sig.digest]].sort(), 'oras discover lists both')
    const filtered = JSON.parse((await oras(['discover', '--plain-http', '--format', 'json', '--artifact-type', SBOM_TYPE, ref('app', 'v1')])).stdout) as Discovered
    t.same((filtered.manifests ?? []).map((m) => m.digest), [sb.digest], 'discover --artifact-type keeps the SBOM only')
    const fallbackTag = `sha256-${hexOf(artifactDigest)}`
    const tags = await reg.tags(repo('app'))
    if (target.capabilities.referrers) {
      t.notOk(tags.includes(fallbackTag), `oras used the referrers API: no ${fallbackTag} tag (tags: ${tags.join(', ')})`)
      t.same((await reg.referrers(repo('app'), artifactDigest)).sort(), [sig.digest, sb.digest].sort(), 'GET /v2/<name>/referrers/<digest> lists both')
    }
    obs.record('attach: the referrers tag schema was used', tags.includes(fallbackTag))
    obs.record('discover: artifact types', (discovered.manifests ?? []).map((m) => m.artifactType).sort())
    obs.record('discover --artifact-type: artifact types', (filtered.manifests ?? []).map((m) => m.artifactType))
  })

  await t.test('cp -r to another repository carries the referrers', async (t) => {
    await oras(['cp', '-r', '--from-plain-http', '--to-plain-http', ref('app', 'v1'), ref('copy', 'v1')])
    const copied = await assertPulls(t, reg, repo('copy'), 'v1')
    t.equal(copied.digest, artifactDigest, 'the copy has the same digest')
    const discovered = JSON.parse((await oras(['discover', '--plain-http', '--format', 'json', ref('copy', 'v1')])).stdout) as Discovered
    const original = JSON.parse((await oras(['discover', '--plain-http', '--format', 'json', ref('app', 'v1')])).stdout) as Discovered
    t.same((discovered.manifests ?? []).map((m) => m.digest).sort(), (original.manifests ?? []).map((m) => m.digest).sort(), 'the copy has the same referrers, by digest')
    for (const m of discovered.manifests ?? []) {
      const pulled = await reg.pullVerified(repo('copy'), m.digest)
      t.equal(pulled.digest, m.digest, `${m.artifactType}: served from the copy with verified digests`)
    }
    obs.record('cp -r: referrers in the copy', (discovered.manifests ?? []).map((m) => m.artifactType).sort())
    obs.record('cp -r: tags of the copy', (await reg.tags(repo('copy'))).map((tag) => tag.startsWith('sha256-') ? 'sha256-<subject>' : tag).sort())
  })

  await t.test('tag, repo tags, repo tags --last', async (t) => {
    await oras(['tag', '--plain-http', ref('app', 'v1'), 'v2', 'v3', 'a0'])
    const all = (await oras(['repo', 'tags', '--plain-http', ref('app')])).stdout.trim().split('\n')
    for (const tag of ['a0', 'v1', 'v2', 'v3']) t.ok(all.includes(tag), `repo tags lists ${tag}`)
    const last = (await oras(['repo', 'tags', '--plain-http', '--last', 'v1', ref('app')])).stdout.trim().split('\n').filter(Boolean)
    if (target.capabilities.tagPagination) t.same(last, ['v2', 'v3'], 'repo tags --last v1 lists the tags after v1, in order')
    if (target.capabilities.sortedTags) t.same(all, [...all].sort(), 'repo tags lists them in lexical order')
    // The set only: an unsorted listing comes in any order.
    const listing = (tags: string[]): string[] => tags.map((tag) => tag.startsWith('sha256-') ? 'sha256-<subject>' : tag).sort()
    obs.record('repo tags', listing(all))
    obs.record('repo tags --last v1', listing(last))
  })

  await t.test(`a ${BIG_MIB} MiB blob: push, pull, digest`, { timeout: 240_000 }, async (t) => {
    const big = path.join(inputs, 'big.bin')
    bigDigest ??= await writeRandomFile(big, BIG_MIB)
    const pushed = JSON.parse((await oras(['push', '--plain-http', '--format', 'json', ref('big', 'v1'), 'big.bin:application/octet-stream'], { cwd: inputs, timeoutMs: 240_000 })).stdout) as { digest: string }
    const manifest = JSON.parse((await oras(['manifest', 'fetch', '--plain-http', ref('big', 'v1')])).stdout) as Manifest
    t.equal(manifest.layers[0]?.digest, bigDigest, 'the manifest names the blob by its sha256')
    t.equal(manifest.layers[0]?.size, BIG_MIB * 1024 * 1024, 'and its size')
    const head = await reg.headBlob(repo('big'), bigDigest)
    t.equal(head.status, 200, 'HEAD of the blob')
    t.equal(Number(head.header('content-length')), BIG_MIB * 1024 * 1024, 'Content-Length is the size')
    t.equal(head.header('docker-content-digest'), bigDigest, 'Docker-Content-Digest is the digest')
    const into = path.join(out, 'big')
    await oras(['pull', '--plain-http', '-o', into, `${target.address}/${repo('big')}@${pushed.digest}`], { timeoutMs: 240_000 })
    t.equal((await stat(path.join(into, 'big.bin'))).size, BIG_MIB * 1024 * 1024, 'oras pull wrote the whole file')
    t.equal(await sha256File(path.join(into, 'big.bin')), bigDigest, 'and its bytes hash to the digest')
    obs.record('big blob', { size: manifest.layers[0]?.size, head: head.status })
  })

  await t.test('manifest fetch --descriptor', async (t) => {
    const descriptor = JSON.parse((await oras(['manifest', 'fetch', '--plain-http', '--descriptor', ref('app', 'v1')])).stdout) as { mediaType: string; digest: string; size: number }
    const head = await reg.head(`/v2/${repo('app')}/manifests/v1`, { Accept: MediaTypes.ociManifest })
    t.equal(descriptor.digest, artifactDigest, 'the digest of the artifact')
    t.equal(descriptor.digest, head.header('docker-content-digest'), 'as the registry names it')
    t.equal(descriptor.size, Number(head.header('content-length')), 'the size the registry answers')
    t.equal(descriptor.mediaType, MediaTypes.ociManifest, 'the manifest media type')
    obs.record('manifest fetch --descriptor', { mediaType: descriptor.mediaType, fields: Object.keys(descriptor).sort() })
  })
}

const onTarget = new Observations()
const onReference = new Observations()
let bothRan = false
await scenario(t, `oras against ${target.kind}`, { ...needs, timeout: 400_000 }, (t) => orasScenarios(t, target, onTarget))
if (reference) {
  await scenario(t, 'oras against the reference registry', { ...needs, timeout: 400_000 }, async (t) => {
    await orasScenarios(t, reference, onReference)
    bothRan = true
  })
}
await compareRuns(t, 'oras', needs, onTarget, onReference, () => bothRan)
