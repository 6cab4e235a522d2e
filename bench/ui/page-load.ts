/**
 * Page load times of the web UI on a big registry (npm run bench:ui):
 *
 *   node dist/bench/ui/page-load.js [--repositories 10000] [--tags 10000] [--runs 15]
 *
 * Starts Wharf on temp storage, seeds it (bench/ui/seed.ts), then opens the pages in headless
 * chromium and reads Navigation Timing: the repositories page (first visit, cold cache, and again),
 * filter as you type, the 10,000-tag repository (first page by name, by time, the last page through
 * its cursor), an index's page; then the JSON API with plain HTTP. Prints a table; writes nothing.
 */
import { browserMissing, launchBrowser } from '../../test/support/browser.js'
import { request } from '../../test/support/index.js'
import { startWharfServer } from '../servers.js'
import { formatNumber } from '../stats.js'
import { seedRegistry, type SeedResult } from './seed.js'
import { measureFilter, measureHttp, measureNavigation, summarise, type NavigationSample } from './page-timing.js'

interface Options { repositories: number; tags: number; runs: number }

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { repositories: 10_000, tags: 10_000, runs: 15 }
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1])
    const key = ({ '--repositories': 'repositories', '--tags': 'tags', '--runs': 'runs' } as const)[argv[i]! as '--runs']
    if (key === undefined || !Number.isSafeInteger(value) || value < 1) {
      process.stderr.write('usage: node dist/bench/ui/page-load.js [--repositories N] [--tags N] [--runs N]\n')
      process.exit(2)
    }
    options[key] = value
  }
  return options
}

/** The last page's URL of a paged UI listing, by following its rel="next" links (as a person clicking "Next page" would). */
async function lastPageOf(base: string, first: string): Promise<{ path: string; pages: number }> {
  let path = first
  for (let pages = 1; ; pages++) {
    const res = await request(base, path, { headers: { accept: 'text/html' } })
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`)
    const next = /<a href="([^"]+)" rel="next"/.exec(res.text())?.[1]
    if (next === undefined) return { path, pages }
    path = next.replaceAll('&amp;', '&')
  }
}

/** The JSON API's last tags page, following `next` cursors. */
async function lastApiPage(base: string, first: string): Promise<string> {
  let path = first
  for (;;) {
    const res = await request(base, path, { headers: { accept: 'application/json' } })
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.text().slice(0, 200)}`)
    const next = res.json<{ next?: string }>().next
    if (next === undefined) return path
    const url = new URL(path, base)
    url.searchParams.set('cursor', next)
    path = `${url.pathname}${url.search}`
  }
}

type Row = readonly string[]

function table(header: Row, rows: readonly Row[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: Row): string => `| ${r.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join(' | ')} |`
  return [line(header), `|${widths.map((w, i) => i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`).join('|')}|`, ...rows.map(line)].join('\n')
}

const ms = (s: { p50: number; p95: number }): string => `${formatNumber(s.p50)} / ${formatNumber(s.p95)}`
const kib = (bytes: number): string => bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`

function pageRow(name: string, samples: readonly NavigationSample[]): Row {
  return [name, String(samples.length), ms(summarise(samples.map((s) => s.server))), ms(summarise(samples.map((s) => s.responseStart))),
    ms(summarise(samples.map((s) => s.domContentLoaded))), ms(summarise(samples.map((s) => s.load))), kib(samples[0]?.bytes ?? 0)]
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const missing = browserMissing()
  if (missing !== undefined) throw new Error(missing)
  const server = await startWharfServer()
  const log = (line: string): void => { process.stderr.write(`${line}\n`) }
  try {
    log(`seeding ${server.url}: ${options.repositories} repositories, a repository with ${options.tags} tags`)
    const seeded: SeedResult = await seedRegistry(server.url, { repositories: options.repositories, bigRepositoryTags: options.tags, log })
    log(`seeded in ${(seeded.ms / 1000).toFixed(1)} s (${seeded.requests} requests, ${seeded.tags} tags, ${seeded.manifests} manifests)`)
    const big = seeded.big!.repository
    const bigPage = `/repositories/${big}`
    const indexPage = `/repositories/${seeded.index.repository}/manifests/${seeded.index.digest}`
    const last = await lastPageOf(server.url, bigPage)
    log(`${big}: ${last.pages} pages in the UI; last ${last.path}`)

    const browser = await launchBrowser()
    const rows: Row[] = []
    try {
      const url = (path: string): string => `${server.url}${path}`
      rows.push(pageRow('repositories, first visit (cold cache)', await measureNavigation(browser, url('/'), options.runs, true)))
      rows.push(pageRow('repositories, again (assets cached)', await measureNavigation(browser, url('/'), options.runs, false)))
      rows.push(pageRow(`repository of ${options.tags} tags, by name`, await measureNavigation(browser, url(bigPage), options.runs, false)))
      rows.push(pageRow(`  by time (?sort=time)`, await measureNavigation(browser, url(`${bigPage}?sort=time`), options.runs, false)))
      rows.push(pageRow(`  last page (cursor, page ${last.pages})`, await measureNavigation(browser, url(last.path), options.runs, false)))
      rows.push(pageRow('index (2 platforms + attestations)', await measureNavigation(browser, url(indexPage), options.runs, false)))
      rows.push(pageRow('image with signature and SBOM', await measureNavigation(browser, url(`/repositories/${seeded.signed.repository}/manifests/${seeded.signed.digest}`), options.runs, false)))
      // Every repository on one page: slow at this size, so only a few runs.
      rows.push(pageRow('disk usage (/usage, 3 runs)', await measureNavigation(browser, url('/usage'), Math.min(3, options.runs), false)))
      const queries = ['p', 'pa', 'pay', 'paym', 'payments/', 'payments/api', 'zzz', 'ops', 'ops/ca', 'ci']
      const filter = await measureFilter(browser, url('/'), Array.from({ length: options.runs }, (_, i) => queries[i % queries.length]!))
      const filterRow: Row = ['filter as you type (input → results)', String(filter.length), '', ms(summarise(filter.map((s) => s.fetch))), '', ms(summarise(filter.map((s) => s.inputToResults))), '']
      rows.push(filterRow)
    } finally {
      await browser.close()
    }
    process.stdout.write(`\nWeb UI pages, ${seeded.repositories.length} repositories, ${seeded.tags} tags (${options.runs} runs; ms, median / p95)\n\n`)
    process.stdout.write(`${table(['page', 'runs', 'server (TTFB)', 'responseStart', 'DOMContentLoaded', 'load', 'HTML'], rows)}\n`)
    process.stdout.write('filter as you type: "responseStart" is the filtered page\'s fetch, "load" the time from the input event to the results shown, less the 180 ms debounce\n')

    const api = '/_wharf/v1/repositories'
    const endpoints: Array<[string, string]> = [
      ['repositories (n=100)', `${api}?n=100`],
      ['repositories filtered (filter=pay)', `${api}?filter=pay&n=100`],
      [`tags of ${big} (n=100)`, `${api}/${big}/tags?n=100`],
      ['  sort=time', `${api}/${big}/tags?sort=time&n=100`],
      ['  last page (cursor)', await lastApiPage(server.url, `${api}/${big}/tags?n=100`).catch(() => `${api}/${big}/tags?n=100`)],
      ['manifest: the index', `${api}/${seeded.index.repository}/manifests/${seeded.index.digest}`],
      ['manifest: image with referrers', `${api}/${seeded.signed.repository}/manifests/${seeded.signed.digest}`],
    ]
    const apiRows: Row[] = []
    for (const [name, path] of endpoints) {
      const result = await measureHttp(server.url, path, options.runs * 2).catch((error: Error) => error)
      apiRows.push(result instanceof Error ? [name, '0', result.message.slice(0, 60), ''] : [name, String(result.ms.length), ms(summarise(result.ms)), kib(result.bytes)])
    }
    process.stdout.write(`\nJSON API with plain HTTP (ms, median / p95)\n\n${table(['endpoint', 'runs', 'latency', 'body'], apiRows)}\n`)
  } finally {
    await server.stop()
  }
}

await main()
