import type { Caller } from '../access/caller.js'
import type { AccessPolicy } from '../access/policy.js'
import { OPEN_POLICY } from '../access/rules-policy.js'
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
  private readonly policy: AccessPolicy

  constructor(metadata: MetadataStore, maxPageSize: number, policy: AccessPolicy = OPEN_POLICY) {
    this.metadata = metadata
    this.maxPageSize = maxPageSize
    this.policy = policy
  }

  async tags(_ctx: RequestContext, repo: RepoName, query: PageQuery): Promise<Page> {
    if (!await this.metadata.repositoryExists(repo)) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repo } })
    return this.page(query, (page) => this.metadata.listTags(repo, page))
  }

  /**
   * The repositories the caller may pull, in pages as full as without access control: rows the
   * caller may not see are skipped and more are read until the page (and one more, to know whether
   * another page follows) is filled or the catalog ends.
   */
  async catalog(ctx: RequestContext, query: PageQuery): Promise<Page> {
    if (!this.policy.enabled) return this.page(query, (page) => this.metadata.listRepositories(page))
    const viewer = catalogViewer(ctx.caller)
    return this.page(query, async ({ last, limit }) => {
      const visible: string[] = []
      const batch = Math.max(limit, CATALOG_SCAN_BATCH)
      let after = last
      for (;;) {
        const rows = await this.metadata.listRepositories({ ...(after !== undefined ? { last: after } : {}), limit: batch })
        for (const name of rows) {
          if (this.policy.allows(viewer, { type: 'repository', name }, 'pull')) visible.push(name)
          if (visible.length === limit) return visible
        }
        if (rows.length < batch) return visible
        after = rows[rows.length - 1]!
      }
    })
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
    // The extra row goes (no copy of the page).
    rows.length = size
    return { entries: rows, next: rows[size - 1]! }
  }
}

/** Rows read at a time while filling a filtered catalog page. */
const CATALOG_SCAN_BATCH = 500

/**
 * Whose rules decide what the catalog shows: for a token Wharf issued, its subject's (a token
 * names a few repositories, the catalog is about all of them; docker asks for `registry:catalog:*`
 * alone); otherwise the caller's own.
 */
export function catalogViewer(caller: Caller): Caller {
  return caller.kind === 'bearer' && caller.subject !== undefined ? caller.subject : caller
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
