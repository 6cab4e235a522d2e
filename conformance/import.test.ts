// Import of archives real clients write: skopeo's oci-archive (an index, by `copy --all`) and
// docker-archive (the legacy `docker save` layout), through the HTTP endpoint and `wharf import`;
// then skopeo reads the imported images back and the digests are the archive's.
import { spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { containersEnv } from './helpers/containers-env.js'
import { startDockerd, startedOnce } from './helpers/daemons.js'
import { scenario, toolPath, uniqueSuffix, type Requirements, type Tap, type ToolName } from './helpers/env.js'
import { busyboxImage, dockerArchive, multiPlatform, newSalt, readOciLayout, writeOciLayout } from './helpers/fixtures.js'
import { allBlobs, digestOf, RegistryClient, WHARF_CLI } from '../test/support/index.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { startTarget } from './helpers/target.js'

const target = await startTarget()
t.teardown(() => target.stop())
const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
const suffix = uniqueSuffix()
const salt = newSalt()
const needs: ToolName[] = ['skopeo', 'busybox', 'busyboxArm64']
const repo = (name: string): string => `conformance/import-${suffix}/${name}`

async function withSkopeo(t: Tap): Promise<{ skopeo: (args: readonly string[]) => Promise<RunResult>; work: string }> {
  const env = await containersEnv([target.address])
  t.teardown(() => env.remove())
  const work = await tempDir('import')
  t.teardown(() => work.remove())
  const skopeo = (args: readonly string[]): Promise<RunResult> =>
    run(toolPath('skopeo'), ['--policy', env.policy, '--registries-conf', env.env.CONTAINERS_REGISTRIES_CONF!, ...args], { env: env.env, timeoutMs: 120_000 })
  return { skopeo, work: work.path }
}

await scenario(t, 'skopeo oci-archive of an index → HTTP import → skopeo inspect --raw gives the same digests', { tools: needs, timeout: 90_000 }, async (t) => {
  const { skopeo, work } = await withSkopeo(t)
  const index = multiPlatform('oci', salt)
  const layout = path.join(work, 'layout')
  await writeOciLayout(layout, [{ name: 'v1', content: index }])
  const archive = path.join(work, 'image.tar')
  await skopeo(['copy', '--all', `oci:${layout}:v1`, `oci-archive:${archive}:v1`])
  const res = await reg.request(`/_wharf/v1/repositories/${repo('oci')}/import`, { method: 'POST', headers: { 'content-type': 'application/x-tar' }, body: await readFile(archive) })
  t.equal(res.status, 201, res.text())
  t.same(res.json<{ images: unknown }>().images, [{ digest: index.manifest.digest, mediaType: index.manifest.mediaType, tags: ['v1'] }], 'the archive tag (ref.name) is set')
  const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${target.address}/${repo('oci')}:v1`])).stdout
  t.equal(digestOf(raw), index.manifest.digest, 'the index bytes are the archive\'s')
  for (const child of index.children) {
    const childRaw = (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${target.address}/${repo('oci')}@${child.manifest.digest}`])).stdout
    t.equal(digestOf(childRaw), child.manifest.digest, `platform manifest ${child.manifest.digest} kept`)
  }
  const back = path.join(work, 'back')
  await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${target.address}/${repo('oci')}:v1`, `oci:${back}:v1`])
  const copied = await readOciLayout(back)
  t.same(copied.refs, [index.manifest.digest], 'skopeo copies the imported index back, digest unchanged')
  t.same(allBlobs(index).map((b) => b.digest).filter((d) => !copied.blobs.has(d)), [], 'every blob of the archive comes back, each matching its digest')
})

await scenario(t, 'skopeo docker-archive → wharf import (CLI) → config and layers as in the archive', { tools: needs, timeout: 90_000 }, async (t) => {
  const { skopeo, work } = await withSkopeo(t)
  const image = busyboxImage('amd64', 'oci', salt)
  const layout = path.join(work, 'layout')
  await writeOciLayout(layout, [{ name: 'v1', content: image }])
  const archive = path.join(work, 'image.tar')
  await skopeo(['copy', `oci:${layout}:v1`, `docker-archive:${archive}:${repo('docker')}:saved`])
  const cli = spawnSync(process.execPath, [WHARF_CLI, 'import', archive, '--repository', repo('docker'), '--url', target.url], { encoding: 'utf8' })
  t.equal(cli.status, 0, cli.stderr)
  t.match(cli.stdout, /imported docker archive/)
  t.match(cli.stdout, /tags: saved/, 'RepoTags naming the repository are set')
  const inspect = JSON.parse((await skopeo(['inspect', '--tls-verify=false', `docker://${target.address}/${repo('docker')}:saved`])).stdout) as { Layers: string[] }
  const config = (await skopeo(['inspect', '--config', '--raw', '--tls-verify=false', `docker://${target.address}/${repo('docker')}:saved`])).stdout
  t.equal(digestOf(config), image.config.digest, 'the config digest is the archive\'s')
  t.equal(inspect.Layers.length, image.layers.length)
  await skopeo(['copy', '--src-tls-verify=false', `docker://${target.address}/${repo('docker')}:saved`, `oci:${path.join(work, 'back')}:v1`])
  const pulled = await readOciLayout(path.join(work, 'back'))
  const manifest = JSON.parse(pulled.blobs.get(pulled.refs[0]!)?.toString('utf8') ?? '{}') as { config?: { digest: string }; layers?: Array<{ digest: string }> }
  t.equal(manifest.config?.digest, image.config.digest, 'skopeo pulls the imported image: its config is the archive\'s')
  t.same((manifest.layers ?? []).map((l) => pulled.blobs.has(l.digest)), image.layers.map(() => true), 'every layer pulled, each matching its digest')
})

// One private dockerd (Debian's 20.10: `docker save` writes the legacy layout, no manifests inside).
const docker = startedOnce(t, () => startDockerd([target.address]))
const dockerNeeds: Requirements = { tools: ['dockerd', 'docker', 'containerd', 'skopeo', 'busybox', 'busyboxArm64'], root: true }

await scenario(t, 'docker save → import (archive tags) → docker pull gives the same image id, skopeo sees the config', { ...dockerNeeds, timeout: 180_000 }, async (t) => {
  const d = await docker()
  const { skopeo, work } = await withSkopeo(t)
  const image = busyboxImage('amd64', 'docker', salt)
  const loadFile = path.join(work, 'load.tar')
  const local = `${repo('saved')}:fromarchive`
  await writeFile(loadFile, dockerArchive(image, [local]))
  await d.docker(['load', '-i', loadFile])
  const id = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', local])).stdout.trim()
  const saved = path.join(work, 'saved.tar')
  await d.docker(['save', '-o', saved, local])
  const res = await reg.request(`/_wharf/v1/repositories/${repo('saved')}/import`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: await readFile(saved) })
  t.equal(res.status, 201, res.text())
  const result = res.json<{ format: string; images: Array<{ digest: string; tags: string[] }> }>()
  t.equal(result.format, 'docker')
  t.same(result.images[0]!.tags, ['fromarchive'], 'the RepoTag naming this repository is set')
  const config = (await skopeo(['inspect', '--config', '--raw', '--tls-verify=false', `docker://${target.address}/${repo('saved')}:fromarchive`])).stdout
  t.equal(digestOf(config), id, 'the config digest is the image id docker saved')
  const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${target.address}/${repo('saved')}:fromarchive`])).stdout
  t.equal(digestOf(raw), result.images[0]!.digest, 'the stored manifest is the one reported')
  await d.docker(['rmi', local])
  await d.docker(['pull', `${target.address}/${local}`])
  const pulled = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', `${target.address}/${local}`])).stdout.trim()
  t.equal(pulled, id, 'docker pulls the imported image back with the same id')
})
