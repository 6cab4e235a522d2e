/**
 * Page load times of the web UI on a registry with many tags: one repository of N distinct images
 * (each its own config, one shared layer), each tagged, plus the time of each page as a browser
 * asks for it (HTML only; the assets are cached immutable). Each page is fetched `--rounds`
 * times after one warm-up; the median and the worst are reported.
 *
 *   node dist/bench/ui-pages.js [--tags 10000] [--rounds 20]
 */
import { performance } from 'node:perf_hooks'
import { configBlob, descriptor, makeBlob, ociManifest, request, RegistryClient, startWharf } from '../test/support/index.js'

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}

const TAGS = option('tags', 10_000)
const ROUNDS = option('rounds', 20)
const REPO = 'bench/big'

const wharf = await startWharf()
try {
  const client = new RegistryClient(wharf.url)
  const layer = makeBlob(4096)
  await client.pushBlob(REPO, layer)
  const started = performance.now()
  let next = 0
  let lastDigest = ''
  // Eight pushers at once: a config blob and a manifest each.
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < TAGS) {
      const i = next++
      const config = configBlob({ architecture: i % 2 === 0 ? 'amd64' : 'arm64' })
      await client.pushBlobMonolithic(REPO, config)
      const manifest = ociManifest({ config: descriptor(config), layers: [descriptor(layer)] })
      await client.pushManifest(REPO, `v${String(i).padStart(5, '0')}`, manifest)
      lastDigest = manifest.digest
    }
  }))
  console.log(`seeded ${TAGS} tags in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  const pages = [
    ['repositories', '/'],
    ['repositories, filtered', '/?q=big'],
    ['tags by name (first 100)', `/repositories/${REPO}`],
    ['tags by time (first 100)', `/repositories/${REPO}?sort=time`],
    ['tags filtered', `/repositories/${REPO}?q=v099`],
    ['an image', `/repositories/${REPO}/manifests/${lastDigest}`],
    ['disk usage (per tag)', '/usage'],
    // The JSON the pages are made from, for comparison: what the page adds is the rendering.
    ['JSON: repositories', '/_wharf/v1/repositories?n=100'],
    ['JSON: tags (first 100)', `/_wharf/v1/repositories/${REPO}/tags?n=100`],
    ['JSON: disk usage per tag', '/_wharf/v1/du?tags=true'],
  ] as const
  console.log('| page | median ms | max ms | body KiB |')
  console.log('|---|---|---|---|')
  for (const [name, path] of pages) {
    const first = await request(wharf.url, path)
    if (first.status !== 200) throw new Error(`${path}: ${first.status}`)
    const times: number[] = []
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now()
      const res = await request(wharf.url, path)
      times.push(performance.now() - t0)
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`)
    }
    times.sort((a, b) => a - b)
    console.log(`| ${name} | ${times[Math.floor(times.length / 2)]!.toFixed(1)} | ${times.at(-1)!.toFixed(1)} | ${(first.bodyLength / 1024).toFixed(0)} |`)
  }
} finally {
  await wharf.stop({ removeStorage: true })
}
