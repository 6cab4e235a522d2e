import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import type { Test } from 'tap'
import { waitFor } from './wait.js'

/**
 * A single-node Ceph (one monitor, one memstore OSD, radosgw) in a temp directory, for tests of the
 * S3 blob store against a real S3 server. Debian packages ceph-mon, ceph-osd, radosgw, ceph-common.
 */
export interface Radosgw {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string
  readonly region: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  /** Creates a fresh bucket and resolves with its name. */
  createBucket(): Promise<string>
  /** The end of the daemons' logs, for failure messages. */
  logs(): string
  /** Stops radosgw, then the OSD, then the monitor, each by PID, waiting for its exit; removes the directory. */
  stop(): Promise<void>
}

const BINARIES = ['/usr/bin/monmaptool', '/usr/bin/ceph-mon', '/usr/bin/ceph-osd', '/usr/bin/radosgw', '/usr/bin/ceph', '/usr/bin/radosgw-admin']

/** Why radosgw cannot run here, or undefined when it can. */
export function radosgwMissing(): string | undefined {
  const missing = BINARIES.filter((binary) => !existsSync(binary))
  if (missing.length === 0) return undefined
  return `missing ${missing.join(', ')} (apt-get install ceph-mon ceph-osd radosgw ceph-common)`
}

/**
 * Starts radosgw for the test file `t` and stops it in `t`'s teardown. Resolves undefined when the
 * binaries are missing: the test is skipped with the reason on a developer's machine, and fails
 * under CI=true, where a missing engine must never pass as a skip.
 */
export async function radosgwForTest(t: Test): Promise<Radosgw | undefined> {
  const missing = radosgwMissing()
  if (missing !== undefined) {
    if (process.env.CI === 'true') t.fail(`radosgw tests cannot run: ${missing} (CI=true: prerequisites must be installed)`)
    else t.plan(0, `skipped: ${missing}`)
    return undefined
  }
  const rgw = await startRadosgw()
  t.teardown(() => rgw.stop())
  return rgw
}

/** A loopback port below 32768 (outside the kernel's ephemeral range) that nobody listens on now. */
export async function freeLowPort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * 22_000)
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
    if (free) return port
    if (attempt > 50) throw new Error('no free loopback port below 32768')
  }
}

const run = promisify(execFile)

interface Daemon {
  readonly name: string
  readonly child: ChildProcess
  readonly exited: Promise<void>
}

/** `memstoreBytes`: the OSD's memory for objects (2 GiB by default); a full memstore hangs PUTs. */
export async function startRadosgw(options: { readonly memstoreBytes?: number } = {}): Promise<Radosgw> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-radosgw-'))
  const daemons: Daemon[] = []
  const logs = (): string => ['mon.a', 'osd.0', 'client.rgw'].map((name) => {
    try { return `--- ${name}\n${readFileSync(path.join(dir, 'log', `${name}.log`), 'utf8').slice(-4000)}` } catch { return '' }
  }).join('\n')
  const stop = async (): Promise<void> => {
    // Reverse order of start: radosgw, the OSD, the monitor.
    for (const daemon of [...daemons].reverse()) {
      const { child, exited } = daemon
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      }
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 3 })
  }
  try {
    return await startIn(dir, daemons, logs, stop, options.memstoreBytes ?? 2 << 30)
  } catch (error) {
    await stop()
    throw new Error(`could not start radosgw: ${error instanceof Error ? error.message : String(error)}\n${logs()}`)
  }
}

async function startIn(dir: string, daemons: Daemon[], logs: () => string, stop: () => Promise<void>, memstoreBytes: number): Promise<Radosgw> {
  for (const sub of ['run', 'log', 'mon', 'osd', 'rgw']) await mkdir(path.join(dir, sub))
  const monPort = await freeLowPort()
  const rgwPort = await freeLowPort()
  const fsid = randomUUID()
  const conf = path.join(dir, 'ceph.conf')
  await writeFile(conf, [
    '[global]',
    `fsid = ${fsid}`,
    `mon_host = v2:127.0.0.1:${monPort}`,
    'public_addr = 127.0.0.1',
    'cluster_addr = 127.0.0.1',
    'auth_cluster_required = none',
    'auth_service_required = none',
    'auth_client_required = none',
    // Without it radosgw never serves.
    'ms_mon_client_mode = crc',
    'osd_pool_default_size = 1',
    'osd_pool_default_min_size = 1',
    'osd_pool_default_pg_num = 8',
    'osd_pool_default_pgp_num = 8',
    'mon_allow_pool_size_one = true',
    'osd_crush_chooseleaf_type = 0',
    // Ready in about 2 s instead of 12.
    'paxos_propose_interval = 0.1',
    'paxos_min_wait = 0.01',
    'mon_data_avail_crit = 0',
    `run_dir = ${dir}/run`,
    `admin_socket = ${dir}/run/$name.asok`,
    `log_file = ${dir}/log/$name.log`,
    'pid_file =',
    `mon_data = ${dir}/mon`,
    `osd_data = ${dir}/osd`,
    'osd_objectstore = memstore',
    // Memory is taken as objects arrive; a full memstore hangs PUTs, so leave room.
    `memstore_device_bytes = ${memstoreBytes}`,
    `rgw_data = ${dir}/rgw`,
    'rgw_gc_obj_min_wait = 0',
    `rgw_frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1`,
    '',
  ].join('\n'))
  const c = ['-c', conf]
  const monmap = path.join(dir, 'monmap')
  await run('monmaptool', [...c, '--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, monmap])
  await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', monmap])
  daemons.push(spawnDaemon(dir, 'mon', 'ceph-mon', [...c, '-f', '-i', 'a']))
  const osdUuid = randomUUID()
  const osdId = (await run('ceph', [...c, '--connect-timeout', '30', 'osd', 'new', osdUuid])).stdout.trim()
  await run('ceph-osd', [...c, '--mkfs', '-i', osdId, '--osd-uuid', osdUuid])
  daemons.push(spawnDaemon(dir, 'osd', 'ceph-osd', [...c, '-f', '-i', osdId]))
  daemons.push(spawnDaemon(dir, 'rgw', 'radosgw', [...c, '-f', '-n', 'client.rgw']))
  const endpoint = `http://127.0.0.1:${rgwPort}`
  await waitFor(`radosgw on ${endpoint}`, async () => {
    const dead = daemons.find((d) => d.child.exitCode !== null || d.child.signalCode !== null)
    if (dead !== undefined) throw new Error(`${dead.name} exited`)
    return (await fetch(endpoint, { signal: AbortSignal.timeout(2000) })).ok
  }, 30_000, 50)
  const accessKeyId = `WHARF${randomBytes(8).toString('hex').toUpperCase()}`
  const secretAccessKey = randomBytes(20).toString('base64url')
  await run('radosgw-admin', [...c, 'user', 'create', '--uid=wharf', '--display-name=wharf', `--access-key=${accessKeyId}`, `--secret-key=${secretAccessKey}`])
  const region = 'us-east-1'
  let buckets = 0
  return {
    endpoint, region, accessKeyId, secretAccessKey, logs, stop,
    async createBucket() {
      const bucket = `wharf-test-${++buckets}-${randomBytes(4).toString('hex')}`
      const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } })
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }))
      } finally {
        client.destroy()
      }
      return bucket
    },
  }
}

/** A Ceph daemon in the foreground, a child of this process, its output in log/<name>.out. */
function spawnDaemon(dir: string, name: string, binary: string, args: string[]): Daemon {
  const fd = openSync(path.join(dir, 'log', `${name}.out`), 'a')
  const child = spawn(binary, args, { stdio: ['ignore', fd, fd] })
  closeSync(fd)
  // A binary that cannot start gives 'error' and no 'exit'.
  const exited = new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.once('error', () => resolve()) })
  return { name, child, exited }
}
