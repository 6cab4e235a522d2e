/**
 * The browser the UI tests drive works: Debian's chromium, started headless through playwright-core
 * (test/support/browser.ts), loads pages from a real `wharf serve` and runs their scripts. Without
 * chromium this file is skipped on a developer's machine and fails under CI=true.
 */
import t from 'tap'
import { browserMissing, launchBrowser } from '../support/browser.js'
import { startTestServer } from '../support/index.js'

const missing = browserMissing()
if (missing !== undefined && process.env.CI === 'true') {
  t.fail(`browser tests cannot run: ${missing}`)
} else if (missing !== undefined) {
  t.plan(0, `skipped: ${missing}`)
} else {
  t.test('headless chromium loads /v2/ from a real Wharf', async (t) => {
    const { wharf } = await startTestServer(t)
    const browser = await launchBrowser()
    t.teardown(() => browser.close())
    const { page } = await browser.newPage()

    const response = await page.goto(`${wharf.url}/v2/`)
    t.ok(response, 'a response arrived')
    t.equal(response!.status(), 200)
    t.equal(response!.headers()['docker-distribution-api-version'], 'registry/2.0')
    t.same(JSON.parse(await response!.text()), {}, 'the body is /v2/\'s empty JSON object')

    // The page's own script context runs: fetch from inside the page reaches the same server.
    const status = await page.evaluate(async () => (await fetch('/v2/_catalog')).status)
    t.equal(status, 200, 'a fetch from the page reaches Wharf')
  })

  t.test('a phone-size viewport is what the page sees', async (t) => {
    const browser = await launchBrowser()
    t.teardown(() => browser.close())
    const { page } = await browser.newPage({ viewport: { width: 390, height: 844 } })
    await page.setContent('<p>hello</p>')
    t.same(await page.evaluate(() => [window.innerWidth, window.innerHeight]), [390, 844])
  })
}
