import type { RequestContext } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import type { ManifestRecord, MetadataStore } from '../metadata/metadata-store.js'
import type { Digest } from '../oci/digest.js'
import { MediaTypes } from '../oci/media-types.js'
import type { RepoName } from '../oci/names.js'

export interface Page {
  readonly entries: readonly string[]
  /** Set when more entries follow: the `last` to ask for next. */
  readonly next?: string
}

export interface PageQuery {
  readonly n?: number
  readonly last?: string
}

export interface ReferrersIndex {
  readonly schemaVersion: 2
  readonly mediaType: typeof MediaTypes.ociIndex
  readonly manifests: ReadonlyArray<{
    readonly mediaType: string
    readonly digest: Digest
    readonly size: number
    readonly artifactType?: string
    readonly annotations?: Readonly<Record<string, string>>
  }>
}

export interface ReferrersPage {
  readonly index: ReferrersIndex
  /** Set when more referrers follow: the `last` to ask for next. */
  readonly next?: Digest
}

/** Referrers per page at most: descriptors carry annotations, so a page stays a few MiB at worst. */
export const REFERRERS_PAGE_MAX = 1000

/** Tag lists, the catalog and referrers: indexed queries over metadata, lexically ordered pages. */
export class ListingService {
  private readonly metadata: MetadataStore
  private readonly maxPageSize: number

  constructor(metadata: MetadataStore, maxPageSize: number) {
    this.metadata = metadata
    this.maxPageSize = maxPageSize
  }

  async tags(_ctx: RequestContext, repo: RepoName, query: PageQuery): Promise<Page> {
    if (!await this.metadata.repositoryExists(repo)) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repo } })
    return this.page(query, (page) => this.metadata.listTags(repo, page))
  }

  async catalog(_ctx: RequestContext, query: PageQuery): Promise<Page> {
    return this.page(query, (page) => this.metadata.listRepositories(page))
  }

  /** One page of the referrers of `subject`, in digest order, after the digest `last`. */
  async referrers(_ctx: RequestContext, repo: RepoName, subject: Digest, artifactType?: string, last?: Digest): Promise<ReferrersPage> {
    const size = Math.min(this.maxPageSize, REFERRERS_PAGE_MAX)
    const rows = await this.metadata.listReferrers(repo, subject, artifactType, { ...(last !== undefined ? { last } : {}), limit: size + 1 })
    const page = rows.slice(0, size)
    const index: ReferrersIndex = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: page.map(toDescriptor) }
    return rows.length > size ? { index, next: page[page.length - 1]!.digest } : { index }
  }

  /** Asks for one entry more than the page holds to learn whether another page follows. */
  private async page(query: PageQuery, list: (page: { last?: string; limit: number }) => Promise<string[]>): Promise<Page> {
    const size = Math.min(query.n ?? this.maxPageSize, this.maxPageSize)
    if (size === 0) return { entries: [] }
    const rows = await list({ ...(query.last !== undefined ? { last: query.last } : {}), limit: size + 1 })
    if (rows.length <= size) return { entries: rows }
    const entries = rows.slice(0, size)
    return { entries, next: entries[entries.length - 1]! }
  }
}

function toDescriptor(row: ManifestRecord): ReferrersIndex['manifests'][number] {
  return {
    mediaType: row.mediaType,
    digest: row.digest,
    size: row.size,
    ...(row.artifactType !== undefined ? { artifactType: row.artifactType } : {}),
    ...(row.annotations !== undefined ? { annotations: row.annotations } : {}),
  }
}
