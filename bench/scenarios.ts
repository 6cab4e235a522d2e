import type { BenchConfig } from './config.js'
import { descriptor, digestOf, ociManifest, request, type Blob, type Descriptor } from '../test/support/index.js'
import { makeBlobSpec, makeSmallBlobs, type BlobSpec } from './data.js'
import { check, CheckError, LoadClient, MANIFEST_ACCEPT, runForDuration, runPool } from './load-client.js'
import {
  benchAnnotation, labelledConfig, MB, memo, seconds, sleep, type Ctx, type MeasureResult, type MetricDef, type Phase, type Scenario,
} from './scenario-kit.js'
import { LatencyRecorder, median } from './stats.js'
import { buildUserScenarios } from './user-scenarios.js'

export type { Ctx, MeasureResult, MetricDef, Phase, Scenario } from './scenario-kit.js'

function pad(n: number, width = 6): string { return String(n).padStart(width, '0') }

/** A config blob and a small layer pushed to `repo`, for manifests to reference. */
interface ImageBase {
  readonly repo: string
  readonly config: Blob
  readonly layer: Blob
  readonly configDesc: Descriptor
  readonly layerDescs: Descriptor[]
}

async function pushImageBase(client: LoadClient, repo: string, label: string): Promise<ImageBase> {
  const config = labelledConfig(label)
  const [layer] = makeSmallBlobs(1, 4096)
  await client.pushSmallBlob(repo, config.data, config.digest)
  await client.pushSmallBlob(repo, layer!.data, layer!.digest)
  return {
    repo, config, layer: layer!,
    configDesc: descriptor(config),
    layerDescs: [descriptor(layer!)],
  }
}

/** Tags `tag(i)` for i in [from, to), each a distinct manifest; digests[i] records its digest. */
async function fillTags(ctx: Ctx, base: ImageBase, digests: string[], from: number, to: number, tag: (i: number) => string): Promise<number> {
  const start = performance.now()
  let lastLog = start
  await runPool(to - from, ctx.config.fillConcurrency, async (k) => {
    const i = from + k
    const manifest = ociManifest({ config: base.configDesc, layers: base.layerDescs, annotations: benchAnnotation(tag(i)) })
    await ctx.client.putManifest(base.repo, tag(i), manifest.body, manifest.digest)
    digests[i] = manifest.digest
    if (performance.now() - lastLog > 10_000) { lastLog = performance.now(); ctx.log(`  fill ${base.repo}: ${i}/${to}`) }
  })
  return seconds(start)
}

function checkListing(entries: readonly string[], expected: ReadonlySet<string>, what: string, allowExtra: boolean): void {
  const seen = new Set<string>()
  for (const entry of entries) {
    check(!seen.has(entry), `${what}: duplicate entry ${entry}`)
    seen.add(entry)
    if (!allowExtra) check(expected.has(entry), `${what}: unexpected entry ${entry}`)
  }
  for (const name of expected) check(seen.has(name), `${what}: missing ${name} (got ${entries.length} entries, expected ${expected.size})`)
}

/** Times `reps` full listings; returns the median in ms, checked complete each time. */
async function timeListing(ctx: Ctx, path: string, key: 'tags' | 'repositories', expected: ReadonlySet<string>, reps: number, allowExtra: boolean):
  Promise<{ ms: number; pages: number; requests: number }> {
  const times: number[] = []
  let pages = 0
  for (let r = 0; r < reps; r++) {
    const start = performance.now()
    const result = await ctx.client.listAll(path, key, ctx.config.listPageSize)
    times.push(performance.now() - start)
    checkListing(result.entries, expected, `${key} listing`, allowExtra)
    pages = result.pages
  }
  return { ms: median(times), pages, requests: pages * reps }
}

async function measureManifestGets(ctx: Ctx, repo: string, digests: readonly string[], tag: (i: number) => string, count: number): Promise<MeasureResult> {
  const latency = new LatencyRecorder()
  let seed = 12345
  const { ops, elapsedMs } = await runForDuration(ctx.config.scaleGetConnections, ctx.config.scaleGetSeconds * 1000, ctx.config.scaleGetMaxRequests, async () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    const i = seed % count
    const t0 = performance.now()
    await ctx.client.getManifest(repo, tag(i), digests[i]!)
    latency.add(performance.now() - t0)
  })
  const summary = latency.summary()
  return { metrics: { rate: ops / (elapsedMs / 1000), p50: summary.p50, p99: summary.p99 }, ops }
}

/**
 * Restarts the server on its storage and times, from the spawn, the first 200 of GET /v2/ and then of a
 * manifest GET by tag (checked against `digest`), each polled every 5 ms on fresh connections.
 */
async function measureStartup(ctx: Ctx, repo: string, tag: string, digest: string): Promise<MeasureResult> {
  const { spawnedAt, started } = await ctx.server.restart()
  let startError: unknown
  started.catch((error: unknown) => { startError = error })
  const deadline = spawnedAt + 60_000
  const firstOk = async (path: string, headers: Record<string, string>): Promise<{ at: number; body: Buffer }> => {
    for (;;) {
      const attempt = performance.now()
      check(startError === undefined, `restart: ${String(startError)}`)
      check(attempt < deadline, `restart: ${path} did not answer 200 within 60 s`)
      try {
        const response = await request(ctx.server.url, path, { fresh: true, timeoutMs: 10_000, headers })
        if (response.status === 200) return { at: performance.now(), body: response.body }
      } catch { /* not listening yet */ }
      await sleep(attempt + 5 - performance.now())
    }
  }
  const v2 = await firstOk('/v2/', {})
  const manifest = await firstOk(`/v2/${repo}/manifests/${tag}`, { Accept: MANIFEST_ACCEPT })
  check(digestOf(manifest.body) === digest, `restart: GET manifest ${repo}:${tag} after the restart: wrong body`)
  await started
  return { metrics: { v2: v2.at - spawnedAt, manifest: manifest.at - spawnedAt }, ops: 1 }
}

const RATE_GET: MetricDef[] = [
  { key: 'p50', label: 'GET p50', unit: 'ms', better: 'lower' },
  { key: 'p99', label: 'GET p99', unit: 'ms', better: 'lower' },
  { key: 'rate', label: 'GET rate (8 conns)', unit: 'req/s', better: 'higher' },
]

export function buildScenarios(config: BenchConfig): Scenario<any>[] {
  // Data shared by both servers in the same round (each server sees fresh data every round).
  const bigBlobs = memo((round) => Array.from({ length: config.bigBlobCount }, () => makeBlobSpec(config.bigBlobSize)))
  const chunkedBlobs = memo((round) => Array.from({ length: config.chunkedBlobCount }, () => makeBlobSpec(config.bigBlobSize)))
  const smallBlobs = memo((round) => makeSmallBlobs(config.smallBlobCount, config.smallBlobSize))
  const pullBlobs = memo(() => Array.from({ length: config.bigBlobCount }, () => makeBlobSpec(config.bigBlobSize)))
  const bigMB = (count: number): string => `${count} x ${config.bigBlobSize / 1024 / 1024} MiB`

  const push: Scenario<null> = {
    id: 'push', title: `Monolithic push ${bigMB(config.bigBlobCount)}, concurrency ${config.pushConcurrency}`,
    connections: (c) => c.pushConcurrency,
    init: async () => null,
    phases: [{
      id: 'push', title: `push ${bigMB(config.bigBlobCount)} (POST + PUT), c=${config.pushConcurrency}`, opLabel: 'blob',
      metrics: [{ key: 'mbps', label: 'throughput', unit: 'MB/s', better: 'higher' }],
      async measure(ctx, _state, round) {
        const blobs = bigBlobs(round)
        const repo = `bench/push-${round}`
        const start = performance.now()
        await runPool(blobs.length, config.pushConcurrency, (i) => ctx.client.pushBigBlob(repo, blobs[i]!))
        const elapsed = seconds(start)
        for (const blob of blobs) check(await ctx.client.headBlob(repo, blob.digest) === blob.size, `HEAD blob ${blob.digest}: wrong size`)
        return { metrics: { mbps: blobs.length * config.bigBlobSize / MB / elapsed }, ops: blobs.length }
      },
    }],
  }

  const chunked: Scenario<null> = {
    id: 'chunked', title: `Chunked push ${bigMB(config.chunkedBlobCount)}`,
    connections: (c) => c.chunkedConcurrency,
    init: async () => null,
    phases: [{
      id: 'chunked', title: `chunked push ${bigMB(config.chunkedBlobCount)} (${config.chunkSize / 1024 / 1024} MiB PATCHes), c=${config.chunkedConcurrency}`, opLabel: 'blob',
      metrics: [{ key: 'mbps', label: 'throughput', unit: 'MB/s', better: 'higher' }],
      async measure(ctx, _state, round) {
        const blobs = chunkedBlobs(round)
        const repo = `bench/chunked-${round}`
        const start = performance.now()
        await runPool(blobs.length, config.chunkedConcurrency, (i) => ctx.client.pushChunkedBlob(repo, blobs[i]!, config.chunkSize))
        const elapsed = seconds(start)
        for (const blob of blobs) check(await ctx.client.headBlob(repo, blob.digest) === blob.size, `HEAD blob ${blob.digest}: wrong size`)
        return { metrics: { mbps: blobs.length * config.bigBlobSize / MB / elapsed }, ops: blobs.length }
      },
    }],
  }

  const small: Scenario<null> = {
    id: 'small-blobs', title: `${config.smallBlobCount} small blob pushes`,
    connections: (c) => c.smallBlobConcurrency,
    init: async () => null,
    phases: [{
      id: 'small-blobs', title: `${config.smallBlobCount} x ${config.smallBlobSize / 1024} KiB blob pushes, c=${config.smallBlobConcurrency}`, opLabel: 'blob',
      metrics: [{ key: 'rate', label: 'blobs/s', unit: 'blobs/s', better: 'higher' }],
      async measure(ctx, _state, round) {
        const blobs = smallBlobs(round)
        const repo = `bench/small-${round}`
        const start = performance.now()
        await runPool(blobs.length, config.smallBlobConcurrency, (i) => ctx.client.pushSmallBlob(repo, blobs[i]!.data, blobs[i]!.digest))
        const elapsed = seconds(start)
        // spot-check a sample after the clock stopped
        for (let i = 0; i < blobs.length; i += Math.max(1, Math.floor(blobs.length / 50))) {
          check(await ctx.client.headBlob(repo, blobs[i]!.digest) === config.smallBlobSize, 'small blob: wrong size')
        }
        return { metrics: { rate: blobs.length / elapsed }, ops: blobs.length }
      },
    }],
  }

  const pull: Scenario<{ blobs: BlobSpec[] }> = {
    id: 'pull', title: `Pull ${bigMB(config.bigBlobCount)}, hashed`,
    connections: (c) => Math.max(c.pullConcurrency, c.pushConcurrency),
    async init(ctx) {
      const blobs = pullBlobs(0)
      await runPool(blobs.length, config.pushConcurrency, (i) => ctx.client.pushBigBlob('bench/pull', blobs[i]!))
      // one unmeasured pass warms connections, the page cache and the server's code paths
      await runPool(blobs.length, config.pullConcurrency, async (i) => { await ctx.client.pullBlob('bench/pull', blobs[i]!.digest, blobs[i]!.size) })
      return { blobs }
    },
    phases: [{
      id: 'pull', title: `pull ${bigMB(config.bigBlobCount)}, c=${config.pullConcurrency}, every byte hashed`, opLabel: 'blob',
      metrics: [{ key: 'mbps', label: 'throughput', unit: 'MB/s', better: 'higher' }],
      async measure(ctx, state) {
        const start = performance.now()
        let bytes = 0
        await runPool(state.blobs.length, config.pullConcurrency, async (i) => {
          const blob = state.blobs[i]!
          const got = await ctx.client.pullBlob('bench/pull', blob.digest, blob.size)
          bytes += got
        })
        return { metrics: { mbps: bytes / MB / seconds(start) }, ops: state.blobs.length }
      },
    }],
  }

  const manifestPut: Scenario<ImageBase> = {
    id: 'manifest-put', title: `${config.manifestPutCount} manifest PUTs`,
    connections: (c) => c.manifestPutConcurrency,
    init: (ctx) => pushImageBase(ctx.client, 'bench/manifests', 'manifest-put'),
    phases: [{
      id: 'manifest-put', title: `${config.manifestPutCount} manifest PUTs by tag, c=${config.manifestPutConcurrency}`, opLabel: 'PUT',
      metrics: [{ key: 'rate', label: 'PUTs/s', unit: 'PUT/s', better: 'higher' }],
      async measure(ctx, base, round) {
        const manifests = Array.from({ length: config.manifestPutCount }, (_, i) => ociManifest({ config: base.configDesc, layers: base.layerDescs, annotations: benchAnnotation(`r${round}-${i}`) }))
        const start = performance.now()
        await runPool(manifests.length, config.manifestPutConcurrency, (i) =>
          ctx.client.putManifest(base.repo, `r${round}-${pad(i)}`, manifests[i]!.body, manifests[i]!.digest))
        const elapsed = seconds(start)
        for (let i = 0; i < manifests.length; i += Math.max(1, Math.floor(manifests.length / 50))) {
          await ctx.client.headManifest(base.repo, `r${round}-${pad(i)}`, manifests[i]!.digest)
        }
        return { metrics: { rate: manifests.length / elapsed }, ops: manifests.length }
      },
    }],
  }

  const headGet: Scenario<{ base: ImageBase; digests: string[] }> = {
    id: 'head-get', title: 'Manifest HEAD+GET by tag',
    connections: (c) => c.headGetConnections,
    async init(ctx) {
      const base = await pushImageBase(ctx.client, 'bench/headget', 'head-get')
      const digests: string[] = []
      await fillTags(ctx, base, digests, 0, config.headGetTags, (i) => `v${i}`)
      return { base, digests }
    },
    phases: [{
      id: 'head-get', title: `manifest HEAD+GET by tag, ${config.headGetConnections} conns, ${config.headGetSeconds} s`, opLabel: 'request',
      metrics: [
        { key: 'rate', label: 'rate', unit: 'req/s', better: 'higher' },
        { key: 'p50', label: 'p50', unit: 'ms', better: 'lower' },
        { key: 'p99', label: 'p99', unit: 'ms', better: 'lower' },
      ],
      async measure(ctx, state) {
        const latency = new LatencyRecorder()
        const { client } = ctx
        const { repo } = state.base
        const result = await runForDuration(config.headGetConnections, config.headGetSeconds * 1000, 5_000_000, async (_w, seq) => {
          const i = seq % config.headGetTags
          const digest = state.digests[i]!
          let t0 = performance.now()
          await client.headManifest(repo, `v${i}`, digest)
          let t1 = performance.now()
          latency.add(t1 - t0)
          t0 = t1
          await client.getManifest(repo, `v${i}`, digest)
          t1 = performance.now()
          latency.add(t1 - t0)
        })
        const summary = latency.summary()
        return { metrics: { rate: latency.count / (result.elapsedMs / 1000), p50: summary.p50, p99: summary.p99 }, ops: latency.count }
      },
    }],
  }

  const tagTag = (i: number): string => `t${pad(i)}`

  const tagList: Scenario<{ base: ImageBase; expected: Set<string> }> = {
    id: 'tag-list', title: `Tag listing of a ${config.tagListCount}-tag repository`,
    connections: (c) => c.fillConcurrency,
    async init(ctx) {
      const base = await pushImageBase(ctx.client, 'bench/tags', 'tag-list')
      const seconds = await fillTags(ctx, base, [], 0, config.tagListCount, tagTag)
      ctx.log(`  filled ${config.tagListCount} tags in ${seconds.toFixed(1)} s`)
      return { base, expected: new Set(Array.from({ length: config.tagListCount }, (_, i) => tagTag(i))) }
    },
    phases: [{
      id: 'tag-list', title: `full tag listing, ${config.tagListCount} tags, n=${config.listPageSize}`, opLabel: 'listing',
      metrics: [{ key: 'ms', label: 'time', unit: 'ms', better: 'lower' }],
      async measure(ctx, state) {
        const reps = 5
        const result = await timeListing(ctx, `/v2/${state.base.repo}/tags/list?n=${config.listPageSize}`, 'tags', state.expected, reps, false)
        return { metrics: { ms: result.ms }, ops: reps }
      },
    }],
  }

  const catalogName = (i: number): string => `cat/r${pad(i)}`

  interface CatalogState { base: ImageBase; manifest: { body: Buffer; digest: string }; filled: number; expected: Set<string> }
  async function fillRepos(ctx: Ctx, state: CatalogState, to: number): Promise<void> {
    const from = state.filled
    const start = performance.now()
    let lastLog = start
    await runPool(to - from, config.fillConcurrency, async (k) => {
      const repo = catalogName(from + k)
      await ctx.client.mountBlob(repo, state.base.config.digest, state.base.repo, state.base.config.data)
      await ctx.client.putManifest(repo, 'latest', state.manifest.body, state.manifest.digest)
      if (performance.now() - lastLog > 10_000) { lastLog = performance.now(); ctx.log(`  fill repos: ${from + k}/${to}`) }
    })
    for (let i = from; i < to; i++) state.expected.add(catalogName(i))
    state.filled = to
    ctx.log(`  filled ${to - from} repositories in ${seconds(start).toFixed(1)} s`)
  }
  async function initCatalog(ctx: Ctx): Promise<CatalogState> {
    const base = await pushImageBase(ctx.client, 'cat/base', 'catalog')
    const manifest = ociManifest({ config: base.configDesc, layers: [] })
    return { base, manifest, filled: 0, expected: new Set([base.repo]) }
  }
  function catalogPhase(id: string, count: number, reps: number): Phase<CatalogState> {
    return {
      id, title: `full catalog, ${count} repositories, n=${config.listPageSize}`, opLabel: 'listing',
      metrics: [{ key: 'ms', label: 'time', unit: 'ms', better: 'lower' }],
      prepare: (ctx, state) => fillRepos(ctx, state, count),
      async measure(ctx, state) {
        const result = await timeListing(ctx, `/v2/_catalog?n=${config.listPageSize}`, 'repositories', state.expected, reps, true)
        return { metrics: { ms: result.ms }, ops: reps }
      },
    }
  }

  const catalog: Scenario<CatalogState> = {
    id: 'catalog', title: `Catalog of ${config.catalogCount} repositories`,
    connections: (c) => c.fillConcurrency,
    init: initCatalog,
    phases: [catalogPhase('catalog', config.catalogCount, 3)],
  }

  interface ScaleTagState { base: ImageBase; digests: string[]; filled: number; expected: Set<string> }
  const scaleTag = (i: number): string => `s${pad(i)}`
  async function growTags(ctx: Ctx, state: ScaleTagState, to: number): Promise<void> {
    if (to <= state.filled) return
    const took = await fillTags(ctx, state.base, state.digests, state.filled, to, scaleTag)
    for (let i = state.filled; i < to; i++) state.expected.add(scaleTag(i))
    ctx.log(`  filled tags ${state.filled}..${to} in ${took.toFixed(1)} s (${((to - state.filled) / took).toFixed(0)} PUT/s)`)
    state.filled = to
  }
  const scaleListPhase = (id: string, count: number, reps: number): Phase<ScaleTagState> => ({
    id, title: `scale: full tag listing at ${count} tags`, opLabel: 'listing',
    metrics: [{ key: 'ms', label: 'time', unit: 'ms', better: 'lower' }],
    prepare: (ctx, state) => growTags(ctx, state, count),
    async measure(ctx, state) {
      const result = await timeListing(ctx, `/v2/${state.base.repo}/tags/list?n=${config.listPageSize}`, 'tags', state.expected, reps, false)
      return { metrics: { ms: result.ms }, ops: reps }
    },
  })
  const scaleGetPhase = (id: string, count: number): Phase<ScaleTagState> => ({
    id, title: `scale: manifest GET by tag with ${count} tags in the store, ${config.scaleGetConnections} conns`, opLabel: 'GET',
    metrics: RATE_GET,
    prepare: (ctx, state) => growTags(ctx, state, count),
    measure: (ctx, state) => measureManifestGets(ctx, state.base.repo, state.digests, scaleTag, count),
  })
  const scaleRestartPhase: Phase<ScaleTagState> = {
    id: 'scale-restart', title: `scale: restart on the storage of ${config.scaleMax} tags, spawn to first 200 (polled every 5 ms)`, opLabel: 'start',
    metrics: [
      { key: 'v2', label: 'first GET /v2/', unit: 'ms', better: 'lower' },
      { key: 'manifest', label: 'first manifest GET by tag', unit: 'ms', better: 'lower' },
    ],
    // no prepare: the phases before filled the storage; restarting on it is the point
    measure: (ctx, state) => measureStartup(ctx, state.base.repo, scaleTag(state.filled - 1), state.digests[state.filled - 1]!),
  }
  const scaleTags: Scenario<ScaleTagState> = {
    id: 'scale-tags', title: 'Scaling with the number of tags',
    connections: (c) => Math.max(c.fillConcurrency, c.scaleGetConnections),
    async init(ctx) {
      const base = await pushImageBase(ctx.client, 'scale/tags', 'scale-tags')
      return { base, digests: [], filled: 0, expected: new Set<string>() }
    },
    phases: [
      scaleGetPhase('scale-get-small', config.scaleGetSmall),
      scaleListPhase('scale-tags-small', config.scaleTagsSmall, 5),
      scaleGetPhase('scale-get-large', config.scaleMax),
      scaleListPhase('scale-tags-large', config.scaleMax, 1),
      // last: the restart leaves ctx.client's pooled connections to the old process behind
      scaleRestartPhase,
    ],
  }

  const scaleCatalog: Scenario<CatalogState> = {
    id: 'scale-catalog', title: 'Scaling with the number of repositories',
    connections: (c) => c.fillConcurrency,
    init: initCatalog,
    phases: [
      { ...catalogPhase('scale-catalog-small', config.scaleTagsSmall, 3), title: `scale: full catalog at ${config.scaleTagsSmall} repositories` },
      { ...catalogPhase('scale-catalog-large', config.scaleMax, 1), title: `scale: full catalog at ${config.scaleMax} repositories` },
    ],
  }

  const [coldPull, cacheImport, mixed] = buildUserScenarios(config)
  return [push, chunked, small, pull, coldPull!, cacheImport!, manifestPut, headGet, tagList, catalog, mixed!, scaleTags, scaleCatalog]
}

export { CheckError }
