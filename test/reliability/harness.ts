/**
 * What only the reliability suite (issue #5) needs beside test/support: a seedable RNG, fsck runs
 * (in-process and through the CLI), an in-process registry for fault injection, leak checks of
 * error answers, and the figures the suite prints for RELIABILITY.md.
 */
import { copyFile, rm, symlink } from 'node:fs/promises'
import path from 'node:path'
import pino from 'pino'
import { compose } from '../../src/cli/composition.js'
import { DEFAULT_CONFIG } from '../../src/config/config.js'
import { buildApp, type AppOptions } from '../../src/http/app.js'
import type { MetadataMaintenance, MetadataStore } from '../../src/metadata/metadata-store.js'
import { SqliteMetadataStore } from '../../src/metadata/sqlite-metadata-store.js'
import { checkStore, type FsckReport } from '../../src/registry/fsck.js'
import type { Registry } from '../../src/registry/registry.js'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { FilesystemBlobStore } from '../../src/storage/fs-blob-store.js'
import { runCli, tempDir } from '../support/index.js'

// ---------------------------------------------------------------------------------------------
// Seedable randomness

/** mulberry32: small, fast, good enough to pick delays and sizes reproducibly. */
export class Rng {
  private state: number
  readonly seed: number

  constructor(seed: number) {
    this.seed = seed >>> 0
    this.state = this.seed
  }

  /** The seed from `envName` when set, else a fresh one; printed by the caller. */
  static fromEnv(envName: string): Rng {
    const fromEnv = process.env[envName]
    const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 32)
    return new Rng(seed)
  }

  next(): number {
    let z = (this.state = (this.state + 0x6d2b79f5) >>> 0)
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  /** Deterministic bytes from this generator. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    let i = 0
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(Math.floor(this.next() * 4294967296), i)
    for (; i < n; i++) out[i] = Math.floor(this.next() * 256)
    return out
  }

  fork(): Rng {
    return new Rng(Math.floor(this.next() * 4294967296))
  }
}

// ---------------------------------------------------------------------------------------------
// fsck

export interface FsckJson {
  readonly missingBlobs: string[]
  readonly corruptBlobs: Array<{ digest: string; reason: string }>
  readonly orphanFiles: string[]
  readonly corruptManifests: string[]
  readonly linksWithoutBlob: number
  readonly tagsWithoutManifest: number
  readonly missingReferences: unknown[]
  readonly uploadFilesWithoutSession: number
  readonly uploadSessionsWithoutFile: number
  readonly repaired: boolean
  readonly ok: boolean
}

export async function fsckCli(storage: string, options: { repair?: boolean; config?: string } = {}): Promise<{ code: number | null; report: FsckJson; stderr: string }> {
  const args = ['fsck', '--storage', storage, '--json', ...(options.repair ? ['--repair'] : []), ...(options.config ? ['--config', options.config] : [])]
  const result = await runCli(args)
  let report: FsckJson
  try {
    report = JSON.parse(result.stdout) as FsckJson
  } catch {
    throw new Error(`wharf fsck printed no JSON (exit ${result.code}): ${result.stdout}\n${result.stderr}`)
  }
  return { code: result.code, report, stderr: result.stderr }
}

/**
 * "Consistent after a crash": no problem fsck reports may remain except the benign leftovers
 * that the next start (upload purge) or the next GC (orphan blob files past the grace period)
 * removes by itself. Returns the list of non-benign problems (empty when consistent).
 */
export function harmfulProblems(report: {
  readonly missingBlobs: readonly string[]
  readonly corruptBlobs: readonly unknown[]
  readonly corruptManifests: readonly string[]
  readonly linksWithoutBlob: number
  readonly tagsWithoutManifest: number
  readonly missingReferences: readonly unknown[]
}): string[] {
  const problems: string[] = []
  if (report.missingBlobs.length > 0) problems.push(`missingBlobs ${JSON.stringify(report.missingBlobs)}`)
  if (report.corruptBlobs.length > 0) problems.push(`corruptBlobs ${JSON.stringify(report.corruptBlobs)}`)
  if (report.corruptManifests.length > 0) problems.push(`corruptManifests ${JSON.stringify(report.corruptManifests)}`)
  if (report.linksWithoutBlob > 0) problems.push(`linksWithoutBlob ${report.linksWithoutBlob}`)
  if (report.tagsWithoutManifest > 0) problems.push(`tagsWithoutManifest ${report.tagsWithoutManifest}`)
  if (report.missingReferences.length > 0) problems.push(`missingReferences ${JSON.stringify(report.missingReferences)}`)
  return problems
}

/**
 * fsck of a crashed storage without touching it: the SQLite files are copied (so WAL recovery
 * happens on the copy and the server later recovers the original itself) and blobs/ and uploads/
 * are linked in. Runs checkStore in this process, or the real CLI when `cli` is set.
 */
export async function fsckCrashImage(storage: string, options: { cli: boolean }): Promise<FsckReport | FsckJson> {
  const image = await tempDir('image')
  try {
    for (const name of ['metadata.db', 'metadata.db-wal']) {
      await copyFile(path.join(storage, name), path.join(image, name)).catch((err: unknown) => {
        if ((err as { code?: string }).code !== 'ENOENT') throw err
      })
    }
    await symlink(path.join(storage, 'blobs'), path.join(image, 'blobs'))
    await symlink(path.join(storage, 'uploads'), path.join(image, 'uploads'))
    if (options.cli) return (await fsckCli(image)).report
    const metadata = new SqliteMetadataStore(path.join(image, 'metadata.db'))
    const store = await FilesystemBlobStore.open(image)
    try {
      return await checkStore(metadata, store, { repair: false })
    } finally {
      await metadata.close()
    }
  } finally {
    await rm(image, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// In-process registry (for fault injection)

export const silentLogger = pino({ level: 'silent' })

export interface InProcessRegistry {
  readonly base: string
  readonly registry: Registry
  readonly storage: string
  close(): Promise<void>
}

export async function startInProcess(options: {
  storage: string
  wrapStore?: (store: BlobStore) => BlobStore
  wrapMetadata?: (metadata: MetadataStore & MetadataMaintenance) => MetadataStore & MetadataMaintenance
  app?: Partial<AppOptions>
}): Promise<InProcessRegistry> {
  const { wrapStore, wrapMetadata } = options
  const { registry } = await compose({ ...DEFAULT_CONFIG, storage: { ...DEFAULT_CONFIG.storage, path: options.storage }, limits: { ...DEFAULT_CONFIG.limits, pageMaxEntries: 1000 } }, {
    logger: () => silentLogger,
    ...(wrapStore ? { blobStore: async (build) => wrapStore(await build()) } : {}),
    ...(wrapMetadata ? { metadata: async (build) => wrapMetadata(await build()) } : {}),
  })
  const app = buildApp(registry, {
    logger: silentLogger,
    logRequests: false,
    manifestMaxBytes: 4 << 20,
    idleTimeoutMs: 30_000,
    headersTimeoutMs: 10_000,
    maxHeaderBytes: 16384,
    uploadsPerClient: 64,
    uploadsTotal: 512,
    gc: { graceMs: 3_600_000, uploadTtlMs: 86_400_000, retention: [] },
    ...options.app,
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    base: `http://127.0.0.1:${port}`,
    registry,
    storage: options.storage,
    async close() {
      await app.close()
      await registry.close()
    },
  }
}

/** In-process fsck of a store no server uses (the in-process server must be closed first, or pass its stores). */
export async function fsckDir(storage: string): Promise<FsckReport> {
  const metadata = new SqliteMetadataStore(path.join(storage, 'metadata.db'))
  const store = await FilesystemBlobStore.open(storage)
  try {
    return await checkStore(metadata, store, { repair: false })
  } finally {
    await metadata.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Answers and figures

/** What a response must never reveal: paths of the storage, stack frames, errno names, SQL. */
export function leaks(text: string, storage: string): string[] {
  const found: string[] = []
  if (storage !== '' && text.includes(storage)) found.push('storage path')
  if (/\bat .+\(.+:\d+:\d+\)/.test(text) || /node:internal/.test(text)) found.push('stack trace')
  if (/\b(ENOSPC|EIO|EXDEV|ENOENT|EACCES|SQLITE_[A-Z]+)\b/.test(text)) found.push('errno or SQLite code')
  if (/\b(SELECT|INSERT|DELETE FROM|UPDATE)\b/.test(text)) found.push('SQL')
  return found
}

/** Figures the suite prints as one JSON line per file ("RELIABILITY {...}"), gathered into RELIABILITY.md. */
export function printFigures(name: string, figures: Record<string, unknown>): void {
  process.stdout.write(`# RELIABILITY ${JSON.stringify({ file: name, ...figures })}\n`)
}
