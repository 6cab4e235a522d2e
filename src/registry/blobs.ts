import type { Readable } from 'node:stream'
import type { Clock } from '../context/clock.js'
import type { RequestContext } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import type { EventSink } from '../events/events.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import type { Digest } from '../oci/digest.js'
import type { RepoName } from '../oci/names.js'
import type { ByteRange } from '../oci/range.js'
import { BlobNotFoundError, type BlobFile, type BlobStore } from '../storage/blob-store.js'
import { writableMaintenance, type MaintenanceState } from './maintenance.js'
import type { PullThroughCache } from './proxy.js'

export interface BlobDescriptor {
  readonly digest: Digest
  readonly size: number
}

/**
 * A blob's bytes: a stream, an open file of the store, or a presigned URL of object storage the
 * client is redirected to (see BlobService.openForSend).
 */
export type OpenedBlob =
  | { readonly blob: BlobDescriptor; readonly stream: Readable; readonly file?: undefined; readonly redirect?: undefined }
  | { readonly blob: BlobDescriptor; readonly file: BlobFile; readonly stream?: undefined; readonly redirect?: undefined }
  | { readonly blob: BlobDescriptor; readonly redirect: string; readonly stream?: undefined; readonly file?: undefined }

/** Whole-blob GETs go to the store's presigned URLs (registry:2's `redirect`), valid this long. */
export interface BlobRedirect {
  readonly expirySeconds: number
}

/** How stale a link's use time may get before a HEAD or GET refreshes it (less with a short GC grace period). */
export const LINK_TOUCH_INTERVAL_MS = 5 * 60 * 1000

/** Blobs as a repository sees them: only those pushed or mounted into it exist there. */
export class BlobService {
  private readonly metadata: MetadataStore
  private readonly store: BlobStore
  private readonly clock: Clock
  private readonly events: EventSink
  private readonly touchIntervalMs: number
  /** Read-only mode refuses deletes (a HEAD's link touch is bookkeeping, not a write of a client). */
  private readonly maintenance: MaintenanceState
  /** Fetches blobs of proxied repositories that are not stored yet. */
  private readonly proxy: PullThroughCache | undefined
  /** Set when whole-blob sends are redirected to the store (which must presign). */
  private readonly redirect: BlobRedirect | undefined

  /** `gcGraceMs`: a link shown to a client must outlive a collection for at least that long. */
  constructor(metadata: MetadataStore, store: BlobStore, clock: Clock, events: EventSink, gcGraceMs: number,
    maintenance: MaintenanceState = writableMaintenance(clock), proxy?: PullThroughCache, redirect?: BlobRedirect) {
    if (redirect !== undefined && store.presignBlob === undefined) throw new Error('blob redirects need a store that presigns URLs (S3)')
    this.maintenance = maintenance
    this.proxy = proxy
    this.redirect = redirect
    this.metadata = metadata
    this.store = store
    this.clock = clock
    this.events = events
    this.touchIntervalMs = Math.min(LINK_TOUCH_INTERVAL_MS, Math.floor(gcGraceMs / 2))
  }

  /** A blob of a proxied repository that is not stored yet is described by its upstream. */
  async stat(ctx: RequestContext, repo: RepoName, digest: Digest): Promise<BlobDescriptor> {
    const blob = await this.metadata.getRepositoryBlob(repo, digest)
    if (blob === undefined) {
      const upstream = await this.proxy?.statBlob(ctx, repo, digest)
      if (upstream !== undefined) return upstream
      throw new RegistryError('BLOB_UNKNOWN', { detail: { digest } })
    }
    // A client that checks a blob before pushing a manifest relies on the link lasting until then.
    const now = this.clock.now()
    // A link old enough to need the touch may be in a collection's sweep right now: if the sweep
    // removed it after our read, the blob is gone and saying otherwise breaks the client's manifest PUT.
    if (now - blob.usedAt >= this.touchIntervalMs && !await this.metadata.touchBlobLink(repo, digest, now)) {
      throw new RegistryError('BLOB_UNKNOWN', { detail: { digest } })
    }
    return { digest: blob.digest, size: blob.size }
  }

  /**
   * The blob's bytes (or a range of them); publishes blob.pulled. A blob of a proxied repository
   * that is not stored yet is fetched from the upstream (streamed while it is stored).
   */
  async open(ctx: RequestContext, repo: RepoName, digest: Digest, range?: ByteRange): Promise<{ readonly blob: BlobDescriptor; readonly stream: Readable }> {
    const opened = await this.openBytes(ctx, repo, digest, range, false)
    return opened as { readonly blob: BlobDescriptor; readonly stream: Readable }
  }

  /**
   * Like open, but for the HTTP GET: with redirects on, a stored blob asked for whole comes as a
   * presigned URL of the store (after the same checks: linked in the repository); else as the
   * store's file when the store can give one (read into the caller's buffers); a stream otherwise
   * (proxied, ranged with redirects on, or another store).
   */
  async openForSend(ctx: RequestContext, repo: RepoName, digest: Digest, range?: ByteRange): Promise<OpenedBlob> {
    return this.openBytes(ctx, repo, digest, range, true)
  }

  private async openBytes(ctx: RequestContext, repo: RepoName, digest: Digest, range: ByteRange | undefined, forSend: boolean): Promise<OpenedBlob> {
    if (this.proxy?.isCached(repo) === true && await this.metadata.getRepositoryBlob(repo, digest) === undefined) {
      const fetched = await this.proxy.openBlob(ctx, repo, digest, range === undefined)
      if (fetched?.stream !== undefined) {
        this.events.publish(ctx, { type: 'blob.pulled', repo, digest, size: fetched.blob.size })
        return { blob: fetched.blob, stream: fetched.stream }
      }
    }
    const blob = await this.stat(ctx, repo, digest)
    if (forSend && range === undefined && this.redirect !== undefined && this.store.presignBlob !== undefined) {
      const redirect = await this.store.presignBlob(digest, this.redirect.expirySeconds)
      this.events.publish(ctx, { type: 'blob.pulled', repo, digest, size: blob.size })
      return { blob, redirect }
    }
    try {
      const opened = forSend && this.store.openBlobFile !== undefined
        ? { blob, file: await this.store.openBlobFile(digest, range) }
        : { blob, stream: await this.store.readBlob(digest, range) }
      this.events.publish(ctx, { type: 'blob.pulled', repo, digest, size: blob.size })
      return opened
    } catch (err) {
      if (err instanceof BlobNotFoundError) {
        // Metadata says present but the bytes are gone: a damaged store, not a client error.
        throw new RegistryError('UNKNOWN', { message: 'blob data missing from storage', cause: err })
      }
      throw err
    }
  }

  /**
   * Unlinks the blob from the repository, unless a manifest there references it; its bytes go when
   * garbage collection finds them unused. blob.deleted is published only when the link went.
   */
  async delete(ctx: RequestContext, repo: RepoName, digest: Digest): Promise<void> {
    return this.maintenance.write('blob delete', () => this.deleteWritable(ctx, repo, digest))
  }

  private async deleteWritable(ctx: RequestContext, repo: RepoName, digest: Digest): Promise<void> {
    const outcome = await this.metadata.unlinkBlob(repo, digest)
    if (outcome.status === 'unknown') throw new RegistryError('BLOB_UNKNOWN', { detail: { digest } })
    if (outcome.status === 'referenced') {
      throw new RegistryError('DENIED', {
        status: 409,
        message: 'blob is referenced by a manifest in this repository: delete the manifest first',
        detail: { digest, referencedBy: outcome.referencedBy },
      })
    }
    this.events.publish(ctx, { type: 'blob.deleted', repo, digest })
  }
}
