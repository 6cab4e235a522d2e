/**
 * Seeds a registry the way a busy team's looks, fast, for the UI's tests, benchmark and screenshots:
 *
 *   node dist/bench/ui/seed.js URL [--repositories 10000] [--tags-per-repository 3]
 *                                  [--big-tags 10000] [--concurrency 48]
 *
 * Repositories named team/service with a few tags each, one repository with many tags, a buildx
 * multi-platform index with attestations, an image with a cosign signature and an SPDX SBOM as
 * referrers, and a BuildKit cache. Blobs are shared: the base layers are uploaded once and mounted
 * everywhere, so a repository costs one config and one small layer upload plus its manifest PUTs.
 */
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { makeBlob, type Blob } from '../../test/support/index.js'
import { runPool } from '../load-client.js'
import { buildkitCache, imageConfig, imageManifestOf, multiPlatformIndex, referrersOf } from './seed-content.js'
import { SeedPusher } from './seed-pusher.js'

export interface SeedOptions {
  readonly repositories?: number
  readonly tagsPerRepository?: number
  /** Tags of the one big repository (0: none). */
  readonly bigRepositoryTags?: number
  /** Requests in flight. */
  readonly concurrency?: number
  readonly log?: (line: string) => void
}

export interface SeededReference {
  readonly repository: string
  readonly tag: string
  readonly digest: string
}

export interface SeedResult {
  readonly repositories: readonly string[]
  readonly tags: number
  readonly manifests: number
  readonly big?: { readonly repository: string; readonly tags: number; readonly oldestTag: string; readonly newestTag: string }
  /** The buildx multi-platform index; `children` are its two images and two attestation manifests. */
  readonly index: SeededReference & { readonly children: readonly string[] }
  /** An image with a cosign signature and an SPDX SBOM referring to it. */
  readonly signed: SeededReference & { readonly referrers: readonly string[] }
  readonly cache: SeededReference
  /** The base image every repository's layers are mounted from. */
  readonly base: SeededReference
  readonly requests: number
  readonly ms: number
}

const TEAMS = ['platform', 'payments', 'search', 'identity', 'checkout', 'data', 'mobile', 'infra', 'growth', 'ml',
  'billing', 'catalog', 'support', 'security', 'media', 'ads', 'maps', 'mail', 'chat', 'edge', 'risk', 'ledger', 'ops', 'web', 'labs']
const SERVICES = ['api', 'worker', 'gateway', 'scheduler', 'indexer', 'frontend', 'auth', 'notifier', 'exporter', 'ingest',
  'cron', 'proxy', 'cache', 'router', 'reports', 'uploader', 'resizer', 'webhooks', 'sync', 'admin', 'billing-api', 'events',
  'feeds', 'ranker', 'crawler', 'mailer', 'metrics', 'audit', 'session', 'profile', 'orders', 'inventory', 'pricing', 'quotes',
  'ledger-api', 'tokens', 'vault-agent', 'sidecar', 'migrator', 'console']

/** The i-th repository name: team/service, with a suffix once the combinations run out (unique for every i). */
export function repositoryName(i: number): string {
  const combos = TEAMS.length * SERVICES.length
  const base = `${TEAMS[i % TEAMS.length]}/${SERVICES[Math.floor(i / TEAMS.length) % SERVICES.length]}`
  return i < combos ? base : `${base}-${Math.floor(i / combos) + 1}`
}

/** A tag of the big repository: CI's sha-<commit> tags with a release every hundredth (name order is not push order). */
function bigTag(i: number): string {
  return i % 100 === 99 ? `v1.${Math.floor(i / 100)}.0` : `sha-${(Math.imul(i + 1, 2654435761) >>> 0).toString(16).padStart(8, '0').slice(0, 7)}`
}

const BASE = { repository: 'library/debian', tag: 'bookworm-slim' }

export async function seedRegistry(url: string, options: SeedOptions = {}): Promise<SeedResult> {
  const { repositories = 10_000, tagsPerRepository = 3, bigRepositoryTags = 10_000, concurrency = 48, log = () => undefined } = options
  const started = performance.now()
  const pusher = new SeedPusher(url, concurrency)
  let tags = 0
  let manifests = 0
  const now = Date.now()
  try {
    // The base image: its layers are the ones every other repository mounts.
    const baseLayers: Blob[] = [makeBlob(2 * 1024 * 1024), makeBlob(512 * 1024)]
    const baseConfig = imageConfig({ repository: BASE.repository, version: '12.8', created: new Date(now - 30 * 86_400_000), layers: baseLayers })
    const baseManifest = imageManifestOf(baseConfig, baseLayers)
    await pusher.plan(BASE.repository, { blobs: [...baseLayers, baseConfig], children: [], manifest: baseManifest }, BASE.tag)
    tags++; manifests++
    // Images built FROM it share its big layer (one mount per repository keeps seeding quick).
    const shared = baseLayers[0]!
    const mountBase = (repo: string): Promise<void> => pusher.mount(repo, shared.digest, BASE.repository)

    const names = Array.from({ length: repositories }, (_, i) => repositoryName(i))
    await runPool(names.length, concurrency, async (i) => {
      const repo = names[i]!
      const minor = i % 17
      const appLayer = makeBlob(4096 + (i % 64) * 512)
      const layers = [shared, appLayer]
      const config = imageConfig({ repository: repo, version: `1.${minor}.${tagsPerRepository}`, created: new Date(now - i * 60_000), layers })
      await Promise.all([mountBase(repo), pusher.blob(repo, appLayer), pusher.blob(repo, config)])
      // Older versions differ from the newest by their revision annotation: distinct manifests, no more blobs.
      const digests = new Set<string>()
      for (let t = 0; t < tagsPerRepository; t++) {
        const newest = t >= tagsPerRepository - 2
        const tag = t === tagsPerRepository - 1 ? 'latest' : `1.${minor}.${t}`
        const manifest = imageManifestOf(config, layers, { annotations: { 'org.opencontainers.image.revision': newest ? 'newest' : `rev-${t}` } })
        await pusher.manifest(repo, tag, manifest)
        tags++
        digests.add(manifest.digest)
      }
      manifests += digests.size
    })
    log(`${repositories} repositories, ${tags} tags: ${((performance.now() - started) / 1000).toFixed(1)} s`)

    let big: SeedResult['big']
    if (bigRepositoryTags > 0) {
      const repo = 'ci/monorepo-builds'
      const appLayer = makeBlob(96 * 1024)
      const layers = [shared, appLayer]
      const configs = Array.from({ length: 16 }, (_, c) => imageConfig({ repository: repo, version: `build-${c}`, created: new Date(now - c * 3_600_000), layers }))
      await Promise.all([mountBase(repo), pusher.blob(repo, appLayer), ...configs.map((config) => pusher.blob(repo, config))])
      // Pushed in build order (roughly, with `concurrency` in flight), so push time follows the build number.
      await runPool(bigRepositoryTags, concurrency, async (i) => {
        const manifest = imageManifestOf(configs[i % configs.length]!, layers, { annotations: { 'org.opencontainers.image.revision': randomBytes(20).toString('hex'), 'com.example.build': String(i) } })
        await pusher.manifest(repo, bigTag(i), manifest)
      })
      tags += bigRepositoryTags; manifests += bigRepositoryTags
      big = { repository: repo, tags: bigRepositoryTags, oldestTag: bigTag(0), newestTag: bigTag(bigRepositoryTags - 1) }
      log(`${repo}: ${bigRepositoryTags} tags: ${((performance.now() - started) / 1000).toFixed(1)} s`)
    }

    const indexRepo = 'platform/multiarch-app'
    const indexPlan = multiPlatformIndex(indexRepo, '2.4.0', [shared], new Date(now - 86_400_000))
    await mountBase(indexRepo)
    await pusher.plan(indexRepo, indexPlan, '2.4.0')
    tags++; manifests += 1 + indexPlan.children.length

    const signedRepo = 'security/signed-app'
    const signedLayer = makeBlob(64 * 1024)
    const signedLayers = [shared, signedLayer]
    const signedConfig = imageConfig({ repository: signedRepo, version: '3.1.0', created: new Date(now - 7_200_000), layers: signedLayers })
    const signedManifest = imageManifestOf(signedConfig, signedLayers)
    await mountBase(signedRepo)
    await pusher.plan(signedRepo, { blobs: [signedLayer, signedConfig], children: [], manifest: signedManifest }, '3.1.0')
    const referrers = referrersOf(signedManifest, signedRepo, '3.1.0')
    for (const plan of referrers) await pusher.plan(signedRepo, plan)
    tags++; manifests += 1 + referrers.length

    const cacheRepo = 'ci/buildcache'
    const cachePlan = buildkitCache([shared, makeBlob(128 * 1024)])
    await mountBase(cacheRepo)
    await pusher.plan(cacheRepo, cachePlan, 'main')
    tags++; manifests++

    const extraRepos = [BASE.repository, ...(big ? [big.repository] : []), indexRepo, signedRepo, cacheRepo]
    return {
      repositories: [...names, ...extraRepos].filter((name, i, all) => all.indexOf(name) === i),
      tags, manifests,
      ...(big ? { big } : {}),
      index: { repository: indexRepo, tag: '2.4.0', digest: indexPlan.manifest.digest, children: indexPlan.children.map((child) => child.digest) },
      signed: { repository: signedRepo, tag: '3.1.0', digest: signedManifest.digest, referrers: referrers.map((plan) => plan.manifest.digest) },
      cache: { repository: cacheRepo, tag: 'main', digest: cachePlan.manifest.digest },
      base: { repository: BASE.repository, tag: BASE.tag, digest: baseManifest.digest },
      requests: pusher.requests,
      ms: performance.now() - started,
    }
  } finally {
    pusher.close()
  }
}

function parseArgs(argv: readonly string[]): { url: string; options: SeedOptions } {
  const usage = (): never => {
    process.stderr.write('usage: node dist/bench/ui/seed.js URL [--repositories N] [--tags-per-repository N] [--big-tags N] [--concurrency N]\n')
    process.exit(2)
  }
  const numbers: Record<string, number> = {}
  let url: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) { url ??= arg; continue }
    const value = Number(argv[++i])
    if (!Number.isSafeInteger(value) || value < 0) usage()
    numbers[arg] = value
  }
  if (url === undefined) return usage()
  const known = { '--repositories': 'repositories', '--tags-per-repository': 'tagsPerRepository', '--big-tags': 'bigRepositoryTags', '--concurrency': 'concurrency' } as const
  const options: Record<string, number> = {}
  for (const [flag, value] of Object.entries(numbers)) {
    const key = known[flag as keyof typeof known]
    if (key === undefined) usage()
    else options[key] = value
  }
  return { url, options }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url, options } = parseArgs(process.argv.slice(2))
  const result = await seedRegistry(url, { ...options, log: (line) => process.stderr.write(`${line}\n`) })
  const lines = [
    `seeded ${url} in ${(result.ms / 1000).toFixed(1)} s (${result.requests} requests, ${Math.round(result.requests / (result.ms / 1000))}/s)`,
    `  ${result.repositories.length} repositories, ${result.tags} tags, ${result.manifests} manifests`,
    ...(result.big ? [`  many tags:   ${result.big.repository} (${result.big.tags} tags, ${result.big.oldestTag} .. ${result.big.newestTag})`] : []),
    `  index:       ${result.index.repository}:${result.index.tag} ${result.index.digest} (amd64, arm64 + 2 attestations)`,
    `  referrers:   ${result.signed.repository}:${result.signed.tag} ${result.signed.digest} (cosign signature, SPDX SBOM)`,
    `  cache:       ${result.cache.repository}:${result.cache.tag} ${result.cache.digest} (BuildKit cache)`,
    `  base:        ${result.base.repository}:${result.base.tag} ${result.base.digest}`,
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}
