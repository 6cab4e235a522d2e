import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

/** Debian's chromium (package chromium); playwright never downloads a browser of its own here. */
export const CHROMIUM = process.env.WHARF_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Why browser tests cannot run, or undefined when they can. Under CI=true a missing browser is a
 * failure of the tests that need it (tap's skip is only for a developer's machine).
 */
export function browserMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined
  return `${CHROMIUM} is not installed (apt-get install chromium)`
}

export interface HeadlessBrowser {
  readonly browser: Browser
  /** A fresh context (own cookies and storage) with one page. */
  newPage(options?: { readonly viewport?: { readonly width: number; readonly height: number } }): Promise<{ context: BrowserContext; page: Page }>
  close(): Promise<void>
}

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']

/**
 * Starts headless chromium (playwright gives it a throwaway profile). The network flags keep it from
 * calling Google's hosts at every start, which this machine's closed network refuses many at a time.
 */
export async function launchBrowser(): Promise<HeadlessBrowser> {
  const missing = browserMissing()
  if (missing !== undefined) throw new Error(missing)
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  return {
    browser,
    async newPage(options) {
      const context = await browser.newContext({ viewport: options?.viewport ?? { width: 1280, height: 800 } })
      return { context, page: await context.newPage() }
    },
    async close() { await browser.close() },
  }
}
