// A private BuildKit daemon (../shared/bin/buildkitd v0.24) for one test file: its own --root
// state, unix socket and buildkitd.toml (plain HTTP to the registries under test), the OCI worker
// on runc, and qemu-aarch64-static on its PATH as buildkit-qemu-aarch64 so that linux/arm64 RUN
// steps run emulated without anything registered with binfmt_misc. Stopped by PID (its process
// group); mounts it leaves behind are lazily unmounted before its directory is removed.
import { chmod, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { toolPath } from './env.js'
import { waitFor } from '../../test/support/index.js'
import { run, startDaemon, tempDir, type RunOptions, type RunResult } from './proc.js'

export interface Buildkitd {
  /** unix:///…/buildkitd.sock */
  readonly address: string
  /** Its state directory (--root). */
  readonly root: string
  /** buildctl against this daemon. */
  buildctl(args: readonly string[], options?: RunOptions): Promise<RunResult>
  output(): string
  stop(): Promise<void>
}

/** A registry the daemon pushes to and pulls from: HOST:PORT over plain HTTP, or over HTTPS trusting `ca`. */
export type BuildkitRegistry = string | { readonly address: string; readonly ca: string }

function registryLines(registry: BuildkitRegistry): string[] {
  // Over HTTPS `http = false` must be said: BuildKit speaks plain HTTP to loopback registries otherwise.
  if (typeof registry !== 'string') return [`[registry."${registry.address}"]`, '  http = false', `  ca = ["${registry.ca}"]`]
  return [`[registry."${registry}"]`, '  http = true', '  insecure = true']
}

/** The buildkitd.toml of a daemon that reaches `registries`. */
export function buildkitdConfig(root: string, address: string, registries: readonly BuildkitRegistry[]): string {
  return [
    `root = "${root}"`,
    '[grpc]',
    `  address = ["${address}"]`,
    '[worker.oci]',
    '  enabled = true',
    '  binary = "runc"',
    // No background collection: the cache the scenarios check stays until the daemon stops.
    '  gc = false',
    '[worker.containerd]',
    '  enabled = false',
    ...registries.flatMap(registryLines),
    '',
  ].join('\n')
}

/** Paths under `dir` still mounted (overlay snapshots of a daemon that was killed). */
async function mountsUnder(dir: string): Promise<string[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8')
  return table.split('\n').map((line) => line.split(' ')[4] ?? '').filter((mount) => mount.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length)
}

export async function startBuildkitd(registries: readonly BuildkitRegistry[]): Promise<Buildkitd> {
  const dir = await tempDir('buildkitd')
  const root = path.join(dir.path, 'root')
  const address = `unix://${path.join(dir.path, 'buildkitd.sock')}`
  const config = path.join(dir.path, 'buildkitd.toml')
  await writeFile(config, buildkitdConfig(root, address, registries))
  // BuildKit looks for buildkit-qemu-<arch> on its PATH when the kernel cannot run a platform.
  const bin = path.join(dir.path, 'bin')
  await mkdir(bin)
  await symlink(toolPath('qemuAarch64'), path.join(bin, 'buildkit-qemu-aarch64'))
  // nice: the builds share the machine with the rest of the suite (nice execs, the PID stays buildkitd's).
  const daemon = startDaemon('buildkitd', 'nice', ['-n', '10', toolPath('buildkitd'), '--config', config], {
    PATH: `${bin}:${path.dirname(toolPath('runc'))}:${process.env.PATH ?? ''}`,
  })
  const buildctlPath = toolPath('buildctl')
  const buildctl = (args: readonly string[], options: RunOptions = {}): Promise<RunResult> =>
    run(buildctlPath, ['--addr', address, ...args], { timeoutMs: 120_000, ...options })
  const stop = async (): Promise<void> => {
    await daemon.stop(15_000)
    for (const mount of await mountsUnder(dir.path)) await run('umount', ['-l', mount], { allowFailure: true, timeoutMs: 10_000 })
    await dir.remove()
  }
  try {
    await waitFor('buildkitd', async () => {
      if (daemon.child.exitCode !== null) throw new Error(`buildkitd exited:\n${daemon.output().slice(-3000)}`)
      return (await buildctl(['debug', 'workers'], { allowFailure: true, timeoutMs: 5000 })).code === 0
    }, 60_000, 250)
  } catch (error) {
    await stop()
    throw error
  }
  return { address, root, buildctl, output: () => daemon.output(), stop }
}

export interface Buildx {
  /** The builder's name (`--builder`). */
  readonly builder: string
  /** `docker …` (Debian's docker CLI with the buildx plugin) with a private DOCKER_CONFIG. */
  docker(args: readonly string[], options?: RunOptions): Promise<RunResult>
  remove(): Promise<void>
}

/**
 * A `docker buildx` builder on `daemon` (remote driver). The plugin is copied into a private
 * DOCKER_CONFIG/cli-plugins; DOCKER_HOST points nowhere, so nothing reaches a host dockerd.
 */
export async function createBuildx(daemon: Buildkitd, name: string): Promise<Buildx> {
  const dir = await tempDir('buildx')
  const plugins = path.join(dir.path, 'cli-plugins')
  await mkdir(plugins)
  await writeFile(path.join(dir.path, 'config.json'), '{}')
  await copyFile(toolPath('dockerBuildx'), path.join(plugins, 'docker-buildx'))
  await chmod(path.join(plugins, 'docker-buildx'), 0o755)
  const docker = toolPath('docker')
  const env = { DOCKER_CONFIG: dir.path, DOCKER_HOST: `unix://${path.join(dir.path, 'no-dockerd.sock')}`, BUILDX_NO_DEFAULT_ATTESTATIONS: '1' }
  const dockerCmd = (args: readonly string[], options: RunOptions = {}): Promise<RunResult> =>
    run('nice', ['-n', '10', docker, ...args], { timeoutMs: 180_000, ...options, env: { ...env, ...options.env } })
  try {
    await dockerCmd(['buildx', 'create', '--name', name, '--driver', 'remote', daemon.address])
    await dockerCmd(['buildx', 'inspect', '--bootstrap', name], { timeoutMs: 60_000 })
  } catch (error) {
    await dir.remove()
    throw error
  }
  return {
    builder: name,
    docker: dockerCmd,
    async remove() {
      await dockerCmd(['buildx', 'rm', name], { allowFailure: true, timeoutMs: 30_000 })
      await dir.remove()
    },
  }
}
