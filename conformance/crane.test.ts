// crane (go-containerregistry, ../shared/bin/crane) against the target registry and the reference
// registry: copy of an OCI index and of a Docker manifest list, append, mutate, index append
// across repositories, catalog, ls, digest, delete, validate --remote. Everything written is read
// back as a fresh client would (every digest verified). What both runs observe is compared
// (helpers/judges.ts, client-differences.ts).
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { assertManifestGone, assertPulls, layerFiles } from './helpers/checks.js'
import { scenario, toolPath, uniqueSuffix, type Requirements, type Tap } from './helpers/env.js'
import { multiPlatform, newSalt } from './helpers/fixtures.js'
import { compareRuns, Observations, startJudgedRegistries } from './helpers/judges.js'
import { run, tempDir, type RunOptions, type RunResult } from './helpers/proc.js'
import { tar } from './helpers/tar.js'
import type { RegistryTarget } from './helpers/target.js'
import { ACCEPT_ALL_MANIFESTS, type ImageContent, RegistryClient, type PulledTree } from '../test/support/index.js'

const runId = uniqueSuffix()
const salt = newSalt()
const needs: Requirements = { tools: ['crane', 'busybox', 'busyboxArm64'] }
const repo = (name: string): string => `conformance/crane-${runId}/${name}`
const { target, reference } = await startJudgedRegistries(t)
const work = await tempDir('crane')
t.teardown(() => work.remove())

function crane(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return run('nice', ['-n', '10', toolPath('crane'), ...args, '--insecure'], { timeoutMs: 120_000, ...options })
}

interface Index { mediaType: string; manifests: Array<{ digest: string; mediaType: string; platform?: { os: string; architecture: string } }> }
interface Image { mediaType: string; config: { digest: string }; layers: Array<{ digest: string; mediaType: string }> }
const top = <T>(pulled: PulledTree): T => JSON.parse(pulled.manifests.get(pulled.digest)!.body.toString('utf8')) as T
const layerTar = path.join(work.path, 'layer.tar')
await writeFile(layerTar, tar([{ name: 'etc/', type: 'dir' }, { name: 'etc/wharf-appended', type: 'file', data: Buffer.from(`appended ${salt}\n`) }]))

async function craneScenarios(t: Tap, target: RegistryTarget, obs: Observations): Promise<void> {
  const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
  const ref = (r: string, tag: string): string => `${target.address}/${repo(r)}:${tag}`
  const oci = multiPlatform('oci', `${salt}-oci`)
  const docker = multiPlatform('docker', `${salt}-docker`)
  await reg.pushContent(repo('src'), 'oci', oci)
  await reg.pushContent(repo('src'), 'docker', docker)
  const amd64 = oci.children[0]!.manifest.digest

  await t.test('copy an OCI index and a Docker manifest list to another repository', async (t) => {
    for (const [tag, content] of [['oci', oci], ['docker', docker]] as const) {
      await crane(['copy', ref('src', tag), ref('dst', tag)])
      await assertPulls(t, reg, repo('dst'), tag, content)
      obs.record(`copy ${tag}`, { mediaType: content.manifest.mediaType, sameDigest: (await reg.pullVerified(repo('dst'), tag)).digest === content.manifest.digest })
    }
  })

  await t.test('append a layer to an image', async (t) => {
    const out = await crane(['append', '-b', `${target.address}/${repo('src')}@${amd64}`, '-f', layerTar, '-t', ref('appended', 'v1')])
    const pulled = await assertPulls(t, reg, repo('appended'), 'v1')
    t.match(out.stdout.trim(), `@${pulled.digest}`, 'crane printed the digest the registry serves')
    const manifest = top<Image>(pulled)
    t.equal(manifest.layers.length, 2, 'the base layer and the new one')
    t.equal(manifest.layers[0]!.digest, (oci.children[0] as ImageContent).layers[0]!.digest, 'the base layer is unchanged')
    const files = layerFiles(pulled)
    t.equal(files.get('etc/wharf-appended')?.data.toString(), `appended ${salt}\n`, 'the appended file is in the image')
    t.equal(files.get('etc/wharf-platform')?.data.toString(), 'linux/amd64\n', 'over the base image\'s files')
    obs.record('append', { mediaType: pulled.mediaType, layers: manifest.layers.map((l) => l.mediaType) })
  })

  await t.test('mutate labels, environment and annotations', async (t) => {
    const out = await crane(['mutate', ref('appended', 'v1'), '-l', 'org.example.wharf=conformance', '-e', `WHARF_SALT=${salt}`, '-a', 'org.example.note=mutated', '-t', ref('mutated', 'v1')])
    const pulled = await assertPulls(t, reg, repo('mutated'), 'v1')
    t.match(out.stdout.trim(), pulled.digest, 'crane printed the digest the registry serves')
    const manifest = top<Image & { annotations?: Record<string, string> }>(pulled)
    const config = JSON.parse(pulled.blobs.get(manifest.config.digest)!.toString('utf8')) as { config: { Labels?: Record<string, string>; Env?: string[] } }
    t.equal(config.config.Labels?.['org.example.wharf'], 'conformance', 'the label is in the config')
    t.ok(config.config.Env?.includes(`WHARF_SALT=${salt}`), 'the environment variable is in the config')
    t.equal(manifest.annotations?.['org.example.note'], 'mutated', 'the annotation is on the manifest')
    obs.record('mutate', { mediaType: pulled.mediaType, label: config.config.Labels?.['org.example.wharf'], annotation: manifest.annotations?.['org.example.note'] })
  })

  await t.test('index append: an index from another repository plus an image', async (t) => {
    const mutated = await reg.pullVerified(repo('mutated'), 'v1')
    await crane(['index', 'append', ref('src', 'oci'), '-m', ref('mutated', 'v1'), '-t', ref('index', 'v1')])
    const pulled = await assertPulls(t, reg, repo('index'), 'v1')
    const index = top<Index>(pulled)
    t.same(index.manifests.map((m) => m.digest), [...oci.children.map((c) => c.manifest.digest), mutated.digest], 'the base index entries, then the appended image')
    t.ok([...mutated.blobs.keys()].every((d) => pulled.blobs.has(d)), 'the appended image\'s blobs are served from the index repository')
    obs.record('index append', { mediaType: pulled.mediaType, entries: index.manifests.length })
  })

  await t.test('catalog, ls, digest', async (t) => {
    const catalog = (await crane(['catalog', target.address])).stdout.trim().split('\n')
    const ours = ['appended', 'dst', 'index', 'mutated', 'src'].map(repo)
    t.same(catalog.filter((r) => r.startsWith(repo(''))).sort(), ours, 'catalog lists every repository of the run')
    const tags = (await crane(['ls', `${target.address}/${repo('src')}`])).stdout.trim().split('\n')
    t.same([...tags].sort(), ['docker', 'oci'], 'ls lists the tags')
    for (const tag of ['oci', 'docker']) {
      const digest = (await crane(['digest', ref('src', tag)])).stdout.trim()
      const head = await reg.head(`/v2/${repo('src')}/manifests/${tag}`, { Accept: ACCEPT_ALL_MANIFESTS })
      t.equal(digest, head.header('docker-content-digest'), `digest of ${tag} is the registry's Docker-Content-Digest`)
    }
    const arm = (await crane(['digest', '--platform', 'linux/arm64', ref('src', 'oci')])).stdout.trim()
    t.equal(arm, oci.children[1]!.manifest.digest, 'digest --platform linux/arm64 resolves the arm64 entry')
    obs.record('catalog: repositories of the run', catalog.filter((r) => r.startsWith(repo(''))).sort().map((r) => r.slice(repo('').length)))
    obs.record('ls', [...tags].sort())
  })

  await t.test('validate --remote', async (t) => {
    for (const r of [ref('index', 'v1'), ref('src', 'docker'), ref('mutated', 'v1')]) {
      const out = await crane(['validate', '--remote', r])
      t.match(out.stdout, /PASS/, `validate --remote ${r.slice(target.address.length + 1)}: PASS`)
    }
    obs.record('validate', 'PASS')
  })

  await t.test('delete by digest', async (t) => {
    const digest = (await crane(['digest', ref('mutated', 'v1')])).stdout.trim()
    const deleted = await crane(['delete', `${target.address}/${repo('mutated')}@${digest}`], { allowFailure: true })
    t.equal(deleted.code, 0, 'crane delete succeeds')
    await assertManifestGone(t, reg, repo('mutated'), digest)
    await assertManifestGone(t, reg, repo('mutated'), 'v1')
    await assertPulls(t, reg, repo('index'), 'v1')
    obs.record('delete', { exit: deleted.code, after: (await reg.getManifest(repo('mutated'), digest)).status })
  })

  await t.test('delete of an image an index of the same repository lists', async (t) => {
    const child = `${target.address}/${repo('dst')}@${amd64}`
    const refused = await crane(['delete', child], { allowFailure: true })
    const after = await reg.getManifest(repo('dst'), amd64, ACCEPT_ALL_MANIFESTS)
    if (target.kind !== 'reference') {
      t.not(refused.code, 0, 'crane delete fails')
      t.match(refused.stderr, /DENIED/, 'with the registry\'s DENIED error')
      t.equal(after.status, 200, 'the image is still served')
      await assertPulls(t, reg, repo('dst'), 'oci', oci)
    }
    obs.record('delete of an image an index lists', { exit: refused.code, denied: /DENIED/.test(refused.stderr), after: after.status })
  })
}

const onTarget = new Observations()
const onReference = new Observations()
let bothRan = false
await scenario(t, `crane against ${target.kind}`, { ...needs, timeout: 240_000 }, (t) => craneScenarios(t, target, onTarget))
if (reference) {
  await scenario(t, 'crane against the reference registry', { ...needs, timeout: 240_000 }, async (t) => {
    await craneScenarios(t, reference, onReference)
    bothRan = true
  })
}
await compareRuns(t, 'crane', needs, onTarget, onReference, () => bothRan)
