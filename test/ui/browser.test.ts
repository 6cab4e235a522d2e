/**
 * The web UI in headless Debian chromium against a real Wharf: browse, filter as you type, an
 * index and its platforms, referrers, deleting a tag through the dialog, the keyboard, a phone's
 * width. Skipped (with the reason) without chromium, except under CI where that fails.
 */
import t, { type Test } from 'tap'
import { browserMissing, launchBrowser, type HeadlessBrowser } from '../support/browser.js'
import { startTestServer } from '../support/index.js'
import { seed } from './seed.js'

const missing = browserMissing()
if (missing !== undefined && process.env.CI !== 'true') {
  t.plan(0, `browser tests skipped: ${missing}`)
} else {
  const { wharf, client } = await startTestServer(t)
  const seeded = await seed(client)
  const chromium: HeadlessBrowser = await launchBrowser()
  t.teardown(() => chromium.close())

  /** A fresh page that fails the test on any CSP violation or script error. */
  const open = async (t: Test, path: string, viewport?: { width: number; height: number }) => {
    const { context, page } = await chromium.newPage(viewport !== undefined ? { viewport } : {})
    t.teardown(() => context.close())
    const problems: string[] = []
    page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()) })
    page.on('pageerror', (err) => problems.push(err.message))
    t.teardown(() => { t.same(problems, [], 'no script errors or CSP violations') })
    await page.goto(wharf.url + path)
    return page
  }

  t.test('browse: repositories, then a repository, then a tag', async (t) => {
    const page = await open(t, '/')
    t.equal(await page.locator('tbody tr').count(), 2)
    await page.getByRole('link', { name: 'team/app' }).click()
    await page.waitForURL(/\/repositories\/team\/app$/)
    t.equal(await page.locator('h1').textContent(), 'team/app')
    t.equal(await page.locator('tbody tr').count(), 3)
    await page.getByRole('link', { name: 'latest', exact: true }).click()
    await page.waitForURL(new RegExp(`/manifests/${seeded.amd64Digest}$`))
    t.match(await page.locator('main').textContent(), 'COPY app /bin/app')
  })

  t.test('filter as you type: results change without a submit, the URL follows, the count is announced', async (t) => {
    const page = await open(t, '/')
    await page.getByLabel('Filter by name').pressSequentially('tool', { delay: 30 })
    await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 1)
    t.match(await page.locator('#results tbody').textContent(), 'tools/hostile')
    await page.waitForURL(/\?q=tool$/)
    await page.waitForFunction(() => (document.getElementById('announce')?.textContent ?? '').includes('matching'))
    t.equal(await page.getByLabel('Filter by name').inputValue(), 'tool', 'the input keeps its text and focus')
    t.ok(await page.getByLabel('Filter by name').evaluate((el) => el === document.activeElement))
  })

  t.test('an index: its platforms link to their manifests; referrers and the attestation are labelled', async (t) => {
    const page = await open(t, `/repositories/team/app/manifests/${seeded.indexDigest}`)
    const platforms = page.locator('table', { has: page.locator('caption', { hasText: 'Manifests of the index' }) })
    t.match(await platforms.textContent(), 'linux/arm64')
    t.match(await platforms.textContent(), 'attestation')
    const referrers = page.locator('table', { has: page.locator('caption', { hasText: 'Referrers' }) })
    t.match(await referrers.textContent(), 'application/vnd.dev.cosign.artifact.sig.v1+json')
    await platforms.locator('tr', { hasText: 'linux/arm64' }).getByRole('link').click()
    await page.waitForURL(new RegExp(`/manifests/${seeded.arm64Digest}$`))
    t.match(await page.locator('main').textContent(), 'linux/arm64')
  })

  t.test('delete a tag through the dialog: the preview, then the DELETE, then the tag is gone', async (t) => {
    const page = await open(t, '/repositories/team/app')
    await page.getByRole('button', { name: 'Delete tag buildcache' }).click()
    const dialog = page.locator('dialog#delete-dialog')
    await dialog.waitFor({ state: 'visible' })
    t.match(await dialog.locator('h2').textContent(), 'Delete team/app:buildcache')
    const confirm = dialog.getByRole('button', { name: 'Delete' })
    await confirm.waitFor({ state: 'visible' })
    await page.waitForFunction(() => !(document.querySelector('dialog button[value=confirm]') as HTMLButtonElement).disabled)
    t.match(await dialog.locator('.body').textContent(), /frees|Only the tag goes/)
    await Promise.all([page.waitForEvent('load'), confirm.click()])
    t.equal(await page.getByRole('link', { name: 'buildcache', exact: true }).count(), 0)
    t.equal((await client.getManifest('team/app', 'buildcache')).status, 404)
    t.equal((await client.getManifest('team/app', 'v1')).status, 200, 'the other tags stay')
  })

  t.test('keyboard: the skip link comes first and moves focus to the content; focus is visible', async (t) => {
    const page = await open(t, '/')
    await page.keyboard.press('Tab')
    t.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content')
    await page.keyboard.press('Enter')
    t.equal(await page.evaluate(() => document.activeElement?.id), 'main')
    let reached = false
    for (let i = 0; i < 10 && !reached; i++) {
      await page.keyboard.press('Tab')
      reached = await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name === 'q')
    }
    t.ok(reached, 'the filter is reachable by Tab')
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)
    t.not(outline, 'none', 'the focused field shows an outline')
  })

  t.test('a phone (375 px): no page wider than the screen', async (t) => {
    for (const path of ['/', '/repositories/team/app', `/repositories/team/app/manifests/${seeded.indexDigest}`, `/repositories/team/app/manifests/${seeded.amd64Digest}`, '/usage', '/import']) {
      const page = await open(t, path, { width: 375, height: 740 })
      const { scroll, client: width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }))
      t.ok(scroll <= width, `${path}: ${scroll} <= ${width}`)
    }
  })
}
