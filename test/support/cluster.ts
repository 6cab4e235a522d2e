// Several Wharf nodes on one S3 bucket (Ceph radosgw) and one PostgreSQL database, behind nginx:
// the deployment of README "Scaling out", started for one test file. Each node has a data
// directory of its own (part buffers only) and a fixed port, so that a node killed or stopped can
// come back where the balancer expects it.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import { nginxForTest, nginxMissing, type Nginx } from './nginx.js'
import { postgresAvailable, startPostgres, type PostgresServer } from './postgres.js'
import { freeLowPort, radosgwForTest, type Radosgw } from './radosgw.js'
import { startWharf, writeConfig, type WharfProcess } from './wharf.js'

const MiB = 1024 * 1024

export interface ClusterNode {
  /** The running process (replaced by start()). */
  readonly process: WharfProcess | undefined
  /** http://127.0.0.1:PORT of this node alone, past the balancer. */
  readonly url: string
  readonly port: number
  /** Starts the node again on its port (after stop or kill). */
  start(): Promise<WharfProcess>
  /** SIGTERM, drain and wait. */
  stop(): Promise<void>
  /** SIGKILL: no drain, no cleanup; what a crash or an OOM kill leaves. */
  kill(): Promise<void>
}

export interface Cluster {
  /** The balancer's URL, what clients use. */
  readonly url: string
  /** 127.0.0.1:PORT of the balancer, as clients name the registry. */
  readonly address: string
  readonly nodes: readonly ClusterNode[]
  readonly nginx: Nginx
  readonly postgres: PostgresServer
  readonly database: { readonly name: string; readonly url: string }
  readonly rgw: Radosgw
  readonly bucket: string
  /** The configuration file every node runs with. */
  readonly configFile: string
  /** The nodes' output and nginx's errors, for failure messages. */
  logs(): Promise<string>
}

export interface ClusterOptions {
  /** Nodes behind the balancer (default 3). */
  readonly nodes?: number
  /** Sections merged over the defaults (storage and metadata are the cluster's). */
  readonly config?: Record<string, unknown>
  /** A password in the database URL the nodes use (PostgreSQL trusts any): to check that none is ever shown. */
  readonly databasePassword?: string
}

/**
 * Whether a cluster can run here: PostgreSQL, radosgw and nginx. When one is missing the file is
 * skipped with the reason, or failed under CI=true.
 */
export function clusterAvailable(t: Test): boolean {
  if (!postgresAvailable(t)) return false
  const missing = nginxMissing()
  if (missing === undefined) return true
  if (process.env.CI === 'true') t.fail(`cluster tests cannot run: ${missing} (CI=true: prerequisites must be installed)`)
  else t.plan(0, `skipped: ${missing}`)
  return false
}

/** Starts PostgreSQL, radosgw, the nodes and nginx for test file `t`; all stopped in its teardown. */
export async function startCluster(t: Test, options: ClusterOptions = {}): Promise<Cluster | undefined> {
  const rgw = await radosgwForTest(t)
  if (rgw === undefined) return undefined
  const postgres = await startPostgres(t)
  const database = await postgres.createDatabase(options.databasePassword !== undefined ? { password: options.databasePassword } : {})
  const bucket = await rgw.createBucket()
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-cluster-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const configFile = await writeConfig(dir, {
    gc: { graceSeconds: 0, intervalSeconds: 0 },
    ...options.config,
    storage: { driver: 's3', s3: { endpoint: rgw.endpoint, bucket, region: rgw.region, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, forcePathStyle: true, partSize: 5 * MiB } },
    metadata: { driver: 'postgres', postgres: { url: database.url } },
  })
  const nodes: ClusterNode[] = []
  for (let i = 0; i < (options.nodes ?? 3); i++) {
    const port = await freeLowPort()
    let current: WharfProcess | undefined
    const node: ClusterNode = {
      get process() { return current },
      url: `http://127.0.0.1:${port}`,
      port,
      async start() {
        current = await startWharf({ storage: path.join(dir, `node${i}`), port, extraArgs: ['--config', configFile], timeoutMs: 30_000 })
        return current
      },
      async stop() { await current?.stop() },
      async kill() { await current?.stop({ signal: 'SIGKILL' }) },
    }
    nodes.push(node)
  }
  t.teardown(async () => { await Promise.all(nodes.map((node) => node.stop())) })
  await Promise.all(nodes.map((node) => node.start()))
  const nginx = await nginxForTest(t, nodes.map((node) => `127.0.0.1:${node.port}`))
  const logs = async (): Promise<string> => [
    ...nodes.map((node, i) => `--- node ${i} ---\n${(node.process?.logs ?? []).slice(-60).join('\n')}`),
    `--- nginx ---\n${await nginx.logs()}`,
  ].join('\n')
  return { url: nginx.url, address: nginx.address, nodes, nginx, postgres, database, rgw, bucket, configFile, logs }
}
