// containerd's ctr (private containerd instance) against a running registry: import an OCI
// archive with a multi-platform index, push --plain-http, pull --plain-http --all-platforms and
// --platform, export and compare byte for byte.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { assertPulls } from './helpers/checks.js'
import { startContainerd, startedOnce } from './helpers/daemons.js'
import { missingRequirements, scenario, uniqueSuffix, type Requirements, type Tap } from './helpers/env.js'
import { busyboxImage, multiPlatform, newSalt, ociArchive } from './helpers/fixtures.js'
import { allBlobs, allManifests, bytesOf, type Content, hexOf, RegistryClient } from '../test/support/index.js'
import { tempDir } from './helpers/proc.js'
import { untar } from './helpers/tar.js'
import { startTarget } from './helpers/target.js'

const target = await startTarget()
t.teardown(() => target.stop())
const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
const runId = uniqueSuffix()
const salt = newSalt()
const needs: Requirements = { tools: ['containerd', 'ctr', 'busybox', 'busyboxArm64'], root: true }
const repo = (name: string): string => `conformance/ctr-${runId}/${name}`
const name = (r: string, tag: string): string => `${target.address}/${repo(r)}:${tag}`

const containerd = startedOnce(t, () => startContainerd())
if (missingRequirements(needs) === undefined) void containerd().catch(() => undefined)

/** Checks that an exported archive (OCI layout tar) holds every manifest and blob of content. */
function assertArchiveHolds(t: Tap, archive: Buffer, content: Content, what: string): void {
  const files = untar(archive)
  const problems: string[] = []
  for (const item of [...allManifests(content), ...allBlobs(content)]) {
    const file = files.get(`blobs/sha256/${hexOf(item.digest)}`)
    if (!file) problems.push(`${item.digest} missing`)
    else if (!file.data.equals(bytesOf(item))) problems.push(`${item.digest} differs`)
  }
  t.same(problems, [], `${what}: exported archive holds every manifest and blob byte-identical`)
}

await scenario(t, 'import a multi-platform OCI archive, push --plain-http', { ...needs, timeout: 90_000 }, async (t) => {
  const c = await containerd()
  const work = await tempDir('ctr')
  t.teardown(() => work.remove())
  const index = multiPlatform('oci', salt)
  const archive = path.join(work.path, 'multi.tar')
  const imported = name('imported', 'multi')
  await writeFile(archive, ociArchive([{ name: imported, content: index }]))
  await c.ctr(['images', 'import', '--all-platforms', '--no-unpack', archive])
  t.match((await c.ctr(['images', 'ls', '-q'])).stdout, imported, 'ctr lists the imported image')
  await c.ctr(['images', 'push', '--plain-http', imported])
  await assertPulls(t, reg, repo('imported'), 'multi', index)
  await c.ctr(['images', 'tag', imported, name('retagged', 'v1')])
  await c.ctr(['images', 'push', '--plain-http', name('retagged', 'v1')])
  await assertPulls(t, reg, repo('retagged'), 'v1', index)
})

await scenario(t, 'pull --plain-http --all-platforms of a Docker manifest list, export, compare', { ...needs, timeout: 90_000 }, async (t) => {
  const c = await containerd()
  const work = await tempDir('ctr')
  t.teardown(() => work.remove())
  const list = multiPlatform('docker', `${salt}-list`)
  await reg.pushContent(repo('list'), 'multi', list)
  const pulled = await c.ctr(['images', 'pull', '--plain-http', '--all-platforms', '--snapshotter', 'native', name('list', 'multi')])
  t.match(pulled.stdout, list.manifest.digest.slice(7), 'ctr pull resolved the list digest')
  const out = path.join(work.path, 'export.tar')
  await c.ctr(['images', 'export', '--all-platforms', out, name('list', 'multi')])
  assertArchiveHolds(t, await readFile(out), list, 'manifest list')
  await c.ctr(['images', 'rm', '--sync', name('list', 'multi')])
})

await scenario(t, 'pull --plain-http --platform linux/arm64 of an OCI index, and a single image', { ...needs, timeout: 90_000 }, async (t) => {
  const c = await containerd()
  const index = multiPlatform('oci', `${salt}-one`)
  const single = busyboxImage('amd64', 'oci', `${salt}-single`)
  await reg.pushContent(repo('one'), 'multi', index)
  await reg.pushContent(repo('one'), 'single', single)
  await c.ctr(['images', 'pull', '--plain-http', '--platform', 'linux/arm64', '--snapshotter', 'native', name('one', 'multi')])
  const arm = index.children[1]!
  const content = (await c.ctr(['content', 'ls', '-q'])).stdout
  t.ok(content.includes(arm.manifest.digest), 'the arm64 manifest was fetched')
  const amdLayer = index.children[0]!.kind === 'image' ? index.children[0]!.layers[0]!.digest : ''
  t.notOk(content.includes(amdLayer), 'the amd64 layer was not fetched')
  await c.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', name('one', 'single')])
  const fetched = (await c.ctr(['content', 'ls', '-q'])).stdout
  for (const b of [single.config, ...single.layers]) t.ok(fetched.includes(b.digest), `${b.digest.slice(7, 19)} fetched`)
})
