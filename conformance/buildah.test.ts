// buildah against a running registry: from scratch, copy, commit, push in OCI and Docker formats,
// manifest create/add/push --all, pull (one platform of an index) and read the files back.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { assertPulls, assertTags, childFor, layerFiles } from './helpers/checks.js'
import { containersEnv } from './helpers/containers-env.js'
import { scenario, toolPath, uniqueSuffix, type Tap, type ToolName } from './helpers/env.js'
import { multiPlatform, newSalt } from './helpers/fixtures.js'
import { MediaTypes, RegistryClient } from '../test/support/index.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { startTarget } from './helpers/target.js'

const target = await startTarget()
t.teardown(() => target.stop())
const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
const runId = uniqueSuffix()
const salt = newSalt()
const needs: ToolName[] = ['buildah', 'busybox', 'busyboxArm64']
const repo = (name: string): string => `conformance/buildah-${runId}/${name}`
const ref = (name: string, tag: string): string => `docker://${target.address}/${repo(name)}:${tag}`

type Buildah = (args: readonly string[], timeoutMs?: number) => Promise<RunResult>

async function setup(t: Tap): Promise<{ buildah: Buildah; work: string }> {
  const env = await containersEnv([target.address])
  const work = await tempDir('buildah')
  const buildah: Buildah = (args, timeoutMs = 120_000) =>
    run(toolPath('buildah'), [...env.storageFlags, ...args], { env: env.env, timeoutMs })
  t.teardown(async () => {
    // Containers and images live only in the private vfs root; remove them, then the root.
    await buildah(['rm', '--all'], 30_000).catch(() => undefined)
    await buildah(['rmi', '--all', '--force'], 30_000).catch(() => undefined)
    await env.remove()
    await work.remove()
  })
  return { buildah, work: work.path }
}

/** from scratch + copy busybox and a marker file + config + commit as `name`. */
async function build(buildah: Buildah, work: string, arch: 'amd64' | 'arm64', name: string): Promise<void> {
  const ctr = (await buildah(['from', 'scratch'])).stdout.trim()
  const marker = path.join(work, `marker-${arch}`)
  await writeFile(marker, `${salt} linux/${arch}\n`)
  await buildah(['copy', '--chmod', '0755', ctr, toolPath(arch === 'amd64' ? 'busybox' : 'busyboxArm64'), '/bin/busybox'])
  await buildah(['copy', ctr, marker, '/etc/wharf-platform'])
  await buildah(['config', '--arch', arch, '--os', 'linux', '--cmd', '/bin/busybox sh', '--label', `org.example.salt=${salt}`, ctr])
  await buildah(['commit', '--format', 'oci', ctr, name])
  await buildah(['rm', ctr])
}

await scenario(t, 'from scratch, copy, commit, push as OCI and as Docker', { tools: needs, root: true, timeout: 120_000 }, async (t) => {
  const { buildah, work } = await setup(t)
  await build(buildah, work, 'amd64', 'localhost/wharf-conformance-img')
  await buildah(['push', '--tls-verify=false', '--format', 'oci', 'localhost/wharf-conformance-img', ref('built', 'oci')])
  await buildah(['push', '--tls-verify=false', '--format', 'v2s2', 'localhost/wharf-conformance-img', ref('built', 'docker')])
  const busybox = await readFile(toolPath('busybox'))
  for (const [tag, type] of [['oci', MediaTypes.ociManifest], ['docker', MediaTypes.dockerManifest]] as const) {
    const pulled = await assertPulls(t, reg, repo('built'), tag)
    t.equal(pulled.mediaType, type, `:${tag} is served as ${type}`)
    const files = layerFiles(pulled)
    t.ok(files.get('bin/busybox')?.data.equals(busybox), `:${tag} layer holds the busybox binary byte-identical`)
    t.equal(files.get('etc/wharf-platform')?.data.toString(), `${salt} linux/amd64\n`, `:${tag} layer holds the copied file`)
  }
  await assertTags(t, reg, repo('built'), ['oci', 'docker'])
})

await scenario(t, 'manifest create, add, push --all (linux/amd64 + linux/arm64)', { tools: needs, root: true, timeout: 150_000 }, async (t) => {
  const { buildah, work } = await setup(t)
  await build(buildah, work, 'amd64', 'localhost/wharf-conformance-amd64')
  await build(buildah, work, 'arm64', 'localhost/wharf-conformance-arm64')
  await buildah(['manifest', 'create', 'localhost/wharf-conformance-list'])
  await buildah(['manifest', 'add', 'localhost/wharf-conformance-list', 'containers-storage:localhost/wharf-conformance-amd64'])
  await buildah(['manifest', 'add', 'localhost/wharf-conformance-list', 'containers-storage:localhost/wharf-conformance-arm64'])
  await buildah(['manifest', 'push', '--all', '--tls-verify=false', 'localhost/wharf-conformance-list', ref('list', 'multi')])
  const pulled = await assertPulls(t, reg, repo('list'), 'multi')
  t.ok(pulled.mediaType === MediaTypes.ociIndex || pulled.mediaType === MediaTypes.dockerManifestList, `the list is an index (${pulled.mediaType})`)
  for (const arch of ['amd64', 'arm64'] as const) {
    const files = layerFiles(pulled, childFor(pulled, arch))
    t.ok(files.get('bin/busybox')?.data.equals(await readFile(toolPath(arch === 'amd64' ? 'busybox' : 'busyboxArm64'))), `${arch} entry has the ${arch} busybox`)
    t.equal(files.get('etc/wharf-platform')?.data.toString(), `${salt} linux/${arch}\n`, `${arch} entry has its marker`)
  }
})

await scenario(t, 'pull one platform of an index and read its files', { tools: needs, root: true, timeout: 90_000 }, async (t) => {
  const { buildah } = await setup(t)
  const index = multiPlatform('oci', `${salt}-pull`)
  await reg.pushContent(repo('pull'), 'multi', index)
  const name = `${target.address}/${repo('pull')}:multi`
  await buildah(['pull', '--tls-verify=false', '--arch', 'arm64', `docker://${name}`])
  const inspect = JSON.parse((await buildah(['inspect', '--type', 'image', name])).stdout) as { FromImageDigest: string; OCIv1: { architecture: string } }
  t.equal(inspect.OCIv1.architecture, 'arm64', 'pulled the arm64 image')
  const armChild = index.children[1]!
  t.equal(inspect.FromImageDigest, armChild.manifest.digest, 'the pulled image is the arm64 entry, by digest')
  const ctr = (await buildah(['from', '--arch', 'arm64', name])).stdout.trim()
  const mount = (await buildah(['mount', ctr])).stdout.trim()
  t.teardown(() => buildah(['umount', ctr]).catch(() => undefined))
  t.equal(await readFile(path.join(mount, 'etc', 'wharf-platform'), 'utf8'), 'linux/arm64\n', 'the image filesystem has the arm64 marker')
  t.ok((await readFile(path.join(mount, 'bin', 'busybox'))).equals(await readFile(toolPath('busyboxArm64'))), 'and the arm64 busybox binary')
})
