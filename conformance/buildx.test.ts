// docker buildx (v0.28, remote driver) on a private buildkitd (v0.24): a multi-platform build
// with RUN on linux/amd64 and linux/arm64 (emulated) pushed as an index, `imagetools inspect`,
// provenance attestations, registry caches in the three formats BuildKit writes (gzip and zstd)
// imported by a fresh builder, and `imagetools create` across repositories. Everything pushed is
// read back as a fresh client would (every digest verified). The scenario set runs against the
// target registry (Wharf by default) and against the reference registry, and what both runs
// observed is compared (helpers/judges.ts, client-differences.ts). One buildkitd at a time.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { assertPulls, layerFiles } from './helpers/checks.js'
import { createBuildx, startBuildkitd, type Buildkitd, type Buildx } from './helpers/buildkitd.js'
import { startDockerd } from './helpers/daemons.js'
import { missingRequirements, scenario, uniqueSuffix, type Requirements, type Tap } from './helpers/env.js'
import { multiPlatform, newSalt } from './helpers/fixtures.js'
import { compareRuns, Observations, startJudgedRegistries } from './helpers/judges.js'
import { tempDir, type RunResult } from './helpers/proc.js'
import type { RegistryTarget } from './helpers/target.js'
import { MediaTypes, RegistryClient, type PulledTree } from '../test/support/index.js'

const runId = uniqueSuffix()
const salt = newSalt()
const needs: Requirements = { tools: ['buildkitd', 'buildctl', 'dockerBuildx', 'docker', 'dockerd', 'containerd', 'runc', 'qemuAarch64', 'busybox', 'busyboxArm64'], root: true }
const repo = (name: string): string => `conformance/buildx-${runId}/${name}`
const PLATFORMS = ['linux/amd64', 'linux/arm64']
const { target, reference } = await startJudgedRegistries(t)

/** The build context: RUN steps use busybox shell builtins only (all that runs reliably under qemu without binfmt). */
async function writeContext(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, 'Dockerfile'), [
    'ARG BASE',
    'FROM ${BASE}',
    'ARG TARGETPLATFORM',
    'ARG SALT',
    'RUN read base < /etc/wharf-platform; echo "built for $TARGETPLATFORM on $base" > /etc/wharf-built',
    'RUN echo "salt $SALT" > /etc/wharf-run-salt',
    'COPY copied.txt /etc/wharf-copied',
    '',
  ].join('\n'))
  await writeFile(path.join(dir, 'copied.txt'), `copied ${salt}\n`)
}

interface Index { mediaType: string; manifests: Array<{ mediaType: string; digest: string; platform?: { os: string; architecture: string }; annotations?: Record<string, string> }> }
const indexOf = (pulled: PulledTree): Index => JSON.parse(pulled.manifests.get(pulled.digest)!.body.toString('utf8')) as Index
const platformOf = (m: Index['manifests'][number]): string => `${m.platform?.os}/${m.platform?.architecture}`

// One buildkitd (configured for both registries) at a time: the cache import restarts it with fresh state.
let daemon: Buildkitd | undefined
let buildx: Buildx | undefined
const context = await tempDir('buildx-context')
t.teardown(async () => {
  await starting?.catch(() => undefined)
  await buildx?.remove()
  await daemon?.stop()
  await context.remove()
})
const registries = [target.address, ...(reference ? [reference.address] : [])]
let starting: Promise<Buildx> | undefined
/** The current builder, started once (concurrent callers share the start). */
function builder(): Promise<Buildx> {
  starting ??= (async () => {
    daemon = await startBuildkitd(registries)
    buildx = await createBuildx(daemon, `wharf-${runId}-${uniqueSuffix()}`)
    return buildx
  })()
  return starting
}
/** A builder on a new buildkitd with empty state. */
async function freshBuilder(): Promise<{ daemon: Buildkitd; buildx: Buildx }> {
  await starting?.catch(() => undefined)
  await buildx?.remove()
  await daemon?.stop()
  buildx = undefined
  daemon = undefined
  starting = undefined
  const b = await builder()
  return { daemon: daemon!, buildx: b }
}
if (missingRequirements(needs) === undefined) {
  await writeContext(context.path)
  // Start buildkitd while the first run pushes its base image.
  void builder().catch(() => undefined)
}

interface CacheFormat { readonly name: string; readonly options: string; readonly mediaType: string; readonly layerType: RegExp }
// BuildKit v0.24 writes an image manifest by default (config application/vnd.buildkit.cacheconfig.v0);
// image-manifest=false is the older OCI index of blobs, oci-mediatypes=false a Docker manifest list of blobs.
const OCI_GZIP = /^application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip$/
const OCI_ZSTD = /^application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd$/
// force-compression: once a layer exists in both compressions locally, the cache would list both variants.
const GZIP = 'compression=gzip,force-compression=true'
const ZSTD = 'compression=zstd,force-compression=true'
const CACHE_FORMATS: readonly CacheFormat[] = [
  { name: 'default-gzip', options: GZIP, mediaType: MediaTypes.ociManifest, layerType: OCI_GZIP },
  { name: 'default-zstd', options: ZSTD, mediaType: MediaTypes.ociManifest, layerType: OCI_ZSTD },
  { name: 'image-manifest-gzip', options: `image-manifest=true,${GZIP}`, mediaType: MediaTypes.ociManifest, layerType: OCI_GZIP },
  { name: 'oci-index-gzip', options: `image-manifest=false,${GZIP}`, mediaType: MediaTypes.ociIndex, layerType: OCI_GZIP },
  { name: 'oci-index-zstd', options: `image-manifest=false,${ZSTD}`, mediaType: MediaTypes.ociIndex, layerType: OCI_ZSTD },
  { name: 'docker-gzip', options: `oci-mediatypes=false,${GZIP}`, mediaType: MediaTypes.dockerManifestList, layerType: /^application\/vnd\.docker\.image\.rootfs\.diff\.tar\.gzip$/ },
]

/** The scenario set against one registry; `obs` records what a run against any registry should see alike. */
async function buildxScenarios(t: Tap, target: RegistryTarget, obs: Observations): Promise<void> {
  const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
  const ref = (r: string, tag: string): string => `${target.address}/${repo(r)}:${tag}`
  await reg.pushContent(repo('base'), 'busybox', multiPlatform('oci', salt))

  function build(b: Buildx, args: readonly string[], timeoutMs = 240_000): Promise<RunResult> {
    return b.docker(['buildx', 'build', '--builder', b.builder, '--progress', 'plain', '--build-arg', `SALT=${salt}`,
      '--build-arg', `BASE=${ref('base', 'busybox')}`, ...args, context.path], { timeoutMs })
  }

  await t.test('build --platform linux/amd64,linux/arm64 --push: an index with both platforms, RUN on each', { timeout: 300_000 }, async (t) => {
    const b = await builder()
    await build(b, ['--platform', PLATFORMS.join(','), '--provenance=false', '--push', '-t', ref('app', 'v1')])
    const pulled = await assertPulls(t, reg, repo('app'), 'v1')
    const index = indexOf(pulled)
    t.ok(([MediaTypes.ociIndex, MediaTypes.dockerManifestList] as string[]).includes(pulled.mediaType), `the tag is an index (${pulled.mediaType})`)
    t.same(index.manifests.map(platformOf).sort(), PLATFORMS, 'with exactly linux/amd64 and linux/arm64')
    obs.record('multi-platform: the tag', { mediaType: pulled.mediaType, platforms: index.manifests.map(platformOf).sort() })
    const base = await reg.pullVerified(repo('base'), 'busybox')
    for (const child of index.manifests) {
      const arch = child.platform!.architecture
      const files = layerFiles(pulled, child.digest)
      t.equal(files.get('etc/wharf-built')?.data.toString(), `built for linux/${arch} on linux/${arch}\n`, `${arch}: the first RUN ran in the ${arch} base image`)
      t.equal(files.get('etc/wharf-run-salt')?.data.toString(), `salt ${salt}\n`, `${arch}: the second RUN ran`)
      t.equal(files.get('etc/wharf-copied')?.data.toString(), `copied ${salt}\n`, `${arch}: COPY landed`)
      const baseChild = indexOf(base).manifests.find((m) => m.platform?.architecture === arch)!
      const baseLayer = (JSON.parse(base.manifests.get(baseChild.digest)!.body.toString('utf8')) as { layers: Array<{ digest: string }> }).layers[0]!.digest
      const layers = (JSON.parse(pulled.manifests.get(child.digest)!.body.toString('utf8')) as { layers: Array<{ digest: string }> }).layers
      t.equal(layers[0]?.digest, baseLayer, `${arch}: the base layer is reused as pushed`)
      t.equal(layers.length, 4, `${arch}: base + two RUN + COPY layers`)
      obs.record(`multi-platform: ${arch} image`, { layers: layers.length, built: files.get('etc/wharf-built')?.data.toString(), mediaType: child.mediaType })
    }

    const inspect = await b.docker(['buildx', 'imagetools', 'inspect', ref('app', 'v1')], { timeoutMs: 60_000 })
    t.match(inspect.stdout, new RegExp(`Digest:\\s+${pulled.digest}`), 'imagetools inspect shows the index digest')
    for (const child of index.manifests) {
      t.match(inspect.stdout, new RegExp(`${child.digest}\\n(?:.*\\n){0,3}?\\s*Platform:\\s+${platformOf(child)}\\n`), `imagetools inspect lists ${platformOf(child)} with its digest`)
    }
    const raw = await b.docker(['buildx', 'imagetools', 'inspect', '--raw', ref('app', 'v1')], { timeoutMs: 60_000 })
    t.same(JSON.parse(raw.stdout), indexOf(pulled), 'imagetools inspect --raw shows the index as served')
    obs.record('multi-platform: imagetools inspect lists', index.manifests.map((m) => inspect.stdout.includes(m.digest) ? platformOf(m) : 'missing').sort())
  })

  await t.test('a private dockerd pulls each platform of the index and runs the amd64 image', { timeout: 240_000 }, async (t) => {
    const pulled = await reg.pullVerified(repo('app'), 'v1')
    const children = new Map(indexOf(pulled).manifests.map((m) => [m.platform!.architecture, m.digest]))
    const dockerd = await startDockerd([target.address])
    t.teardown(() => dockerd.stop())
    const seen: Record<string, unknown> = {}
    for (const arch of ['arm64', 'amd64']) {
      await dockerd.docker(['pull', '--platform', `linux/${arch}`, ref('app', 'v1')])
      const [inspect] = JSON.parse((await dockerd.docker(['image', 'inspect', ref('app', 'v1')])).stdout) as Array<{ Architecture: string; RepoDigests: string[] }>
      t.equal(inspect?.Architecture, arch, `pull --platform linux/${arch} pulled the ${arch} image`)
      t.ok(inspect?.RepoDigests.includes(`${target.address}/${repo('app')}@${pulled.digest}`), 'RepoDigests names the index digest')
      seen[arch] = inspect?.Architecture
      if (arch === 'arm64') await dockerd.docker(['rmi', ref('app', 'v1')])
    }
    const ran = await dockerd.docker(['run', '--rm', '--network', 'none', ref('app', 'v1'), 'cat', '/etc/wharf-built', '/etc/wharf-copied'])
    t.equal(ran.stdout, `built for linux/amd64 on linux/amd64\ncopied ${salt}\n`, 'docker run of the amd64 image prints what RUN and COPY wrote')
    t.ok(children.has('amd64') && children.has('arm64'), 'both platforms were in the index')
    obs.record('dockerd: pulled and ran', { ...seen, ran: ran.stdout.split('\n')[0] })
  })

  await t.test('build --provenance=mode=max --push: attestation manifests in the index, imagetools shows the provenance', { timeout: 240_000 }, async (t) => {
    const b = await builder()
    await build(b, ['--platform', PLATFORMS.join(','), '--provenance=mode=max', '--push', '-t', ref('app', 'prov')])
    const pulled = await assertPulls(t, reg, repo('app'), 'prov')
    const index = indexOf(pulled)
    const images = index.manifests.filter((m) => m.platform?.architecture !== 'unknown')
    const attestations = index.manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest')
    t.same(images.map(platformOf).sort(), PLATFORMS, 'both platform images')
    t.equal(attestations.length, 2, 'one attestation manifest per platform image')
    t.same(attestations.map((a) => a.annotations!['vnd.docker.reference.digest']).sort(), images.map((m) => m.digest).sort(), 'each attestation names its image')
    t.ok(attestations.every((a) => platformOf(a) === 'unknown/unknown'), 'attestations carry platform unknown/unknown')
    obs.record('provenance: index entries', index.manifests.map((m) => `${platformOf(m)} ${m.annotations?.['vnd.docker.reference.type'] ?? 'image'}`).sort())
    for (const a of attestations) {
      const manifest = JSON.parse(pulled.manifests.get(a.digest)!.body.toString('utf8')) as { layers: Array<{ mediaType: string; digest: string; annotations?: Record<string, string> }> }
      const statement = manifest.layers.find((l) => l.mediaType === MediaTypes.inToto)
      t.match(statement?.annotations?.['in-toto.io/predicate-type'] ?? '', /^https:\/\/slsa\.dev\/provenance\//, 'an in-toto SLSA provenance layer')
      const body = JSON.parse(pulled.blobs.get(statement!.digest)!.toString('utf8')) as { predicate?: { buildDefinition?: unknown; invocation?: unknown } }
      t.ok(body.predicate?.buildDefinition ?? body.predicate?.invocation, 'the provenance statement (served byte-exact) has its build definition')
    }
    const shown = await b.docker(['buildx', 'imagetools', 'inspect', '--format', '{{json .Provenance}}', ref('app', 'prov')], { timeoutMs: 60_000 })
    const provenance = JSON.parse(shown.stdout) as Record<string, { SLSA?: unknown }>
    t.same(Object.keys(provenance).sort(), PLATFORMS, 'imagetools inspect --format {{json .Provenance}} shows both platforms')
    t.ok(Object.values(provenance).every((p) => p.SLSA !== undefined && p.SLSA !== null), 'each with its SLSA provenance')
    obs.record('provenance: imagetools inspect shows', Object.keys(provenance).sort())
  })

  const cacheRef = (format: CacheFormat): string => ref('cache', `buildcache-${format.name}`)

  await t.test('build --cache-to type=registry,mode=max in the three cache formats, gzip and zstd', { timeout: 300_000 }, async (t) => {
    const b = await builder()
    for (const format of CACHE_FORMATS) {
      await build(b, ['--platform', 'linux/amd64', '--cache-to', `type=registry,ref=${cacheRef(format)},mode=max,${format.options}`])
      const pulled = await assertPulls(t, reg, repo('cache'), `buildcache-${format.name}`)
      t.equal(pulled.mediaType, format.mediaType, `${format.name}: the cache is a ${format.mediaType}`)
      const top = JSON.parse(pulled.manifests.get(pulled.digest)!.body.toString('utf8')) as { config?: { mediaType: string }; manifests?: Array<{ mediaType: string }>; layers?: Array<{ mediaType: string }> }
      const entries = top.layers ?? top.manifests ?? []
      const config = top.config ?? entries.find((e) => e.mediaType === MediaTypes.buildkitCacheConfig)
      t.equal(config?.mediaType, MediaTypes.buildkitCacheConfig, `${format.name}: it names its cache config`)
      const layers = entries.filter((e) => e.mediaType !== MediaTypes.buildkitCacheConfig)
      t.equal(layers.length, 4, `${format.name}: the four layers of the build (base, two RUN, COPY) are in the cache`)
      t.same(layers.filter((l) => !format.layerType.test(l.mediaType)).map((l) => l.mediaType), [], `${format.name}: layers are ${format.layerType.source}`)
      obs.record(`cache-to ${format.name}`, { mediaType: pulled.mediaType, config: config?.mediaType, layers: layers.map((l) => l.mediaType) })
    }
  })

  await t.test('a fresh builder with --cache-from reports every step CACHED, for every cache format', { timeout: 300_000 }, async (t) => {
    // New buildkitd state: the daemon that built and exported is stopped, its state removed.
    const { daemon, buildx: fresh } = await freshBuilder()
    for (const format of CACHE_FORMATS) {
      // Each import starts from empty local state: nothing but the registry cache can satisfy the steps.
      await daemon.buildctl(['prune', '--all'], { timeoutMs: 60_000 })
      const out = await build(fresh, ['--platform', 'linux/amd64', '--cache-from', `type=registry,ref=${cacheRef(format)}`])
      const log = out.stderr + out.stdout
      // plain progress names a step on its first line ("#6 [2/4] RUN …") and may repeat it when output interleaves.
      const steps = [...new Map([...log.matchAll(/^#(\d+) \[\d+\/\d+\] (RUN|COPY) .*$/gm)].map((m) => [m[1], m])).values()]
      t.equal(steps.length, 3, `${format.name}: the build ran the two RUN steps and the COPY`)
      for (const [line, id] of steps) t.match(log, new RegExp(`^#${id} CACHED$`, 'm'), `${format.name}: ${line.replace(/^#\d+ /, '')} CACHED`)
      obs.record(`cache-from ${format.name}: steps CACHED`, steps.map(([line, id]) => `${/\[\d+\/\d+\] \w+/.exec(line)![0]} ${new RegExp(`^#${id} CACHED$`, 'm').test(log)}`).sort())
    }
  })

  await t.test('imagetools create combines two single-platform images, one from another repository', { timeout: 240_000 }, async (t) => {
    const b = await builder()
    await build(b, ['--platform', 'linux/arm64', '--provenance=false', '--push', '-t', ref('arm-only', 'v1')])
    const app = await reg.pullVerified(repo('app'), 'v1')
    const amd = indexOf(app).manifests.find((m) => m.platform?.architecture === 'amd64')!
    const arm = await reg.pullVerified(repo('arm-only'), 'v1')
    await b.docker(['buildx', 'imagetools', 'create', '-t', ref('combined', 'v1'),
      `${target.address}/${repo('app')}@${amd.digest}`, ref('arm-only', 'v1')], { timeoutMs: 120_000 })
    const combined = await assertPulls(t, reg, repo('combined'), 'v1')
    const index = indexOf(combined)
    t.same(index.manifests.map((m) => [platformOf(m), m.digest]).sort(), [['linux/amd64', amd.digest], ['linux/arm64', arm.digest]],
      'the list names both images by their digests, with their platforms')
    t.ok([...arm.blobs.keys()].every((d) => combined.blobs.get(d) !== undefined), 'every blob of the other repository\'s image is served from the combined repository')
    obs.record('imagetools create: the list', { mediaType: combined.mediaType, platforms: index.manifests.map(platformOf).sort(), blobs: combined.blobs.size })
  })
}

const onTarget = new Observations()
const onReference = new Observations()
let bothRan = false
await scenario(t, `buildx against ${target.kind}`, { ...needs, timeout: 600_000 }, (t) => buildxScenarios(t, target, onTarget))
if (reference) {
  await scenario(t, 'buildx against the reference registry', { ...needs, timeout: 600_000 }, async (t) => {
    await buildxScenarios(t, reference, onReference)
    bothRan = true
  })
}
await compareRuns(t, 'buildx', needs, onTarget, onReference, () => bothRan)
