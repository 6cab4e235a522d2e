import { randomFillSync } from 'node:crypto'
import type { BenchConfig } from './config.js'
import {
  descriptor, digestOf, makeBlob, MediaTypes, ociIndex, ociManifest, type Blob, type Descriptor, type Manifest, type Platform,
} from '../test/support/index.js'
import { makeBlobSpec, type BlobSpec } from './data.js'
import { check, INDEX_ACCEPT, LoadClient, runPool } from './load-client.js'
import { labelledConfig, MB, memo, seconds, seededRandom, sleep, type Ctx, type Scenario } from './scenario-kit.js'
import { LatencyRecorder } from './stats.js'

/**
 * Scenarios shaped like what users do: reads at a steady rate while others push (mixed), a docker pull
 * of one platform on a cold client (cold-pull), a BuildKit registry cache import (cache-import).
 */

/** Relative layer sizes of a platform image: one big base layer, a few medium ones, many small (sum ~103). */
const LAYER_WEIGHTS = [40, 20, 10, 8, 6, 5, 4, 3, 2, 1.5, 1, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02]
const PLATFORMS: readonly Platform[] = [{ architecture: 'amd64', os: 'linux' }, { architecture: 'arm64', os: 'linux' }]
const CACHE_CONFIG_TYPE = 'application/vnd.buildkit.cacheconfig.v0'

interface PlatformImage { readonly platform: Platform; readonly config: Blob; readonly layers: BlobSpec[]; readonly manifest: Manifest }
interface MultiPlatformImage { readonly repo: string; readonly tag: string; readonly images: PlatformImage[]; readonly index: Manifest }

function makeMultiPlatformImage(config: BenchConfig): MultiPlatformImage {
  const weights = Array.from({ length: config.coldPullLayers }, (_, i) => LAYER_WEIGHTS[i % LAYER_WEIGHTS.length]!)
  const total = weights.reduce((a, b) => a + b, 0)
  const images = PLATFORMS.map((platform) => {
    const layers = weights.map((w) => makeBlobSpec(Math.max(1024, Math.round(config.coldPullPlatformBytes * w / total))))
    const imageConfig = labelledConfig(`cold-pull-${platform.architecture}`, { architecture: platform.architecture, os: platform.os })
    const manifest = ociManifest({
      config: descriptor(imageConfig),
      layers: layers.map((l): Descriptor => ({ mediaType: MediaTypes.ociLayer, digest: l.digest, size: l.size })),
    })
    return { platform, config: imageConfig, layers, manifest }
  })
  const index = ociIndex(images.map((image) => descriptor(image.manifest, MediaTypes.ociManifest, { platform: image.platform })))
  return { repo: 'bench/cold-pull', tag: 'latest', images, index }
}

/** What `docker pull --platform` does on a client with nothing cached; returns the layer bytes pulled (each hashed and checked). */
async function dockerPull(ctx: Ctx, image: MultiPlatformImage, platform: Platform): Promise<number> {
  const client = new LoadClient(ctx.server.url, ctx.config.coldPullConcurrency + 1)
  try {
    const index = JSON.parse((await client.getManifest(image.repo, image.tag, image.index.digest, INDEX_ACCEPT)).toString('utf8')) as { manifests: Descriptor[] }
    const entry = index.manifests.find((m) => m.platform?.architecture === platform.architecture && m.platform?.os === platform.os)
    check(entry !== undefined, `cold pull: no ${platform.os}/${platform.architecture} in the index`)
    const manifest = JSON.parse((await client.getManifest(image.repo, entry.digest, entry.digest)).toString('utf8')) as { config: Descriptor; layers: Descriptor[] }
    await client.pullBlob(image.repo, manifest.config.digest, manifest.config.size)
    let bytes = 0
    await runPool(manifest.layers.length, ctx.config.coldPullConcurrency, async (i) => {
      const layer = manifest.layers[i]!
      bytes += await client.pullBlob(image.repo, layer.digest, layer.size)
    })
    return bytes
  } finally {
    client.close()
  }
}

interface BuildCache { readonly repo: string; readonly tag: string; readonly blobs: Blob[]; readonly config: Blob; readonly index: Manifest }

/** A BuildKit `--cache-to type=registry` export: an index listing the layer blobs and the cache config (a blob, not a manifest). */
function makeBuildCache(config: BenchConfig): BuildCache {
  const random = seededRandom(15)
  const sizes = Array.from({ length: config.cacheBlobs }, () => config.cacheMinBlobSize + Math.floor(random() * (config.cacheMaxBlobSize - config.cacheMinBlobSize + 1)))
  const all = randomFillSync(Buffer.allocUnsafe(sizes.reduce((a, b) => a + b, 0)))
  let offset = 0
  const blobs = sizes.map((size) => {
    const data = all.subarray(offset, offset + size)
    offset += size
    return { data, digest: digestOf(data), size, mediaType: MediaTypes.ociLayer }
  })
  const cacheConfig = makeBlob(JSON.stringify({
    layers: blobs.map((b, i) => ({ blob: b.digest, ...(i > 0 ? { parent: i - 1 } : {}) })),
    records: blobs.map((b, i) => ({ digest: digestOf(`record-${b.digest}`), results: [{ layer: i }] })),
  }), { mediaType: CACHE_CONFIG_TYPE })
  const index = ociIndex([...blobs.map((b) => descriptor(b)), descriptor(cacheConfig)])
  return { repo: 'bench/cache', tag: 'buildcache', blobs, config: cacheConfig, index }
}

/** What `--cache-from type=registry` reads: the index, the cache config, then HEAD and GET of every blob. */
async function importCache(ctx: Ctx, cache: BuildCache): Promise<void> {
  const client = new LoadClient(ctx.server.url, ctx.config.cacheConcurrency)
  try {
    const index = JSON.parse((await client.getManifest(cache.repo, cache.tag, cache.index.digest, INDEX_ACCEPT)).toString('utf8')) as { manifests: Descriptor[] }
    const cacheConfig = index.manifests.find((m) => m.mediaType === CACHE_CONFIG_TYPE)
    check(cacheConfig !== undefined, 'cache import: no cache config in the index')
    await client.getSmallBlob(cache.repo, cacheConfig.digest, cacheConfig.size)
    const layers = index.manifests.filter((m) => m !== cacheConfig)
    check(layers.length === cache.blobs.length, `cache import: ${layers.length} layers in the index, expected ${cache.blobs.length}`)
    await runPool(layers.length, ctx.config.cacheConcurrency, async (i) => {
      const layer = layers[i]!
      check(await client.headBlob(cache.repo, layer.digest) === layer.size, `HEAD blob ${layer.digest}: wrong size`)
      await client.getSmallBlob(cache.repo, layer.digest, layer.size)
    })
  } finally {
    client.close()
  }
}

interface MixedState { readonly repo: string; readonly digests: string[] }

export function buildUserScenarios(config: BenchConfig): Scenario<any>[] {
  // the same content for both servers within a run
  const multiPlatform = memo(() => makeMultiPlatformImage(config))
  const buildCache = memo(() => makeBuildCache(config))
  const platformMiB = Math.round(config.coldPullPlatformBytes / 1024 / 1024)

  const coldPull: Scenario<MultiPlatformImage> = {
    id: 'cold-pull', title: `docker pull of one platform (${config.coldPullLayers} layers, ${platformMiB} MiB) from a 2-platform index, cold client`,
    connections: (c) => c.pushConcurrency,
    async init(ctx) {
      const image = multiPlatform(0)
      const { client } = ctx
      const layers = image.images.flatMap((i) => i.layers)
      await runPool(layers.length, config.pushConcurrency, (i) => client.pushBigBlob(image.repo, layers[i]!))
      for (const platformImage of image.images) {
        await client.pushSmallBlob(image.repo, platformImage.config.data, platformImage.config.digest)
        await client.putManifest(image.repo, platformImage.manifest.digest, platformImage.manifest.body, platformImage.manifest.digest)
      }
      await client.putManifest(image.repo, image.tag, image.index.body, image.index.digest, MediaTypes.ociIndex)
      return image
    },
    phases: [{
      id: 'cold-pull', title: `cold pull: index by tag, platform manifest, config, ${config.coldPullLayers} layers (${platformMiB} MiB) c=${config.coldPullConcurrency}, hashed; one pull per platform`,
      opLabel: 'pull',
      metrics: [
        { key: 'ms', label: 'wall time per pull', unit: 'ms', better: 'lower' },
        { key: 'mbps', label: 'layer throughput', unit: 'MB/s', better: 'higher' },
      ],
      async measure(ctx, image) {
        const start = performance.now()
        let bytes = 0
        for (const { platform } of image.images) bytes += await dockerPull(ctx, image, platform)
        const elapsed = seconds(start)
        return { metrics: { ms: elapsed * 1000 / image.images.length, mbps: bytes / MB / elapsed }, ops: image.images.length }
      },
    }],
  }

  const cacheImport: Scenario<BuildCache> = {
    id: 'cache-import', title: `BuildKit registry cache import (${config.cacheBlobs} blobs of ${config.cacheMinBlobSize / 1024}-${config.cacheMaxBlobSize / 1024} KiB)`,
    connections: (c) => c.cacheConcurrency,
    async init(ctx) {
      const cache = buildCache(0)
      await runPool(cache.blobs.length, config.cacheConcurrency, (i) => ctx.client.pushSmallBlob(cache.repo, cache.blobs[i]!.data, cache.blobs[i]!.digest))
      await ctx.client.pushSmallBlob(cache.repo, cache.config.data, cache.config.digest)
      await ctx.client.putManifest(cache.repo, cache.tag, cache.index.body, cache.index.digest, MediaTypes.ociIndex)
      return cache
    },
    phases: [{
      id: 'cache-import', title: `cache import: index, cache config, HEAD+GET ${config.cacheBlobs} blobs c=${config.cacheConcurrency}, cold client; ${config.cacheImportsPerRound} imports a round`,
      opLabel: 'import',
      metrics: [{ key: 'ms', label: 'wall time per import', unit: 'ms', better: 'lower' }],
      async measure(ctx, cache) {
        const start = performance.now()
        for (let i = 0; i < config.cacheImportsPerRound; i++) await importCache(ctx, cache)
        return { metrics: { ms: seconds(start) * 1000 / config.cacheImportsPerRound }, ops: config.cacheImportsPerRound }
      },
    }],
  }

  const mixed: Scenario<MixedState> = {
    id: 'mixed', title: `Mixed: ${config.mixedReadRate} manifest GETs/s on a clock while ${config.mixedPushers} clients push small images`,
    connections: (c) => c.mixedPushers + c.mixedReadConnections,
    async init(ctx) {
      const base = labelledConfig('mixed')
      await ctx.client.pushSmallBlob('bench/mixed-pull', base.data, base.digest)
      const digests: string[] = []
      await runPool(100, config.fillConcurrency, async (i) => {
        const manifest = ociManifest({ config: descriptor(base), layers: [], annotations: { 'org.wharf.bench': `v${i}` } })
        await ctx.client.putManifest('bench/mixed-pull', `v${i}`, manifest.body, manifest.digest)
        digests[i] = manifest.digest
      })
      return { repo: 'bench/mixed-pull', digests }
    },
    phases: [{
      id: 'mixed',
      title: `mixed: ${config.mixedReadRate} manifest GETs/s open loop over ${config.mixedReadConnections} conns + ${config.mixedPushers} clients pushing images (config + 4 KiB layer + manifest), ${config.mixedSeconds} s`,
      opLabel: 'request',
      metrics: [
        { key: 'images', label: 'images pushed', unit: 'images/s', better: 'higher' },
        { key: 'pushP99', label: 'push p99', unit: 'ms/image', better: 'lower' },
        { key: 'readP99', label: 'read p99 (from scheduled time)', unit: 'ms', better: 'lower' },
        { key: 'reads', label: 'reads achieved', unit: 'reads/s', better: 'higher' },
        { key: 'errors', label: 'errors', unit: 'count', better: 'lower' },
      ],
      measure: (ctx, state, round) => measureMixed(ctx, state, round),
    }],
  }

  return [coldPull, cacheImport, mixed]
}

/**
 * Reads are scheduled on a clock (read k at start + k/rate) and their latency counts from the scheduled
 * time, so a server that falls behind shows its queue in the p99 (no coordinated omission). A read whose
 * time came before the end but that no connection was free to send by then counts with the wait so far
 * and not as achieved. Pushers are closed loop: each pushes its next image as soon as the last one is in.
 */
async function measureMixed(ctx: Ctx, state: MixedState, round: number): Promise<{ metrics: Record<string, number>; ops: number; failures: string[] }> {
  const { client, config } = ctx
  const start = performance.now()
  const deadline = start + config.mixedSeconds * 1000
  const interval = 1000 / config.mixedReadRate
  const scheduled = Math.ceil(config.mixedSeconds * config.mixedReadRate)
  const readLatency = new LatencyRecorder()
  const pushLatency = new LatencyRecorder()
  let nextRead = 0
  let reads = 0
  let images = 0
  let requests = 0
  let errors = 0
  const failures: string[] = []
  const fail = (error: unknown): void => { errors++; if (failures.length < 5) failures.push(`mixed: ${String((error as Error).message ?? error)}`) }
  let readsEnd = start
  const reader = async (): Promise<void> => {
    while (nextRead < scheduled) {
      const k = nextRead++
      const at = start + k * interval
      const wait = at - performance.now()
      if (wait > 0) await sleep(wait)
      if (performance.now() >= deadline) { readLatency.add(performance.now() - at); continue }
      const i = k % state.digests.length
      try {
        await client.getManifest(state.repo, `v${i}`, state.digests[i]!)
        readLatency.add(performance.now() - at)
        reads++
        requests++
      } catch (error) { fail(error) }
    }
    readsEnd = Math.max(readsEnd, performance.now())
  }
  const pusher = async (p: number): Promise<void> => {
    const repo = `bench/mixed-push-${p}`
    for (let n = 0; performance.now() < deadline; n++) {
      const t0 = performance.now()
      try {
        const imageConfig = labelledConfig(`r${round}-p${p}-${n}`)
        const layer = randomFillSync(Buffer.allocUnsafe(4096))
        const layerDigest = digestOf(layer)
        await client.pushSmallBlob(repo, imageConfig.data, imageConfig.digest)
        await client.pushSmallBlob(repo, layer, layerDigest)
        const manifest = ociManifest({ config: descriptor(imageConfig), layers: [{ mediaType: MediaTypes.ociLayerUncompressed, digest: layerDigest, size: layer.length }] })
        await client.putManifest(repo, `r${round}-${n}`, manifest.body, manifest.digest)
        pushLatency.add(performance.now() - t0)
        requests += 5
        images++
      } catch (error) { fail(error) }
    }
  }
  await Promise.all([
    ...Array.from({ length: config.mixedPushers }, (_, p) => pusher(p)),
    ...Array.from({ length: config.mixedReadConnections }, () => reader()),
  ])
  const elapsed = seconds(start)
  return {
    metrics: {
      // reads over the reading time: the schedule's length, or longer while the last answers come in
      images: images / elapsed, pushP99: pushLatency.summary().p99, readP99: readLatency.summary().p99, reads: reads * 1000 / (readsEnd - start), errors,
    },
    ops: requests,
    failures,
  }
}
