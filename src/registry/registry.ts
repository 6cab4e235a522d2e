import path from 'node:path'
import type { Logger } from 'pino'
import type { Coordination } from '../coordination/coordination.js'
import { InProcessCoordination } from '../coordination/in-process.js'
import { GarbageCollector, GcAlreadyRunningError, type GcOptions } from '../gc/collector.js'
import type { DiskUsage } from '../metadata/metadata-store.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import { SqliteMetadataStore } from '../metadata/sqlite-metadata-store.js'
import type { BlobStore } from '../storage/blob-store.js'
import { FilesystemBlobStore } from '../storage/fs-blob-store.js'
import { BlobService } from './blobs.js'
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
  readonly metadata: MetadataStore
  readonly store: BlobStore
  readonly coordination: Coordination

  constructor(metadata: MetadataStore, store: BlobStore, options: RegistryOptions & { readonly coordination?: Coordination }) {
    this.metadata = metadata
    this.store = store
    this.coordination = options.coordination ?? new InProcessCoordination()
    this.blobs = new BlobService(metadata, store, options.gcGraceMs ?? 60 * 60 * 1000)
    this.uploads = new UploadService(metadata, store, this.coordination)
    this.manifests = new ManifestService(metadata)
    this.listings = new ListingService(metadata, options.maxPageSize)
    this.gc = new GarbageCollector({
      metadata, store, uploads: this.uploads, coordination: this.coordination, log: options.logger.child({ component: 'gc' }),
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
      reclaimableBytes = (await this.gc.collect({ ...options.gc, dryRun: true })).bytesFreed
    } catch (err) {
      // While a collection runs the figure would be stale; say so rather than guess.
      if (!(err instanceof GcAlreadyRunningError)) throw err
    }
    return { ...usage, reclaimableBytes }
  }

  /** Opens the filesystem blob store and SQLite metadata under one data directory. */
  static async openLocal(directory: string, options: RegistryOptions): Promise<Registry> {
    const store = await FilesystemBlobStore.open(directory)
    const coordination = new InProcessCoordination()
    const metadata = new SqliteMetadataStore(path.join(directory, 'metadata.db'), { invalidation: coordination })
    try {
      await metadata.ready
    } catch (err) {
      await metadata.close().catch(() => undefined)
      throw err
    }
    return new Registry(metadata, store, { ...options, coordination })
  }

  async close(): Promise<void> {
    await this.gc.idle()
    await this.metadata.close()
    await this.store.close()
  }
}
