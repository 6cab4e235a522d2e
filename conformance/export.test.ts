// Export (`wharf export`, GET /_wharf/v1/repositories/<name>/export) read by the real clients:
// skopeo reads the oci-archive with the registry's digests, podman load and docker load (a private
// dockerd 20.10) load it as the image the registry holds. Wharf only: the reference registry has no export.
import { createHash } from 'node:crypto'
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { containersEnv } from './helpers/containers-env.js'
import { startDockerd, startedOnce } from './helpers/daemons.js'
import { missingRequirements, scenario, toolPath, uniqueSuffix, type Requirements } from './helpers/env.js'
import { busyboxImage, multiPlatform, newSalt } from './helpers/fixtures.js'
import { RegistryClient, WHARF_CLI } from '../test/support/index.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { startWharfTarget } from './helpers/target.js'

const target = await startWharfTarget()
t.teardown(() => target.stop())
const reg = new RegistryClient(target.url, { timeoutMs: 60_000 })
const runId = uniqueSuffix()
const salt = newSalt()
const repo = `conformance/export-${runId}`
const image = busyboxImage('amd64', 'oci', `${salt}-image`)
const index = multiPlatform('oci', `${salt}-index`)
await reg.pushContent(repo, 'image', image)
await reg.pushContent(repo, 'multi', index)
const work = await tempDir('export')
t.teardown(() => work.remove())

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`
function configOf(arch: 'amd64' | 'arm64'): string {
  const child = index.children.find((c) => c.kind === 'image' && c.platform?.architecture === arch)
  if (child?.kind !== 'image') throw new Error(`no ${arch} image in the fixture`)
  return child.config.digest
}

/** `wharf export` of REF into a file of the work directory. */
async function exported(ref: string, file: string, ...options: string[]): Promise<string> {
  const out = path.join(work.path, file)
  await promisify(execFile)(process.execPath, [WHARF_CLI, 'export', `${repo}${ref}`, out, '--url', target.url, ...options], { timeout: 60_000 })
  return out
}

const dockerNeeds: Requirements = { tools: ['dockerd', 'docker', 'containerd'], root: true }
const docker = startedOnce(t, () => startDockerd([target.address]))
if (missingRequirements(dockerNeeds) === undefined) void docker().catch(() => undefined)

await scenario(t, 'skopeo reads the oci-archive with the registry\'s digests', { tools: ['skopeo'], timeout: 120_000 }, async (t) => {
  const skopeo = (args: string[]): Promise<RunResult> => run(toolPath('skopeo'), args, { timeoutMs: 60_000 })
  for (const [tag, content] of [['image', image], ['multi', index]] as const) {
    const archive = await exported(`:${tag}`, `${tag}.oci.tar`)
    const raw = await skopeo(['inspect', '--raw', `oci-archive:${archive}`])
    t.equal(sha256(raw.stdout), content.manifest.digest, `skopeo inspect --raw oci-archive: ${tag} has the registry's digest`)
    const dir = path.join(work.path, `${tag}-dir`)
    await skopeo(['copy', '--all', '--preserve-digests', `oci-archive:${archive}`, `dir:${dir}`])
    t.equal(sha256(await readFile(path.join(dir, 'manifest.json'))), content.manifest.digest, `skopeo copy to dir: keeps the ${tag} manifest`)
    for (const file of await readdir(dir)) {
      if (/^[0-9a-f]{64}$/.test(file)) t.equal(sha256(await readFile(path.join(dir, file))), `sha256:${file}`, `${file.slice(0, 12)} matches its digest`)
    }
  }
  const inspected = JSON.parse((await skopeo(['inspect', `oci-archive:${await exported(':image', 'image2.oci.tar')}`])).stdout) as { Digest: string; Architecture: string }
  t.equal(inspected.Digest, image.manifest.digest, 'skopeo inspect: Digest')
})

await scenario(t, 'podman load reads both formats', { tools: ['podman'], root: true, timeout: 180_000 }, async (t) => {
  const env = await containersEnv([target.address])
  const podman = (args: readonly string[]): Promise<RunResult> => run(toolPath('podman'), [
    ...env.storageFlags, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--tmpdir', path.join(env.dir, 'runroot', 'libpod'), ...args,
  ], { env: env.env, timeoutMs: 120_000 })
  t.teardown(async () => {
    await podman(['rmi', '--all', '--force']).catch(() => undefined)
    await podman(['system', 'reset', '--force']).catch(() => undefined)
    await env.remove()
  })
  // podman reads the OCI layout first (manifest.json too is there): of an index, the host's platform.
  const hostConfig = configOf(process.arch === 'arm64' ? 'arm64' : 'amd64')
  const cases: Array<[string, string[], string]> = [
    ['image', ['--format', 'oci'], image.config.digest],
    ['image', ['--format', 'docker'], image.config.digest],
    ['multi', ['--format', 'oci'], hostConfig],
    ['multi', ['--format', 'docker', '--platform', 'linux/arm64'], hostConfig],
  ]
  for (const [tag, options, config] of cases) {
    const archive = await exported(`:${tag}`, `podman-${tag}-${options.join('')}.tar`.replace(/\//g, '_'), ...options)
    const loaded = await podman(['load', '-i', archive])
    t.match(loaded.stdout, `Loaded image: ${target.address}/${repo}:${tag}`, `podman load ${tag} ${options.join(' ')}: named as pulled`)
    const inspect = JSON.parse((await podman(['image', 'inspect', `${target.address}/${repo}:${tag}`])).stdout) as Array<{ Id: string }>
    t.equal(`sha256:${inspect[0]?.Id}`, config, 'the loaded image is the exported one (its config digest is its id)')
    await podman(['rmi', '--force', `${target.address}/${repo}:${tag}`])
  }
})

await scenario(t, 'docker load reads the docker format, by tag and for one platform of an index', { ...dockerNeeds, timeout: 180_000 }, async (t) => {
  const d = await docker()
  const cases: Array<[string, string[], string, string]> = [
    ['image', [], image.config.digest, 'amd64'],
    ['multi', [], configOf('amd64'), 'amd64'],
    ['multi', ['--platform', 'linux/arm64'], configOf('arm64'), 'arm64'],
  ]
  for (const [tag, options, config, arch] of cases) {
    const archive = await exported(`:${tag}`, `docker-${tag}-${arch}.tar`, '--format', 'docker', ...options)
    const loaded = await d.docker(['load', '-i', archive])
    t.match(loaded.stdout, `Loaded image: ${target.address}/${repo}:${tag}`, `docker load ${tag} ${options.join(' ')}: named as pulled`)
    const [inspect] = JSON.parse((await d.docker(['image', 'inspect', `${target.address}/${repo}:${tag}`])).stdout) as Array<{ Id: string; Architecture: string }>
    t.equal(inspect?.Id, config, 'the image id is the exported config digest')
    t.equal(inspect?.Architecture, arch, `docker has the ${arch} image`)
    await d.docker(['rmi', '--force', `${target.address}/${repo}:${tag}`])
  }
})
