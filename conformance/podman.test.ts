// podman against a running registry: load (docker-archive and oci-archive), tag, push, pull of
// one platform from an index, manifest create/add/push --all.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { assertPulls, assertTags, childFor, layerFiles } from './helpers/checks.js'
import { containersEnv } from './helpers/containers-env.js'
import { scenario, toolPath, uniqueSuffix, type Tap, type ToolName } from './helpers/env.js'
import { busyboxImage, dockerArchive, multiPlatform, newSalt, ociArchive } from './helpers/fixtures.js'
import { MediaTypes, RegistryClient } from '../test/support/index.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { startTarget } from './helpers/target.js'

const target = await startTarget()
t.teardown(() => target.stop())
const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
const runId = uniqueSuffix()
const salt = newSalt()
const needs: ToolName[] = ['podman', 'busybox', 'busyboxArm64']
const repo = (name: string): string => `conformance/podman-${runId}/${name}`
const name = (r: string, tag: string): string => `${target.address}/${repo(r)}:${tag}`

type Podman = (args: readonly string[], timeoutMs?: number) => Promise<RunResult>

async function setup(t: Tap): Promise<{ podman: Podman; work: string }> {
  const env = await containersEnv([target.address])
  const work = await tempDir('podman')
  const podman: Podman = (args, timeoutMs = 120_000) => run(toolPath('podman'), [
    ...env.storageFlags, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--tmpdir', path.join(env.dir, 'runroot', 'libpod'),
    ...args,
  ], { env: env.env, timeoutMs })
  t.teardown(async () => {
    await podman(['rmi', '--all', '--force'], 30_000).catch(() => undefined)
    await podman(['system', 'reset', '--force'], 30_000).catch(() => undefined)
    await env.remove()
    await work.remove()
  })
  return { podman, work: work.path }
}

await scenario(t, 'load a docker-archive and an oci-archive, tag, push', { tools: needs, root: true, timeout: 120_000 }, async (t) => {
  const { podman, work } = await setup(t)
  const dockerImage = busyboxImage('amd64', 'docker', `${salt}-docker`)
  const ociImage = busyboxImage('arm64', 'oci', `${salt}-oci`)
  const dockerTar = path.join(work, 'docker.tar')
  const ociTar = path.join(work, 'oci.tar')
  await writeFile(dockerTar, dockerArchive(dockerImage, ['localhost/wharf-conformance/loaded:docker']))
  await writeFile(ociTar, ociArchive([{ name: 'localhost/wharf-conformance/loaded:oci', content: ociImage }]))
  t.match((await podman(['load', '-i', dockerTar])).stdout, /Loaded image/, 'podman load docker-archive')
  t.match((await podman(['load', '-i', ociTar])).stdout, /Loaded image/, 'podman load oci-archive')
  await podman(['tag', 'localhost/wharf-conformance/loaded:docker', name('loaded', 'docker')])
  await podman(['tag', 'localhost/wharf-conformance/loaded:oci', name('loaded', 'oci')])
  await podman(['push', '--tls-verify=false', name('loaded', 'docker')])
  await podman(['push', '--tls-verify=false', '--format', 'oci', name('loaded', 'oci')])
  await assertTags(t, reg, repo('loaded'), ['docker', 'oci'])
  for (const [tag, image, arch] of [['docker', dockerImage, 'amd64'], ['oci', ociImage, 'arm64']] as const) {
    const pulled = await assertPulls(t, reg, repo('loaded'), tag)
    const files = layerFiles(pulled)
    t.equal(files.get('etc/wharf-salt')?.data.toString(), `${salt}-${tag}\n`, `:${tag} layer content survived load and push`)
    t.ok(files.get('bin/busybox')?.data.equals(await readFile(toolPath(arch === 'amd64' ? 'busybox' : 'busyboxArm64'))), `:${tag} has the ${arch} busybox`)
    const config = JSON.parse(pulled.blobs.get(JSON.parse(pulled.manifests.get(pulled.digest)!.body.toString()).config.digest)!.toString()) as { rootfs: { diff_ids: string[] } }
    t.same(config.rootfs.diff_ids, JSON.parse(image.config.data.toString()).rootfs.diff_ids, `:${tag} config keeps the diff_ids`)
  }
})

await scenario(t, 'pull one platform of an index', { tools: needs, root: true, timeout: 90_000 }, async (t) => {
  const { podman } = await setup(t)
  const index = multiPlatform('oci', `${salt}-pull`)
  await reg.pushContent(repo('pull'), 'multi', index)
  await podman(['pull', '--tls-verify=false', '--arch', 'arm64', name('pull', 'multi')])
  const [inspect] = JSON.parse((await podman(['image', 'inspect', name('pull', 'multi')])).stdout) as Array<{ Digest: string; RepoDigests: string[]; Architecture: string }>
  t.equal(inspect?.Architecture, 'arm64', 'podman pulled the arm64 image')
  const armDigest = index.children[1]!.manifest.digest
  t.ok(inspect?.RepoDigests.some((d) => d.endsWith(`@${armDigest}`)), `RepoDigests name the arm64 entry (${inspect?.RepoDigests.join(', ')})`)
  t.ok(inspect?.Digest === index.manifest.digest || inspect?.Digest === armDigest, 'Digest is the index or the arm64 entry')
  await podman(['pull', '--tls-verify=false', name('pull', 'multi')])
})

await scenario(t, 'manifest create, add (remote images), push --all', { tools: needs, root: true, timeout: 120_000 }, async (t) => {
  const { podman } = await setup(t)
  const amd = busyboxImage('amd64', 'oci', `${salt}-list`)
  const arm = busyboxImage('arm64', 'oci', `${salt}-list`)
  await reg.pushContent(repo('parts'), 'amd64', amd)
  await reg.pushContent(repo('parts'), 'arm64', arm)
  await podman(['manifest', 'create', 'localhost/wharf-conformance-list'])
  await podman(['manifest', 'add', '--tls-verify=false', 'localhost/wharf-conformance-list', `docker://${name('parts', 'amd64')}`])
  await podman(['manifest', 'add', '--tls-verify=false', 'localhost/wharf-conformance-list', `docker://${name('parts', 'arm64')}`])
  await podman(['manifest', 'push', '--all', '--tls-verify=false', 'localhost/wharf-conformance-list', `docker://${name('list', 'multi')}`])
  const pulled = await assertPulls(t, reg, repo('list'), 'multi')
  t.ok(pulled.mediaType === MediaTypes.ociIndex || pulled.mediaType === MediaTypes.dockerManifestList, `pushed an index (${pulled.mediaType})`)
  t.equal(childFor(pulled, 'amd64'), amd.manifest.digest, 'amd64 entry is the pushed image, unchanged')
  t.equal(childFor(pulled, 'arm64'), arm.manifest.digest, 'arm64 entry is the pushed image, unchanged')
  for (const image of [amd, arm]) {
    for (const layer of image.layers) t.ok(pulled.blobs.get(layer.digest)?.equals(layer.data), `layer ${layer.digest.slice(7, 19)} byte-identical`)
  }
})
