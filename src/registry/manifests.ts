import type { Clock } from '../context/clock.js'
import type { RequestContext } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import type { EventSink } from '../events/events.js'
import type { ManifestRecord, MetadataStore } from '../metadata/metadata-store.js'
import { digestAlgorithm, digestOf, type Digest } from '../oci/digest.js'
import { parseManifest } from '../oci/manifest.js'
import type { Reference, RepoName, Tag } from '../oci/names.js'
import { writableMaintenance, type MaintenanceState } from './maintenance.js'
import type { PullThroughCache } from './proxy.js'

export interface StoredManifest {
  readonly record: ManifestRecord
  readonly body: Buffer
}

export interface PutManifestOutcome {
  readonly digest: Digest
  readonly subject?: Digest
  readonly tags: readonly Tag[]
}

/** Manifests by tag or digest: stored as the exact bytes received, validated against the repository. */
export class ManifestService {
  private readonly metadata: MetadataStore
  private readonly clock: Clock
  private readonly events: EventSink
  /** Read-only mode refuses every PUT and DELETE. */
  private readonly maintenance: MaintenanceState
  /** Brings manifests of proxied repositories into the cache (or up to date) before they are read. */
  private readonly proxy: PullThroughCache | undefined

  constructor(metadata: MetadataStore, clock: Clock, events: EventSink, maintenance: MaintenanceState = writableMaintenance(clock), proxy?: PullThroughCache) {
    this.maintenance = maintenance
    this.proxy = proxy
    this.metadata = metadata
    this.clock = clock
    this.events = events
  }

  async head(ctx: RequestContext, repo: RepoName, reference: Reference): Promise<ManifestRecord> {
    await this.proxy?.ensureManifest(ctx, repo, reference)
    const record = await this.metadata.findManifest(repo, reference)
    if (record === undefined) throw unknownManifest(reference)
    return record
  }

  /** The manifest and its bytes; publishes manifest.pulled (the caller is about to send them). */
  async get(ctx: RequestContext, repo: RepoName, reference: Reference): Promise<StoredManifest> {
    await this.proxy?.ensureManifest(ctx, repo, reference)
    const found = await this.metadata.findManifestWithBody(repo, reference)
    if (found === undefined) throw unknownManifest(reference)
    const { digest, mediaType, size } = found.record
    this.events.publish(ctx, { type: 'manifest.pulled', repo, digest, mediaType, size, ...(reference.tag !== undefined ? { tag: reference.tag } : {}) })
    return found
  }

  /**
   * PUT by tag (the tag moves to this manifest) or by digest (which must match the bytes), plus any
   * extra tags from `?tag=`. The digest is computed over the exact bytes received.
   */
  async put(ctx: RequestContext, repo: RepoName, reference: Reference, contentType: string | undefined, body: Buffer, extraTags: readonly Tag[]): Promise<PutManifestOutcome> {
    return this.maintenance.write('manifest push', () => this.putWritable(ctx, repo, reference, contentType, body, extraTags))
  }

  private async putWritable(ctx: RequestContext, repo: RepoName, reference: Reference, contentType: string | undefined, body: Buffer, extraTags: readonly Tag[]): Promise<PutManifestOutcome> {
    const digest = digestOf(body, reference.digest !== undefined ? digestAlgorithm(reference.digest) : 'sha256')
    if (reference.digest !== undefined && reference.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', { message: 'manifest digest does not match the reference', detail: { expected: reference.digest, actual: digest } })
    }
    const manifest = parseManifest(body, contentType)
    const tags = [...new Set([...(reference.tag !== undefined ? [reference.tag] : []), ...extraTags])]
    const store = (): ReturnType<MetadataStore['putManifest']> => this.metadata.putManifest({
      repo, digest, body, tags, now: this.clock.now(),
      mediaType: manifest.mediaType,
      references: manifest.references,
      ...(manifest.artifactType !== undefined ? { artifactType: manifest.artifactType } : {}),
      ...(manifest.subject !== undefined ? { subject: manifest.subject.digest } : {}),
      ...(manifest.annotations !== undefined ? { annotations: manifest.annotations } : {}),
    })
    let result = await store()
    // A push into a proxied prefix (allowPush) may reference what the upstream has and the cache
    // has not fetched yet (the client skipped blobs its HEAD found there): fetched, then stored.
    if (!result.ok && result.missing.length > 0 && this.proxy?.isCached(repo) === true && await this.proxy.fetchMissing(ctx, repo, result.missing)) result = await store()
    if (!result.ok) {
      if (result.missing.length > 0) {
        throw new RegistryError('MANIFEST_BLOB_UNKNOWN', {
          detail: { missing: result.missing.map((ref) => ({ digest: ref.digest, mediaType: ref.mediaType })) },
        })
      }
      throw new RegistryError('MANIFEST_INVALID', {
        message: 'manifest descriptor size does not match the stored content',
        detail: { sizeMismatch: result.sizeMismatch.map((ref) => ({ digest: ref.digest, size: ref.size })) },
      })
    }
    if (result.repositoryCreated) this.events.publish(ctx, { type: 'repository.created', repo })
    this.events.publish(ctx, {
      type: 'manifest.pushed', repo, digest, mediaType: manifest.mediaType, size: body.length, tags,
      ...(manifest.subject !== undefined ? { subject: manifest.subject.digest } : {}),
    })
    // The store says which tags moved and from where (read in the transaction that moved them).
    for (const { tag, previous } of result.moved) this.events.publish(ctx, { type: 'tag.moved', repo, tag, digest, ...(previous !== undefined ? { previous } : {}) })
    return { digest, tags, ...(manifest.subject !== undefined ? { subject: manifest.subject.digest } : {}) }
  }

  /**
   * By digest: the manifest and its tags go, unless an index of the repository references it. By
   * tag: only the tag goes. The event is published only when something was deleted.
   */
  async delete(ctx: RequestContext, repo: RepoName, reference: Reference): Promise<void> {
    return this.maintenance.write(reference.digest !== undefined ? 'manifest delete' : 'tag delete', () => this.deleteWritable(ctx, repo, reference))
  }

  private async deleteWritable(ctx: RequestContext, repo: RepoName, reference: Reference): Promise<void> {
    if (reference.digest !== undefined) {
      const outcome = await this.metadata.deleteManifest(repo, reference.digest)
      if (outcome.status === 'unknown') throw unknownManifest(reference)
      if (outcome.status === 'referenced') {
        throw new RegistryError('DENIED', {
          status: 409,
          message: 'manifest is referenced by an index in this repository: delete the index first',
          detail: { digest: reference.digest, referencedBy: outcome.referencedBy },
        })
      }
      this.events.publish(ctx, { type: 'manifest.deleted', repo, digest: reference.digest })
      return
    }
    const tag = reference.tag
    const pointed = (await this.metadata.findManifest(repo, { tag }))?.digest
    if (!await this.metadata.deleteTag(repo, tag)) throw unknownManifest(reference)
    this.events.publish(ctx, { type: 'tag.deleted', repo, tag, ...(pointed !== undefined ? { digest: pointed } : {}) })
  }
}

function unknownManifest(reference: Reference): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', { detail: reference.digest !== undefined ? { digest: reference.digest } : { tag: reference.tag } })
}
