// skopeo against a running registry: copy from oci:, oci-archive: and dir:, copy --all of an OCI
// index and of a Docker manifest list, copy back and compare, inspect, list-tags, delete,
// copy between repositories (cross-repository mount), sync, a 200 MiB layer, an artifact and a
// referrer.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { assertDirHolds, assertLayoutHolds, assertManifestGone, assertPulls, assertTags } from './helpers/checks.js'
import { containersEnv, type ContainersEnv } from './helpers/containers-env.js'
import { scenario, toolPath, uniqueSuffix, type Tap, type ToolName } from './helpers/env.js'
import {
  artifact, bigLayerImage, busyboxImage, multiPlatform, newSalt, ociArchive, referrer, REFERRER_ARTIFACT_TYPE,
  writeDirLayout, writeOciLayout,
} from './helpers/fixtures.js'
import { digestOf, RegistryClient } from '../test/support/index.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { startTarget } from './helpers/target.js'

const target = await startTarget()
t.teardown(() => target.stop())
const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
const run_ = uniqueSuffix()
const salt = newSalt()
const needs: ToolName[] = ['skopeo', 'busybox', 'busyboxArm64']
const repo = (name: string): string => `conformance/skopeo-${run_}/${name}`
const ref = (name: string, tag: string): string => `docker://${target.address}/${repo(name)}:${tag}`

async function withEnv(t: Tap): Promise<{ skopeo: (args: readonly string[], timeoutMs?: number) => Promise<RunResult>; env: ContainersEnv; work: string }> {
  const env = await containersEnv([target.address])
  t.teardown(() => env.remove())
  const work = await tempDir('skopeo')
  t.teardown(() => work.remove())
  const skopeo = (args: readonly string[], timeoutMs = 120_000): Promise<RunResult> =>
    run(toolPath('skopeo'), ['--policy', env.policy, '--registries-conf', env.env.CONTAINERS_REGISTRIES_CONF!, ...args], { env: env.env, timeoutMs })
  return { skopeo, env, work: work.path }
}

const TLS = ['--src-tls-verify=false', '--dest-tls-verify=false']

await scenario(t, 'copy from oci: layout, inspect, list-tags, copy back', { tools: needs, timeout: 90_000 }, async (t) => {
  const { skopeo, work } = await withEnv(t)
  const image = busyboxImage('amd64', 'oci', salt)
  const layout = path.join(work, 'layout')
  await writeOciLayout(layout, [{ name: 'v1', content: image }])
  await skopeo(['copy', ...TLS, `oci:${layout}:v1`, ref('oci', 'v1')])
  await assertPulls(t, reg, repo('oci'), 'v1', image)

  const inspect = JSON.parse((await skopeo(['inspect', '--tls-verify=false', ref('oci', 'v1')])).stdout) as { Digest: string; Architecture: string; Layers: string[] }
  t.equal(inspect.Digest, image.manifest.digest, 'skopeo inspect reports the manifest digest')
  t.equal(inspect.Architecture, 'amd64')
  t.same(inspect.Layers, image.layers.map((l) => l.digest), 'skopeo inspect lists the layers')
  const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', ref('oci', 'v1')])).stdout
  t.equal(digestOf(raw), image.manifest.digest, 'skopeo inspect --raw returns the pushed bytes')

  await skopeo(['copy', ...TLS, ref('oci', 'v1'), ref('oci', 'v2')])
  const tags = JSON.parse((await skopeo(['list-tags', '--tls-verify=false', `docker://${target.address}/${repo('oci')}`])).stdout) as { Tags: string[] }
  t.same([...tags.Tags].sort(), ['v1', 'v2'], 'skopeo list-tags')
  await assertTags(t, reg, repo('oci'), ['v1', 'v2'])

  const back = path.join(work, 'back')
  await skopeo(['copy', ...TLS, ref('oci', 'v1'), `oci:${back}:back`])
  await assertLayoutHolds(t, back, image)
})

await scenario(t, 'copy from oci-archive:', { tools: needs, timeout: 60_000 }, async (t) => {
  const { skopeo, work } = await withEnv(t)
  const image = busyboxImage('arm64', 'oci', salt)
  const archive = path.join(work, 'image.tar')
  await writeFile(archive, ociArchive([{ name: 'arm', content: image }]))
  await skopeo(['copy', ...TLS, `oci-archive:${archive}:arm`, ref('archive', 'arm')])
  await assertPulls(t, reg, repo('archive'), 'arm', image)
  const back = path.join(work, 'back.tar')
  await skopeo(['copy', ...TLS, ref('archive', 'arm'), `oci-archive:${back}:arm`])
  t.ok((await readFile(back)).length > image.layers[0]!.size, 'copied back to an oci-archive')
})

await scenario(t, 'copy a Docker schema2 image from dir: and back', { tools: needs, timeout: 60_000 }, async (t) => {
  const { skopeo, work } = await withEnv(t)
  const image = busyboxImage('amd64', 'docker', salt)
  const dir = path.join(work, 'dir')
  await writeDirLayout(dir, image)
  await skopeo(['copy', ...TLS, `dir:${dir}`, ref('docker', 'schema2')])
  const pulled = await assertPulls(t, reg, repo('docker'), 'schema2', image)
  t.equal(pulled.mediaType, 'application/vnd.docker.distribution.manifest.v2+json', 'served as Docker schema2')
  const back = path.join(work, 'back')
  await skopeo(['copy', ...TLS, ref('docker', 'schema2'), `dir:${back}`])
  await assertDirHolds(t, back, image)
})

await scenario(t, 'copy --all of a multi-platform OCI index (oci:) and back', { tools: needs, timeout: 90_000 }, async (t) => {
  const { skopeo, work } = await withEnv(t)
  const index = multiPlatform('oci', salt)
  const layout = path.join(work, 'layout')
  await writeOciLayout(layout, [{ name: 'multi', content: index }])
  await skopeo(['copy', '--all', ...TLS, `oci:${layout}:multi`, ref('index', 'multi')])
  await assertPulls(t, reg, repo('index'), 'multi', index)
  const back = path.join(work, 'back')
  await skopeo(['copy', '--all', ...TLS, ref('index', 'multi'), `oci:${back}:multi`])
  await assertLayoutHolds(t, back, index)
  const arm = JSON.parse((await skopeo(['--override-arch', 'arm64', 'inspect', '--tls-verify=false', ref('index', 'multi')])).stdout) as { Digest: string; Architecture: string }
  t.equal(arm.Architecture, 'arm64', 'inspect --override-arch arm64 resolves the arm64 entry')
})

await scenario(t, 'copy --all of a Docker manifest list (dir:) and back', { tools: needs, timeout: 90_000 }, async (t) => {
  const { skopeo, work } = await withEnv(t)
  const list = multiPlatform('docker', salt)
  const dir = path.join(work, 'dir')
  await writeDirLayout(dir, list)
  await skopeo(['copy', '--all', ...TLS, `dir:${dir}`, ref('list', 'multi')])
  const pulled = await assertPulls(t, reg, repo('list'), 'multi', list)
  t.equal(pulled.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json', 'served as a Docker manifest list')
  const back = path.join(work, 'back')
  await skopeo(['copy', '--all', ...TLS, ref('list', 'multi'), `dir:${back}`])
  await assertDirHolds(t, back, list)
})

await scenario(t, 'copy between two repositories (cross-repository mount)', { tools: needs, timeout: 60_000 }, async (t) => {
  const { skopeo, work } = await withEnv(t)
  const image = busyboxImage('amd64', 'oci', `${salt}-mount`)
  const layout = path.join(work, 'layout')
  await writeOciLayout(layout, [{ name: 'src', content: image }])
  await skopeo(['copy', ...TLS, `oci:${layout}:src`, ref('mount-src', 'v1')])
  const copied = await skopeo(['--debug', 'copy', ...TLS, ref('mount-src', 'v1'), ref('mount-dst', 'v1')])
  const log = copied.stderr
  for (const layer of image.layers) {
    const hex = layer.digest.slice('sha256:'.length)
    t.ok(new RegExp(`Trying to mount \\S*mount-dst/blobs/uploads/\\S*mount=sha256%3A${hex}`).test(log), `skopeo asked to mount layer ${hex.slice(0, 12)}`)
    t.notOk(log.includes(`Upload of layer ${layer.digest} complete`), `layer ${hex.slice(0, 12)} was not uploaded again`)
  }
  t.ok(log.includes('... mount OK'), 'the registry accepted the mount (201)')
  await assertPulls(t, reg, repo('mount-dst'), 'v1', image)
  for (const layer of image.layers) {
    t.equal((await reg.head(`/v2/${repo('mount-dst')}/blobs/${layer.digest}`)).status, 200, 'mounted layer present in the destination')
  }
})

await scenario(t, 'delete, then 404', { tools: needs, timeout: 60_000 }, async (t) => {
  const { skopeo, work } = await withEnv(t)
  const image = busyboxImage('amd64', 'oci', `${salt}-delete`)
  const layout = path.join(work, 'layout')
  await writeOciLayout(layout, [{ name: 'd', content: image }])
  await skopeo(['copy', ...TLS, `oci:${layout}:d`, ref('delete', 'd')])
  await assertPulls(t, reg, repo('delete'), 'd', image)
  await skopeo(['delete', '--tls-verify=false', ref('delete', 'd')])
  await assertManifestGone(t, reg, repo('delete'), image.manifest.digest)
  await assertManifestGone(t, reg, repo('delete'), 'd')
})

await scenario(t, 'sync a repository to another repository and to dir:', { tools: needs, timeout: 90_000 }, async (t) => {
  const { skopeo, work } = await withEnv(t)
  const a = busyboxImage('amd64', 'oci', `${salt}-sync`)
  const index = multiPlatform('oci', `${salt}-sync`)
  const layout = path.join(work, 'layout')
  await writeOciLayout(layout, [{ name: 'a', content: a }, { name: 'multi', content: index }])
  await skopeo(['copy', ...TLS, `oci:${layout}:a`, ref('sync/app', 'a')])
  await skopeo(['copy', '--all', ...TLS, `oci:${layout}:multi`, ref('sync/app', 'multi')])
  await skopeo(['sync', '--all', '--src', 'docker', '--dest', 'docker', ...TLS,
    `${target.address}/${repo('sync/app')}`, `${target.address}/${repo('mirror')}`])
  await assertTags(t, reg, `${repo('mirror')}/app`, ['a', 'multi'])
  await assertPulls(t, reg, `${repo('mirror')}/app`, 'a', a)
  await assertPulls(t, reg, `${repo('mirror')}/app`, 'multi', index)
  const out = path.join(work, 'synced')
  await skopeo(['sync', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', `${target.address}/${repo('sync/app')}:a`, out])
  await assertDirHolds(t, path.join(out, 'app:a'), a)
})

await scenario(t, '200 MiB random layer: copy in, verify, copy back', { tools: needs, timeout: 240_000 }, async (t) => {
  const { skopeo, work } = await withEnv(t)
  const image = bigLayerImage(200, salt)
  const layout = path.join(work, 'layout')
  await writeOciLayout(layout, [{ name: 'big', content: image }])
  await skopeo(['copy', ...TLS, `oci:${layout}:big`, ref('big', 'big')], 200_000)
  await assertPulls(t, reg, repo('big'), 'big', image)
  const head = await reg.head(`/v2/${repo('big')}/blobs/${image.layers[0]!.digest}`)
  t.equal(Number(head.header('content-length')), image.layers[0]!.size, 'HEAD blob Content-Length is the layer size')
  const ranged = await reg.request(`/v2/${repo('big')}/blobs/${image.layers[0]!.digest}`, { method: 'GET', headers: { Range: 'bytes=100000000-100000099' } })
  if (ranged.status === 206) t.ok(ranged.body.equals(image.layers[0]!.data.subarray(100_000_000, 100_000_100)), 'Range GET returns the requested bytes')
  const back = path.join(work, 'back')
  await skopeo(['copy', ...TLS, ref('big', 'big'), `oci:${back}:big`], 200_000)
  await assertLayoutHolds(t, back, image)
})

await scenario(t, 'artifact with a custom config media type and a referrer (subject)', { tools: needs, timeout: 60_000 }, async (t) => {
  const { skopeo, work } = await withEnv(t)
  const art = artifact(salt)
  const sig = referrer(art, salt)
  const layout = path.join(work, 'layout')
  await writeOciLayout(layout, [{ name: 'artifact', content: art }, { name: 'sig', content: sig }])
  await skopeo(['copy', ...TLS, `oci:${layout}:artifact`, ref('artifact', 'artifact')])
  await skopeo(['copy', ...TLS, `oci:${layout}:sig`, ref('artifact', 'sig')])
  await assertPulls(t, reg, repo('artifact'), 'artifact', art)
  await assertPulls(t, reg, repo('artifact'), 'sig', sig)
  if (target.capabilities.referrers) {
    const res = await reg.get(`/v2/${repo('artifact')}/referrers/${art.manifest.digest}`)
    t.equal(res.status, 200, 'referrers API answers 200')
    const body = res.json<{ manifests: Array<{ digest: string; artifactType?: string; annotations?: Record<string, string> }> }>()
    t.same(body.manifests.map((m) => [m.digest, m.artifactType, m.annotations?.['org.example.note']]),
      [[sig.manifest.digest, REFERRER_ARTIFACT_TYPE, 'referrer']], 'the referrer is listed with artifactType and annotations')
  }
})
