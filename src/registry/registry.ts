import path from 'node:path'
import type { Logger } from 'pino'
import { GarbageCollector, GcAlreadyRunningError, type GcOptions } from '../gc/collector.js'
import type { DiskUsage } from '../metadata/metadata-store.js'
import type { MetadataMaintenance, MetadataStore } from '../metadata/metadata-store.js'
import { SqliteMetadataStore } from '../metadata/sqlite-metadata-store.js'
import type { BlobStore } from '../storage/blob-store.js'
import { FilesystemBlobStore } from '../storage/fs-blob-store.js'
import { BlobService } from './blobs.js'
import { KeyedMutex } from './keyed-mutex.js'
import { ListingService } from './listings.js'
import { ManifestService } from './manifests.js'
import { UploadService } from './uploads.js'

export interface RegistryOptions {
  /** Largest page of tags or repositories one request returns. */
  readonly maxPageSize: number
  readonly logger: Logger
  /** The garbage collection grace period (default one hour): blob HEADs keep links alive that long. */
  readonly gcGraceMs?: number
}

/** The registry core: every rule of the distribution-spec, independent of HTTP. */
export class Registry {
  readonly blobs: BlobService
  readonly uploads: UploadService
  readonly manifests: ManifestService
  readonly listings: ListingService
  readonly gc: GarbageCollector
  /** Both parts: the services use the serving part, garbage collection, fsck and disk usage the maintenance part. */
  readonly metadata: MetadataStore & MetadataMaintenance
  readonly store: BlobStore
  /** Held while a blob is committed or linked; garbage collection takes it before removing one. */
  readonly digestLocks = new KeyedMutex()

  constructor(metadata: MetadataStore & MetadataMaintenance, store: BlobStore, options: RegistryOptions) {
    this.metadata = metadata
    this.store = store
    this.blobs = new BlobService(metadata, store, options.gcGraceMs ?? 60 * 60 * 1000)
    this.uploads = new UploadService(metadata, store, this.digestLocks)
    this.manifests = new ManifestService(metadata)
    this.listings = new ListingService(metadata, options.maxPageSize)
    this.gc = new GarbageCollector({
      metadata, store, uploads: this.uploads, digestLocks: this.digestLocks, log: options.logger.child({ component: 'gc' }),
    })
  }

  /**
   * Disk usage from the metadata, with what a collection would free now (computed by a dry run of
   * the same sweep, so the two always agree).
   */
  async diskUsage(options: { readonly perTag: boolean; readonly gc: Omit<GcOptions, 'dryRun'> }): Promise<DiskUsage & { reclaimableBytes: number | null }> {
    const usage = await this.metadata.diskUsage({ perTag: options.perTag })
    let reclaimableBytes: number | null = null
    try {
      reclaimableBytes = (await this.gc.collect({ ...options.gc, dryRun: true, measureGraceKept: false })).bytesFreed
    } catch (err) {
      // While a collection runs the figure would be stale; say so rather than guess.
      if (!(err instanceof GcAlreadyRunningError)) throw err
    }
    return { ...usage, reclaimableBytes }
  }

  /** Opens the filesystem blob store and SQLite metadata under one data directory. */
  static async openLocal(directory: string, options: RegistryOptions): Promise<Registry> {
    const store = await FilesystemBlobStore.open(directory)
    const metadata = new SqliteMetadataStore(path.join(directory, 'metadata.db'))
    try {
      await metadata.ready
    } catch (err) {
      await metadata.close().catch(() => undefined)
      throw err
    }
    return new Registry(metadata, store, options)
  }

  async close(): Promise<void> {
    await this.gc.idle()
    await this.metadata.close()
    await this.store.close()
  }
}
