// docker (Debian's dockerd 20.10, private instance) against a running registry: load, tag, push,
// push to a second repository (cross-repository mount, "Mounted from"), pull, pull --platform
// from an OCI index and from a Docker manifest list, manifest inspect.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { assertPulls, assertTags, layerFiles } from './helpers/checks.js'
import { startDockerd, startedOnce, type DockerDaemon } from './helpers/daemons.js'
import { missingRequirements, scenario, toolPath, uniqueSuffix, type Requirements } from './helpers/env.js'
import { busyboxImage, dockerArchive, multiPlatform, newSalt } from './helpers/fixtures.js'
import { type ImageContent, RegistryClient } from '../test/support/index.js'
import { tempDir } from './helpers/proc.js'
import { startTarget } from './helpers/target.js'

const target = await startTarget()
t.teardown(() => target.stop())
const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
const runId = uniqueSuffix()
const salt = newSalt()
const needs: Requirements = { tools: ['dockerd', 'docker', 'containerd', 'busybox', 'busyboxArm64'], root: true }
const repo = (name: string): string => `conformance/docker-${runId}/${name}`
const name = (r: string, tag: string): string => `${target.address}/${repo(r)}:${tag}`

// One private dockerd for the whole file, started on first use and stopped by PID at the end.
const docker = startedOnce(t, () => startDockerd([target.address]))
if (missingRequirements(needs) === undefined) {
  // Start dockerd while the first scenario prepares its fixtures.
  void docker().catch(() => undefined)
}

const amd = busyboxImage('amd64', 'docker', salt)

async function loadImage(d: DockerDaemon, image: ImageContent, tag: string): Promise<void> {
  const work = await tempDir('docker-load')
  try {
    const archive = path.join(work.path, 'image.tar')
    await writeFile(archive, dockerArchive(image, [tag]))
    const loaded = await d.docker(['load', '-i', archive])
    if (!loaded.stdout.includes(`Loaded image: ${tag}`)) throw new Error(`docker load: ${loaded.stdout}${loaded.stderr}`)
  } finally { await work.remove() }
}

function pushedDigest(output: string): string | undefined {
  return /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(output)?.[1]
}

await scenario(t, 'load, tag, push', { ...needs, timeout: 120_000 }, async (t) => {
  const d = await docker()
  await loadImage(d, amd, 'wharf-conformance/local:amd64')
  await d.docker(['tag', 'wharf-conformance/local:amd64', name('app', 'v1')])
  const pushed = await d.docker(['push', name('app', 'v1')])
  const digest = pushedDigest(pushed.stdout)
  t.ok(digest, `docker push printed a digest (${pushed.stdout.trim().split('\n').pop()})`)
  const pulled = await assertPulls(t, reg, repo('app'), 'v1')
  t.equal(pulled.digest, digest, 'the registry serves the digest docker push reported')
  const files = layerFiles(pulled)
  t.equal(files.get('etc/wharf-salt')?.data.toString(), `${salt}\n`, 'layer content survived load and push')
  t.ok(files.get('bin/busybox')?.data.equals(await readFile(toolPath('busybox'))), 'busybox binary byte-identical')
  t.equal(files.get('bin/sh')?.linkname, 'busybox', 'symlinks kept')
  await assertTags(t, reg, repo('app'), ['v1'])
})

await scenario(t, 'push the same image to a second repository: Mounted from', { ...needs, timeout: 90_000 }, async (t) => {
  const d = await docker()
  await d.docker(['tag', name('app', 'v1'), name('other', 'v1')])
  const pushed = await d.docker(['push', name('other', 'v1')])
  t.match(pushed.stdout, new RegExp(`Mounted from ${repo('app').replace(/[/.]/g, '\\$&')}`), 'docker reports "Mounted from" the first repository')
  const a = await reg.pullVerified(repo('app'), 'v1')
  const b = await assertPulls(t, reg, repo('other'), 'v1')
  t.equal(b.digest, a.digest, 'both repositories serve the same manifest digest')
})

await scenario(t, 'pull by tag into a clean daemon store', { ...needs, timeout: 90_000 }, async (t) => {
  const d = await docker()
  const expected = await reg.pullVerified(repo('app'), 'v1')
  await d.docker(['rmi', '-f', name('app', 'v1'), name('other', 'v1'), 'wharf-conformance/local:amd64'])
  const pulled = await d.docker(['pull', name('app', 'v1')])
  t.match(pulled.stdout, expected.digest, 'docker pull reports the manifest digest')
  const [inspect] = JSON.parse((await d.docker(['image', 'inspect', name('app', 'v1')])).stdout) as Array<{ Id: string; RepoDigests: string[]; Architecture: string }>
  t.equal(inspect?.Id, amd.config.digest, 'image ID is the config digest')
  t.ok(inspect?.RepoDigests.includes(`${target.address}/${repo('app')}@${expected.digest}`), 'RepoDigests lists the registry digest')
})

await scenario(t, 'pull --platform linux/arm64 from an OCI index and from a Docker manifest list', { ...needs, timeout: 120_000 }, async (t) => {
  const d = await docker()
  for (const format of ['oci', 'docker'] as const) {
    const index = multiPlatform(format, `${salt}-${format}`)
    await reg.pushContent(repo('multi'), format, index)
    const arm = index.children[1]! as ImageContent
    await d.docker(['pull', '--platform', 'linux/arm64', name('multi', format)])
    const [inspect] = JSON.parse((await d.docker(['image', 'inspect', name('multi', format)])).stdout) as Array<{ Id: string; Architecture: string; RepoDigests: string[] }>
    t.equal(inspect?.Architecture, 'arm64', `${format}: pulled the arm64 image`)
    t.equal(inspect?.Id, arm.config.digest, `${format}: image ID is the arm64 config digest`)
    t.ok(inspect?.RepoDigests.includes(`${target.address}/${repo('multi')}@${index.manifest.digest}`), `${format}: RepoDigests names the index digest`)
    await d.docker(['rmi', '-f', name('multi', format)])
  }
})

await scenario(t, 'manifest inspect of a manifest list and of an image', { ...needs, timeout: 60_000 }, async (t) => {
  const d = await docker()
  const list = multiPlatform('docker', `${salt}-inspect`)
  await reg.pushContent(repo('inspect'), 'list', list)
  const shown = JSON.parse((await d.docker(['manifest', 'inspect', '--insecure', name('inspect', 'list')])).stdout) as {
    mediaType: string; manifests: Array<{ digest: string; platform: { architecture: string } }>
  }
  t.equal(shown.mediaType, list.manifest.mediaType, 'manifest inspect shows the list media type')
  t.same(shown.manifests.map((m) => [m.digest, m.platform.architecture]),
    list.children.map((c) => [c.manifest.digest, c.kind === 'image' ? c.platform?.architecture : '']), 'and every entry with its platform')
  const single = JSON.parse((await d.docker(['manifest', 'inspect', '--insecure', `${target.address}/${repo('inspect')}@${list.children[0]!.manifest.digest}`])).stdout) as {
    config: { digest: string }
  }
  t.equal(single.config.digest, (list.children[0] as ImageContent).config.digest, 'manifest inspect by digest shows the image manifest')
})
