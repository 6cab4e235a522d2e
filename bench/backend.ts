/**
 * Where both servers keep their data in a benchmark run: the filesystem (the default), or one real
 * Ceph radosgw for the whole run with a bucket per server, and with `--metadata postgres` Wharf's
 * metadata in a real PostgreSQL (a database per server).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { writeConfig } from '../test/support/index.js'
import { launchPostgres } from '../test/support/postgres.js'
import { startRadosgw, type Radosgw } from '../test/support/radosgw.js'
import type { ReferenceStorage } from '../test/support/reference.js'

export type BackendName = 'filesystem' | 's3' | 's3+postgres'

export interface Backend {
  readonly name: BackendName
  /** How the reference registry stores, for the report. */
  readonly referenceStorage: string
  /** The reference registry's `storage:` sections for a fresh bucket; undefined: its filesystem default. */
  referenceConfig(): Promise<ReferenceStorage | undefined>
  /** A Wharf config file for a fresh bucket (and database); undefined: the default filesystem and SQLite. */
  wharfConfig(): Promise<string | undefined>
  /** Stops what the backend started (radosgw, PostgreSQL), each by PID. */
  stop(): Promise<void>
}

export const FILESYSTEM: Backend = {
  name: 'filesystem',
  referenceStorage: 'filesystem storage',
  referenceConfig: async () => undefined,
  wharfConfig: async () => undefined,
  stop: async () => undefined,
}

// Both servers' buckets of one scenario at once (pull: 2 x 1 GiB) plus what earlier scenarios left.
const MEMSTORE_BYTES = 8 * 1024 ** 3

/** Starts radosgw (and PostgreSQL); on a failure, stops what already runs. */
export async function startS3Backend(postgres: boolean, log: (message: string) => void): Promise<Backend> {
  const configDir = await mkdtemp(path.join(tmpdir(), 'wharf-bench-config-'))
  let rgw: Radosgw | undefined
  let pg: Awaited<ReturnType<typeof launchPostgres>> | undefined
  const stop = async (): Promise<void> => {
    await Promise.allSettled([rgw?.stop(), pg?.stop()])
    await rm(configDir, { recursive: true, force: true })
  }
  try {
    rgw = await startRadosgw({ memstoreBytes: MEMSTORE_BYTES })
    log(`radosgw at ${rgw.endpoint} (memstore ${MEMSTORE_BYTES / 1024 ** 3} GiB)`)
    if (postgres) {
      pg = await launchPostgres()
      log(`PostgreSQL at ${pg.host}:${pg.port}`)
    }
  } catch (error) {
    await stop()
    throw error
  }
  const s3 = rgw
  const db = pg
  return {
    name: db ? 's3+postgres' : 's3',
    referenceStorage: `S3 storage on radosgw, redirect disabled`,
    async referenceConfig() {
      return {
        s3: {
          accesskey: s3.accessKeyId, secretkey: s3.secretAccessKey, region: s3.region, regionendpoint: s3.endpoint,
          bucket: await s3.createBucket(), secure: false, v4auth: true, rootdirectory: '/',
        },
        // pulls stream through the registry, as they do through Wharf by default
        redirect: { disable: true },
      }
    },
    async wharfConfig() {
      const bucket = await s3.createBucket()
      return writeConfig(configDir, {
        storage: {
          driver: 's3',
          s3: { endpoint: s3.endpoint, bucket, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, forcePathStyle: true },
        },
        ...(db ? { metadata: { driver: 'postgres', postgres: { url: (await db.createDatabase()).url } } } : {}),
      })
    },
    stop,
  }
}
