// Private dockerd and containerd instances: own roots, state, sockets and pidfiles under a temp
// directory, stopped by PID (their process group) in teardown.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { toolPath } from './env.js'
import { waitFor } from '../../test/support/index.js'
import { run, startDaemon, tempDir, type RunOptions, type RunResult } from './proc.js'

export interface DockerDaemon {
  readonly socket: string
  /** The docker CLI's private DOCKER_CONFIG directory (config.json: what `docker login` stored). */
  readonly cliConfig: string
  /** Runs the docker CLI against this daemon with a private DOCKER_CONFIG. */
  docker(args: readonly string[], options?: RunOptions): Promise<RunResult>
  output(): string
  stop(): Promise<void>
}

function ping(socketPath: string, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: urlPath, method: 'GET', timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

/**
 * Unmounts what a daemon left mounted under `dir` (dockerd keeps its host network namespace
 * bind-mounted at <exec-root>/netns/default after running containers), deepest first, so that the
 * directory can be removed.
 */
async function unmountUnder(dir: string): Promise<void> {
  const unescape = (field: string): string => field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)))
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')
  const points = mountinfo.split('\n').map((line) => line.split(' ')[4]).filter((field): field is string => field !== undefined)
    .map(unescape).filter((point) => point.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length)
  for (const point of points) await run('umount', ['-l', point], { allowFailure: true, timeoutMs: 10_000 })
}

let storageDriver: Promise<'overlay2' | 'vfs'> | undefined

/**
 * overlay2 where the kernel mounts an overlay on the temp directory's filesystem, else vfs. vfs
 * copies the whole parent at every image layer and container start (hundreds of MB of small files
 * for the container image test, minutes of its time); overlay2 copies nothing. Probed once per
 * process with a real overlay mount; WHARF_TEST_DOCKER_STORAGE names the driver instead.
 */
export function dockerStorageDriver(): Promise<'overlay2' | 'vfs'> {
  const chosen = process.env.WHARF_TEST_DOCKER_STORAGE
  if (chosen === 'overlay2' || chosen === 'vfs') return Promise.resolve(chosen)
  storageDriver ??= (async () => {
    const probe = await tempDir('overlay-probe')
    try {
      for (const dir of ['lower', 'upper', 'work', 'merged']) await mkdir(path.join(probe.path, dir))
      const mounted = await run('mount', ['-t', 'overlay', 'overlay', '-o',
        `lowerdir=${probe.path}/lower,upperdir=${probe.path}/upper,workdir=${probe.path}/work`, `${probe.path}/merged`], { allowFailure: true, timeoutMs: 10_000 })
      if (mounted.code !== 0) return 'vfs'
      await run('umount', [`${probe.path}/merged`], { allowFailure: true, timeoutMs: 10_000 })
      return 'overlay2'
    } finally {
      await probe.remove()
    }
  })()
  return storageDriver
}

export interface DockerdOptions {
  /** daemon.json `registry-mirrors`: base URLs dockerd asks first for docker.io images. */
  readonly registryMirrors?: readonly string[]
}

export async function startDockerd(insecureRegistries: readonly string[], options: DockerdOptions = {}): Promise<DockerDaemon> {
  const dir = await tempDir('dockerd')
  const socket = path.join(dir.path, 'docker.sock')
  const cliConfig = path.join(dir.path, 'cli')
  await mkdir(cliConfig)
  await writeFile(path.join(cliConfig, 'config.json'), '{}')
  const daemonJson = path.join(dir.path, 'daemon.json')
  await writeFile(daemonJson, JSON.stringify(options.registryMirrors !== undefined ? { 'registry-mirrors': options.registryMirrors } : {}))
  const daemon = startDaemon('dockerd', toolPath('dockerd'), [
    '--data-root', path.join(dir.path, 'data'),
    '--exec-root', path.join(dir.path, 'exec'),
    '--pidfile', path.join(dir.path, 'docker.pid'),
    '--config-file', daemonJson,
    '-H', `unix://${socket}`,
    '--storage-driver', await dockerStorageDriver(),
    '--iptables=false', '--ip6tables=false', '--bridge=none', '--ip-masq=false',
    ...insecureRegistries.flatMap((r) => ['--insecure-registry', r]),
  ])
  const stop = async (): Promise<void> => { await daemon.stop(20_000); await unmountUnder(dir.path); await dir.remove() }
  try {
    await waitFor('dockerd', async () => {
      if (daemon.child.exitCode !== null) throw new Error(`dockerd exited:\n${daemon.output().slice(-3000)}`)
      return await ping(socket, '/_ping') === 200
    }, 60_000, 200)
  } catch (error) {
    await stop()
    throw error
  }
  const docker = toolPath('docker')
  return {
    socket,
    cliConfig,
    docker: (args, options = {}) => run(docker, ['-H', `unix://${socket}`, ...args], {
      timeoutMs: 120_000, ...options, env: { DOCKER_CONFIG: cliConfig, DOCKER_CLI_EXPERIMENTAL: 'enabled', ...options.env },
    }),
    output: () => daemon.output(),
    stop,
  }
}

export interface ContainerdDaemon {
  readonly address: string
  /** Runs ctr against this containerd in namespace `wharf-conformance`. */
  ctr(args: readonly string[], options?: RunOptions): Promise<RunResult>
  output(): string
  stop(): Promise<void>
}

export async function startContainerd(): Promise<ContainerdDaemon> {
  const dir = await tempDir('containerd')
  const address = path.join(dir.path, 'containerd.sock')
  const config = path.join(dir.path, 'config.toml')
  await writeFile(config, [
    'version = 2',
    `root = "${path.join(dir.path, 'root')}"`,
    `state = "${path.join(dir.path, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${address}"`,
    '[ttrpc]',
    `  address = "${address}.ttrpc"`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '',
  ].join('\n'))
  const daemon = startDaemon('containerd', toolPath('containerd'), ['--config', config])
  const ctrPath = toolPath('ctr')
  const ctr = (args: readonly string[], options: RunOptions = {}): Promise<RunResult> =>
    run(ctrPath, ['--address', address, '--namespace', 'wharf-conformance', ...args], { timeoutMs: 120_000, ...options })
  const stop = async (): Promise<void> => { await daemon.stop(15_000); await dir.remove() }
  try {
    await waitFor('containerd', async () => {
      if (daemon.child.exitCode !== null) throw new Error(`containerd exited:\n${daemon.output().slice(-3000)}`)
      return (await ctr(['version'], { allowFailure: true, timeoutMs: 5000 })).code === 0
    }, 30_000, 200)
  } catch (error) {
    await stop()
    throw error
  }
  return { address, ctr, output: () => daemon.output(), stop }
}

/**
 * A daemon for a whole test file: `start` runs on the first call only (every later call gets the
 * same daemon), and the daemon is stopped at `t`'s teardown once started.
 */
export function startedOnce<D extends { stop(): Promise<void> }>(t: { teardown(fn: () => Promise<void>): void }, start: () => Promise<D>): () => Promise<D> {
  let daemon: Promise<D> | undefined
  return () => {
    if (daemon === undefined) {
      const started = start()
      daemon = started
      t.teardown(async () => { await (await started).stop() })
    }
    return daemon
  }
}
