import type { AccessPolicy } from '../access/policy.js'
import type { RequestContext } from '../context/request-context.js'
import { GcAlreadyRunningError, type GarbageCollector, type GcOptions, type GcReport } from '../gc/collector.js'
import type { DiskUsage, MetadataMaintenance, MetadataStore } from '../metadata/metadata-store.js'
import type { BlobStore } from '../storage/blob-store.js'
import type { BlobService } from './blobs.js'
import type { Browser } from './browse-types.js'
import type { ListingService } from './listings.js'
import type { MaintenanceState } from './maintenance.js'
import type { ManifestService } from './manifests.js'
import type { PullThroughCache } from './proxy.js'
import type { UploadService } from './uploads.js'

/** What a Registry is made of; the composition root (src/cli/composition.ts) builds them. */
export interface RegistryParts {
  readonly blobs: BlobService
  readonly uploads: UploadService
  readonly manifests: ManifestService
  readonly listings: ListingService
  /** What the web UI and its JSON API show (browse.ts). */
  readonly browser: Browser
  readonly gc: GarbageCollector
  /** Both parts: the services use the serving part, garbage collection, fsck and disk usage the maintenance part. */
  readonly metadata: MetadataStore & MetadataMaintenance
  readonly store: BlobStore
  /** Who may do what (the open policy without an `auth` section); the services that filter or choose by it were given it too. */
  readonly policy: AccessPolicy
  /** Read-only mode, shared with the services that write (the admin API switches it). */
  readonly maintenance: MaintenanceState
  /** The pull-through cache (without `proxy.upstreams`, one that proxies nothing). */
  readonly proxy: PullThroughCache
}

/**
 * The registry core: every rule of the distribution-spec, independent of HTTP. It owns the stores
 * it is given and closes them.
 */
// The class carries exactly its parts' fields (declaration merging), listed once in RegistryParts.
export interface Registry extends RegistryParts {}
export class Registry {
  constructor(parts: RegistryParts) {
    Object.assign(this, parts)
  }

  /**
   * Disk usage from the metadata, with what a collection would free now (computed by a dry run of
   * the same sweep, so the two always agree).
   */
  async diskUsage(ctx: RequestContext, options: { readonly perTag: boolean; readonly gc: Omit<GcOptions, 'dryRun'> }): Promise<DiskUsage & { reclaimableBytes: number | null }> {
    const measured = await this.metadata.diskUsage({ perTag: options.perTag })
    // Repositories of the pull-through cache are marked: their content can be fetched again.
    const usage = { ...measured, repositories: measured.repositories.map((repo) => this.proxy.isCached(repo.name) ? { ...repo, cached: true } : repo) }
    let reclaimableBytes: number | null = null
    try {
      reclaimableBytes = (await this.gc.collect(ctx, { ...options.gc, dryRun: true, measureGraceKept: false })).bytesFreed
    } catch (err) {
      // While a collection runs the figure would be stale; say so rather than guess.
      if (!(err instanceof GcAlreadyRunningError)) throw err
    }
    return { ...usage, reclaimableBytes }
  }

  /**
   * Disk usage for a page view: totals and per repository, per-tag figures only for `tagsOf`, and
   * the last collection's report and this process's latest preview instead of a dry run, which scans
   * everything and is the slow part on a big registry. A fresh figure is one "preview" away (/gc).
   */
  async usageOverview(options: { readonly tagsOf?: string }): Promise<DiskUsage & { lastCollection: GcReport | null; lastPreview: GcReport | null }> {
    const measured = await this.metadata.diskUsage({ perTag: false, ...(options.tagsOf !== undefined ? { tagsOf: options.tagsOf } : {}) })
    return {
      ...measured,
      repositories: measured.repositories.map((repo) => this.proxy.isCached(repo.name) ? { ...repo, cached: true } : repo),
      lastCollection: (await this.gc.lastReport()) ?? null,
      lastPreview: this.gc.lastPreview ?? null,
    }
  }

  async close(): Promise<void> {
    this.maintenance.stop()
    await this.gc.idle()
    await this.proxy.close()
    await this.metadata.close()
    await this.store.close()
  }
}
