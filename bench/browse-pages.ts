/**
 * How fast the UI's JSON API answers on a large registry: one repository with 10,000 tags (each a
 * distinct manifest, images and indexes) and 10,000 repositories, pushed over HTTP to a real
 * `wharf serve`; then each page kind is fetched repeatedly and the median and 95th percentile
 * times reported (first page, a middle page by cursor, sorted by time, filtered, a manifest).
 *
 *   node dist/bench/browse-pages.js [--tags N] [--repos N] [--rounds N]
 */
import { performance } from 'node:perf_hooks'
import {
  configBlob, descriptor, imageManifest, makeBlob, ociIndex, RegistryClient, startWharf, tempDir, writeConfig, type Manifest,
} from '../test/support/index.js'

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}

/** Runs `each` over `items`, `parallel` at a time. */
async function inParallel<T>(items: readonly T[], parallel: number, each: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < items.length) await each(items[next++]!)
  }))
}

async function timed(client: RegistryClient, path: string, rounds: number): Promise<{ median: number; p95: number; bytes: number }> {
  const times: number[] = []
  let bytes = 0
  for (let i = 0; i < rounds; i++) {
    const start = performance.now()
    const res = await client.get(path)
    times.push(performance.now() - start)
    if (res.status !== 200) throw new Error(`${path}: ${res.describe()}`)
    bytes = res.body.length
  }
  times.sort((a, b) => a - b)
  return { median: times[Math.floor(times.length / 2)]!, p95: times[Math.min(times.length - 1, Math.floor(times.length * 0.95))]!, bytes }
}

const tagCount = option('tags', 10_000)
const repoCount = option('repos', 10_000)
const rounds = option('rounds', 30)
const configFile = await writeConfig(await tempDir('browse-bench'), { gc: { intervalSeconds: 0 }, log: { level: 'info' } })
const wharf = await startWharf({ extraArgs: ['--config', configFile] })
const client = new RegistryClient(wharf.url)
try {
  const repo = 'bench/tags'
  const config = configBlob()
  const arm = configBlob({ architecture: 'arm64' })
  const layer = makeBlob(1 << 16)
  for (const b of [config, arm, layer]) await client.pushBlob(repo, b)
  const child = await client.pushManifest(repo, 'child-amd64', imageManifest(config, [layer]))
  const armChild = await client.pushManifest(repo, 'child-arm64', imageManifest(arm, [layer]))
  let t0 = performance.now()
  // Every 10th tag an index of two platforms; the others distinct images (an annotation each).
  await inParallel(Array.from({ length: tagCount }, (_, i) => i), 8, async (i) => {
    const manifest: Manifest = i % 10 === 0
      ? ociIndex([descriptor(child, undefined, { platform: { os: 'linux', architecture: 'amd64' } }), descriptor(armChild, undefined, { platform: { os: 'linux', architecture: 'arm64' } })], { annotations: { n: String(i) } })
      : imageManifest(config, [layer], { annotations: { n: String(i) } })
    await client.pushManifest(repo, `v${String(i).padStart(5, '0')}`, manifest)
  })
  console.log(`pushed ${tagCount} tags in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  t0 = performance.now()
  await inParallel(Array.from({ length: repoCount }, (_, i) => i), 8, async (i) => {
    const name = `org${i % 100}/app-${String(i).padStart(5, '0')}`
    const mounted = await client.mountBlob(name, config.digest, repo)
    const mountedLayer = await client.mountBlob(name, layer.digest, repo)
    if (mounted.status !== 201 || mountedLayer.status !== 201) throw new Error(`mount into ${name}: ${mounted.status}`)
    await client.pushManifest(name, 'latest', imageManifest(config, [layer], { annotations: { n: String(i) } }))
  })
  console.log(`pushed ${repoCount} repositories in ${((performance.now() - t0) / 1000).toFixed(1)} s`)

  const firstPage = await client.getJson<{ next: string }>(`/_wharf/v1/repositories/${repo}/tags?n=50`)
  let cursor = firstPage.next
  for (let i = 0; i < 99; i++) cursor = (await client.getJson<{ next?: string }>(`/_wharf/v1/repositories/${repo}/tags?n=50&cursor=${encodeURIComponent(cursor)}`)).next ?? cursor
  const index = (await client.getJson<{ tags: Array<{ digest: string }> }>(`/_wharf/v1/repositories/${repo}/tags?n=1&filter=v00000`)).tags[0]!.digest
  // The first list page computes the sizes of the 10,000-manifest repository (then reused while it is unchanged).
  const t1 = performance.now()
  const repoPage = await client.getJson<{ next: string }>('/_wharf/v1/repositories?n=50')
  const firstListMs = performance.now() - t1
  let repoCursor = repoPage.next
  for (let i = 0; i < 99; i++) repoCursor = (await client.getJson<{ next?: string }>(`/_wharf/v1/repositories?n=50&cursor=${encodeURIComponent(repoCursor)}`)).next ?? repoCursor
  const cases: Array<[string, string]> = [
    ['tags: first page of 50 by name', `/_wharf/v1/repositories/${repo}/tags?n=50`],
    ['tags: page 100 of 50 by cursor', `/_wharf/v1/repositories/${repo}/tags?n=50&cursor=${encodeURIComponent(cursor)}`],
    ['tags: first page of 50, newest first', `/_wharf/v1/repositories/${repo}/tags?n=50&sort=time`],
    ['tags: filter "v099" (110 matches)', `/_wharf/v1/repositories/${repo}/tags?n=50&filter=v099`],
    ['tags: a page of 1000', `/_wharf/v1/repositories/${repo}/tags?n=1000`],
    ['manifest: an index in detail', `/_wharf/v1/repositories/${repo}/manifests/${index}`],
    ['delete preview: an index by digest', `/_wharf/v1/repositories/${repo}/delete-preview?digest=${index}`],
    ['repositories: first page of 50', '/_wharf/v1/repositories?n=50'],
    ['repositories: page 100 of 50 by cursor', `/_wharf/v1/repositories?n=50&cursor=${encodeURIComponent(repoCursor)}`],
    ['repositories: filter "org7/" (100 matches)', '/_wharf/v1/repositories?n=50&filter=org7/'],
  ]
  console.log(`first repositories page, sizes not computed yet: ${firstListMs.toFixed(1)} ms`)
  console.log(`| page (${tagCount} tags in one repository, ${repoCount + 1} repositories) | median ms | p95 ms | bytes |`)
  console.log('|---|---:|---:|---:|')
  for (const [label, path] of cases) {
    const r = await timed(client, path, rounds)
    console.log(`| ${label} | ${r.median.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.bytes} |`)
  }
} finally {
  await wharf.stop({ removeStorage: true })
}
