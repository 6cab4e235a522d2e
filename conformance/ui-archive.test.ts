// Import and export through the web UI, driven in headless chromium against a real Wharf, checked
// with the real clients: an oci-archive skopeo wrote is uploaded with the /import form and skopeo
// reads the same digests back over /v2/; a truncated archive gets a clear error and leaves no tag;
// the repository page's export links download archives that `docker load` (a private dockerd) and
// `skopeo inspect oci-archive:` read as the image the registry holds. Under conformance/ because it
// reuses the private dockerd and containers environment of conformance/helpers.
import { copyFile, stat, truncate } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import type { Page } from 'playwright-core'
import { containersEnv } from './helpers/containers-env.js'
import { startDockerd, startedOnce } from './helpers/daemons.js'
import { missingRequirements, scenario, toolPath, uniqueSuffix, type Requirements, type Tap } from './helpers/env.js'
import { busyboxImage, newSalt } from './helpers/fixtures.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { startWharfTarget } from './helpers/target.js'
import { launchBrowser, type HeadlessBrowser } from '../test/support/browser.js'
import { digestOf, RegistryClient } from '../test/support/index.js'

const target = await startWharfTarget()
t.teardown(() => target.stop())
const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
const base = `ui-archive-${uniqueSuffix()}`
const salt = newSalt()
const work = await tempDir('ui-archive')
t.teardown(() => work.remove())
/** Screenshots of the pages after each step land here when set (for a person to look at). */
const screenshotDir = process.env.WHARF_UI_SCREENSHOTS

const browserNeeds: Requirements = { tools: ['chromium', 'skopeo'] }
const dockerNeeds: Requirements = { tools: ['chromium', 'skopeo', 'dockerd', 'docker', 'containerd'], root: true }
const docker = startedOnce(t, () => startDockerd([target.address]))
if (missingRequirements(dockerNeeds) === undefined) void docker().catch(() => undefined)
let browser: HeadlessBrowser | undefined
const browserOnce = async (): Promise<HeadlessBrowser> => {
  if (browser === undefined) { browser = await launchBrowser(); t.teardown(() => browser?.close()) }
  return browser
}

async function withTools(t: Tap): Promise<{ skopeo: (args: readonly string[]) => Promise<RunResult>; page: Page }> {
  const env = await containersEnv([target.address])
  t.teardown(() => env.remove())
  const skopeo = (args: readonly string[]): Promise<RunResult> =>
    run(toolPath('skopeo'), ['--policy', env.policy, '--registries-conf', env.env.CONTAINERS_REGISTRIES_CONF!, ...args], { env: env.env, timeoutMs: 120_000 })
  const { context, page } = await (await browserOnce()).newPage()
  t.teardown(() => context.close())
  return { skopeo, page }
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (screenshotDir !== undefined) await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true })
}

/** Fills and submits the /import form; resolves with the status text once the answer is shown. */
async function importThroughForm(page: Page, repository: string, tags: string, file: string): Promise<string> {
  await page.goto(`${target.url}/import`)
  const form = page.locator('form:has(input[name="archive"])')
  await form.locator('input[name="repository"]').fill(repository)
  await form.locator('input[name="tags"]').fill(tags)
  await form.locator('input[name="archive"]').setInputFiles(file)
  await form.getByRole('button', { name: 'Import' }).click()
  const status = form.getByRole('status')
  await status.filter({ hasText: /Imported|refused|failed/ }).waitFor({ timeout: 60_000 })
  return (await status.textContent()) ?? ''
}

const manifestStatus = async (repository: string, reference: string): Promise<number> =>
  (await reg.request(`/v2/${repository}/manifests/${reference}`, { method: 'HEAD' })).status

await scenario(t, 'the /import form uploads a skopeo oci-archive; skopeo reads the same digest over /v2/', { ...browserNeeds, timeout: 120_000 }, async (t) => {
  const { skopeo, page } = await withTools(t)
  // The archive is made by skopeo from an image pushed to Wharf first (a real tool's oci-archive).
  const image = busyboxImage('amd64', 'oci', `${salt}-import`)
  await reg.pushContent(`${base}/source`, 'v1', image)
  const archive = path.join(work.path, 'import.oci.tar')
  await skopeo(['copy', '--preserve-digests', '--src-tls-verify=false', `docker://${target.address}/${base}/source:v1`, `oci-archive:${archive}:v1`])
  const archiveDigest = digestOf((await skopeo(['inspect', '--raw', `oci-archive:${archive}`])).stdout)
  t.equal(archiveDigest, image.manifest.digest, 'skopeo wrote the pushed manifest unchanged into the archive')

  const repository = `${base}/imported`
  const statusText = await importThroughForm(page, repository, 'v1, stable', archive)
  await screenshot(page, 'import-done')
  t.match(statusText, /^Imported 1 image\(s\), \d+ blobs .* as oci archive\.$/, 'the page reports success')
  const result = page.getByRole('link', { name: `${repository}@${archiveDigest}` })
  t.equal(await result.count(), 1, 'the page names the imported digest, linked')
  t.equal(await result.getAttribute('href'), `/repositories/${repository}/manifests/${archiveDigest}`, 'linked to its manifest page')
  t.match(await page.getByText(/tags: v1, stable/).textContent(), 'tags: v1, stable', 'the page lists the tags set')
  for (const tag of ['v1', 'stable']) {
    const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${target.address}/${repository}:${tag}`])).stdout
    t.equal(digestOf(raw), archiveDigest, `skopeo inspect --raw ${repository}:${tag}: the archive's digest`)
  }

  // A truncated archive: a clear error in the page, nothing imported.
  const broken = path.join(work.path, 'truncated.oci.tar')
  await copyFile(archive, broken)
  await truncate(broken, Math.floor((await stat(archive)).size / 2))
  const brokenRepository = `${base}/broken`
  const errorText = await importThroughForm(page, brokenRepository, 'v1', broken)
  await screenshot(page, 'import-truncated')
  t.match(errorText, /^Import refused \(400\): \S.{10,}/, `the page says why: ${errorText}`)
  t.equal(await page.getByRole('link', { name: new RegExp(`^${brokenRepository}@`) }).count(), 0, 'no image listed as imported')
  t.equal(await manifestStatus(brokenRepository, 'v1'), 404, 'tag v1 absent over /v2/')
  t.equal(await manifestStatus(brokenRepository, archiveDigest), 404, 'the manifest absent by digest too')
})

/** Opens the repository page and downloads the tag's export in `format` through its link. */
async function downloadExport(page: Page, repository: string, tag: string, format: 'oci' | 'docker', file: string): Promise<string> {
  await page.goto(`${target.url}/repositories/${repository}`)
  const link = page.locator(`a[href*="/export"][href*="reference=${tag}"][href*="format=${format}"]`)
  // The links may sit in a closed <details> (the tag row's pull commands): open it as a person would.
  if (!(await link.isVisible())) await link.locator('xpath=ancestor::details[1]/summary').click()
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()])
  await download.saveAs(file)
  return download.suggestedFilename()
}

await scenario(t, 'the repository page\'s export links: docker load (private dockerd) and skopeo read the registry\'s image', { ...dockerNeeds, timeout: 180_000 }, async (t) => {
  const { skopeo, page } = await withTools(t)
  const repository = `${base}/exported`
  const image = busyboxImage('amd64', 'oci', `${salt}-export`)
  await reg.pushContent(repository, 'v1', image)

  const dockerFile = path.join(work.path, 'export.docker.tar')
  const dockerName = await downloadExport(page, repository, 'v1', 'docker', dockerFile)
  await screenshot(page, 'export-links')
  t.match(dockerName, /\.tar$/, `the download is a .tar file: ${dockerName}`)
  const d = await docker()
  const loaded = await d.docker(['load', '-i', dockerFile])
  t.match(loaded.stdout, `Loaded image: ${target.address}/${repository}:v1`, 'docker load names it as it is pulled')
  const [inspect] = JSON.parse((await d.docker(['image', 'inspect', `${target.address}/${repository}:v1`])).stdout) as Array<{ Id: string }>
  t.equal(inspect?.Id, image.config.digest, 'the loaded image id is the config digest')
  await d.docker(['rmi', '--force', `${target.address}/${repository}:v1`])

  const ociFile = path.join(work.path, 'export.oci.tar')
  await downloadExport(page, repository, 'v1', 'oci', ociFile)
  const registryDigest = digestOf((await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${target.address}/${repository}:v1`])).stdout)
  t.equal(registryDigest, image.manifest.digest, 'the registry holds the pushed manifest')
  t.equal(digestOf((await skopeo(['inspect', '--raw', `oci-archive:${ociFile}`])).stdout), registryDigest, 'skopeo inspect --raw oci-archive: the registry\'s digest')
  const config = JSON.parse((await skopeo(['inspect', '--config', '--raw', `oci-archive:${ociFile}`])).stdout) as unknown
  t.same(config, JSON.parse(image.config.data.toString('utf8')), 'and its config')
})
