/// <reference lib="dom" />
import type { Page } from 'playwright-core'
import type { HeadlessBrowser } from '../../test/support/browser.js'
import { request } from '../../test/support/index.js'
import { median, percentileSorted, sortedCopy } from '../stats.js'

/**
 * How the UI benchmark measures: pages through headless chromium's Navigation Timing (times from
 * the navigation's start), the JSON API with plain HTTP requests, each repeated and summarised.
 */

/** One navigation's timings in ms. `server` is requestStart → responseStart: the server's time to first byte. */
export interface NavigationSample {
  readonly server: number
  readonly responseStart: number
  readonly domContentLoaded: number
  readonly load: number
  /** The HTML document's bytes on the wire (compressed if it was). */
  readonly bytes: number
}

export interface Summary {
  readonly p50: number
  readonly p95: number
}

export function summarise(values: readonly number[]): Summary {
  return { p50: median(values), p95: percentileSorted(sortedCopy(values), 95) }
}

async function navigationSample(page: Page): Promise<NavigationSample> {
  // loadEventEnd is set just after the load event; wait until it is.
  await page.waitForFunction(() => ((performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined)?.loadEventEnd ?? 0) > 0)
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming
    return {
      server: nav.responseStart - nav.requestStart,
      responseStart: nav.responseStart - nav.startTime,
      domContentLoaded: nav.domContentLoadedEventEnd - nav.startTime,
      load: nav.loadEventEnd - nav.startTime,
      bytes: nav.encodedBodySize,
    }
  })
}

/**
 * Opens `url` `runs` times. `cold`: each run in a fresh browser context (nothing cached, assets
 * fetched too: a first visit); else one context whose cache keeps the hashed assets (browsing on).
 */
export async function measureNavigation(browser: HeadlessBrowser, url: string, runs: number, cold: boolean): Promise<NavigationSample[]> {
  const samples: NavigationSample[] = []
  let warm = cold ? undefined : await browser.newPage()
  try {
    warm?.page.setDefaultTimeout(180_000)
    if (warm !== undefined) await warm.page.goto(url) // fills the cache; not counted
    for (let i = 0; i < runs; i++) {
      const { context, page } = warm ?? await browser.newPage()
      page.setDefaultTimeout(180_000) // a slow page is a result, not a failure
      try {
        const response = await page.goto(url, { waitUntil: 'load' })
        if (response === null || response.status() !== 200) throw new Error(`GET ${url}: ${response?.status() ?? 'no response'}`)
        samples.push(await navigationSample(page))
      } finally {
        if (warm === undefined) await context.close()
      }
    }
  } finally {
    await warm?.context.close()
    warm = undefined
  }
  return samples
}

/** One filter-as-you-type round: from the input event to the fresh #results in the page, and the fetch's own duration. */
export interface FilterSample {
  /** Input event to results swapped in, with the script's debounce (180 ms) taken off. */
  readonly inputToResults: number
  /** The filtered page's fetch, start to end (Resource Timing). */
  readonly fetch: number
}

/** Types each of `queries` into the repositories page's filter (as one input event) and waits for its results. */
export async function measureFilter(browser: HeadlessBrowser, url: string, queries: readonly string[], debounceMs = 180): Promise<FilterSample[]> {
  const { context, page } = await browser.newPage()
  try {
    await page.goto(url)
    const samples: FilterSample[] = []
    for (const query of queries) {
      const elapsed = await page.evaluate(async (q) => {
        performance.clearResourceTimings()
        const input = document.querySelector<HTMLInputElement>('input[name="q"]')
        const before = document.getElementById('results')
        if (input === null || before === null) throw new Error('no filter input or #results on the page')
        const swapped = new Promise<number>((resolve, reject) => {
          const observer = new MutationObserver(() => {
            if (document.getElementById('results') !== before) { observer.disconnect(); resolve(performance.now()) }
          })
          observer.observe(document.body, { childList: true, subtree: true })
          setTimeout(() => { observer.disconnect(); reject(new Error(`results for "${q}" did not arrive within 10 s`)) }, 10_000)
        })
        const start = performance.now()
        input.value = q
        input.dispatchEvent(new Event('input', { bubbles: true }))
        const end = await swapped
        const entry = performance.getEntriesByType('resource').find((e) => e.name.includes(`q=${encodeURIComponent(q)}`)) as PerformanceResourceTiming | undefined
        return { total: end - start, fetch: entry ? entry.responseEnd - entry.startTime : Number.NaN }
      }, query)
      samples.push({ inputToResults: elapsed.total - debounceMs, fetch: elapsed.fetch })
    }
    return samples
  } finally {
    await context.close()
  }
}

/** GET `path` `runs` times over plain HTTP (after one unmeasured request); milliseconds to the whole body. */
export async function measureHttp(base: string, path: string, runs: number, accept = 'application/json'): Promise<{ ms: number[]; bytes: number }> {
  const once = async (): Promise<{ ms: number; bytes: number }> => {
    const start = performance.now()
    const res = await request(base, path, { headers: { accept } })
    const ms = performance.now() - start
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.text().slice(0, 200)}`)
    return { ms, bytes: res.body.length }
  }
  const { bytes } = await once()
  const ms: number[] = []
  for (let i = 0; i < runs; i++) ms.push((await once()).ms)
  return { ms, bytes }
}
