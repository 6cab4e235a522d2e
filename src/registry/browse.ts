import type { AccessPolicy } from '../access/policy.js'
import type { RequestContext } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import type { MetadataStore, TaggedManifest } from '../metadata/metadata-store.js'
import type { Digest } from '../oci/digest.js'
import type { RepoName, Tag } from '../oci/names.js'
import type { BlobStore } from '../storage/blob-store.js'
import type {
  Browser, DeletePreview, ManifestDetail, Platform, RepositoryPage, RepositoryPermissions, RepositoryQuery, TagPage, TagQuery, TagSummary,
} from './browse-types.js'
import { decodeCursor, encodeCursor, pageSize } from './browse/cursor.js'
import { previewDeletion } from './browse/delete-preview.js'
import { ImageConfigReader, platformOfConfig } from './browse/image-config.js'
import { describeManifest } from './browse/manifest-detail.js'
import { classifyManifest, indexPlatforms, isObject, parseBody } from './browse/manifest-kind.js'
import { catalogViewer } from './listings.js'

export interface BrowseDeps {
  readonly metadata: MetadataStore
  readonly store: BlobStore
  readonly policy: AccessPolicy
  /** Whether a repository is under a pull-through cache's prefix. */
  readonly isCached: (name: string) => boolean
}

/**
 * The read side of the web UI and its JSON API (browse-types.ts): the store filters, sorts and
 * pages; sizes, kinds and platforms are worked out for the rows of a page only.
 */
export class RegistryBrowser implements Browser {
  private readonly deps: BrowseDeps
  private readonly configs: ImageConfigReader

  constructor(deps: BrowseDeps) {
    this.deps = deps
    this.configs = new ImageConfigReader(deps.store)
  }

  async repositories(ctx: RequestContext, query: RepositoryQuery): Promise<RepositoryPage> {
    const { metadata, policy } = this.deps
    const limit = pageSize(query.n)
    const last = query.cursor !== undefined ? decodeCursor(query.cursor, (v) => typeof v.name === 'string' ? v.name : undefined) : undefined
    const contains = query.filter ?? ''
    let names: string[]
    let total: number
    if (!policy.enabled) {
      const found = await metadata.searchRepositories({ contains, ...(last !== undefined ? { last } : {}), limit: limit + 1 })
      names = found.names
      total = found.total
    } else {
      // Access rules are globs the store cannot run: the matching names (one indexed scan, names
      // only) are filtered here, as the catalog filters them (listings.ts), to page and count.
      const viewer = catalogViewer(ctx.caller)
      const visible = (await metadata.searchRepositories({ contains, limit: -1 })).names
        .filter((name) => policy.allows(viewer, { type: 'repository', name }, 'pull'))
      total = visible.length
      const start = last === undefined ? 0 : firstAfter(visible, last)
      names = visible.slice(start, start + limit + 1)
    }
    const page = names.slice(0, limit)
    const stats = await metadata.repositoryStats(page)
    return {
      repositories: stats.map((s) => ({ ...s, ...(this.deps.isCached(s.name) ? { cached: true } : {}) })),
      total,
      ...(names.length > limit ? { next: encodeCursor({ name: page[page.length - 1]! }) } : {}),
    }
  }

  async tags(ctx: RequestContext, repo: RepoName, query: TagQuery): Promise<TagPage> {
    const { metadata } = this.deps
    const sort = query.sort ?? 'name'
    const limit = pageSize(query.n)
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, (v) => {
      if (v.sort !== sort || typeof v.tag !== 'string') return undefined
      if (sort === 'time' && typeof v.at !== 'number') return undefined
      return { tag: v.tag, ...(typeof v.at === 'number' ? { updatedAt: v.at } : {}) }
    })
    if (!await metadata.repositoryExists(repo)) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repo } })
    const found = await metadata.searchTags(repo, { sort, limit: limit + 1, ...(query.filter !== undefined ? { contains: query.filter } : {}), ...(after !== undefined ? { after } : {}) })
    const rows = found.tags.slice(0, limit)
    const digests = [...new Set(rows.map((row) => row.record.digest))]
    const sizes = new Map(digests.map((d, i) => [d, 0] as [Digest, number]))
    ;(await metadata.contentSizes(digests)).forEach((size, i) => sizes.set(digests[i]!, size))
    const tags = await Promise.all(rows.map((row) => this.tagSummary(row, sizes.get(row.record.digest) ?? 0)))
    const lastRow = rows[rows.length - 1]
    return {
      repository: repo,
      tags,
      total: found.total,
      ...(found.tags.length > limit && lastRow !== undefined
        ? { next: encodeCursor({ sort, tag: lastRow.tag, ...(sort === 'time' ? { at: lastRow.updatedAt } : {}) }) } : {}),
      can: this.permissions(ctx, repo),
    }
  }

  private async tagSummary(row: TaggedManifest, size: number): Promise<TagSummary> {
    const { record } = row
    const document = parseBody(row.body)
    const kind = classifyManifest(record.mediaType, document)
    let platforms: Platform[] = []
    if (kind === 'index') platforms = indexPlatforms(document)
    else if (kind === 'image' && isObject(document) && isObject(document.config)) {
      const config = document.config
      if (typeof config.digest === 'string' && typeof config.size === 'number') {
        const platform = platformOfConfig(await this.configs.summary(config.digest as Digest, config.size))
        if (platform !== undefined) platforms = [platform]
      }
    }
    return {
      tag: row.tag,
      digest: record.digest,
      mediaType: record.mediaType,
      ...(record.artifactType !== undefined ? { artifactType: record.artifactType } : {}),
      kind,
      platforms,
      size,
      pushedAt: row.updatedAt,
    }
  }

  async manifest(ctx: RequestContext, repo: RepoName, digest: Digest): Promise<ManifestDetail> {
    return { ...await describeManifest(this.deps.metadata, this.configs, repo, digest), can: this.permissions(ctx, repo) }
  }

  async deletePreview(_ctx: RequestContext, repo: RepoName, target: { readonly tag: Tag } | { readonly digest: Digest }): Promise<DeletePreview> {
    return previewDeletion(this.deps.metadata, repo, target)
  }

  /** The caller's own rights (a token's scopes included): what the UI offers must succeed. */
  permissions(ctx: RequestContext, repo: RepoName): RepositoryPermissions {
    const { policy } = this.deps
    const allows = (action: 'pull' | 'push' | 'delete'): boolean => policy.allows(ctx.caller, { type: 'repository', name: repo }, action)
    return { pull: allows('pull'), push: allows('push'), delete: allows('delete') }
  }
}

/** Index of the first name sorting after `last` (binary search: names are in order). */
function firstAfter(names: readonly string[], last: string): number {
  let lo = 0
  let hi = names.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (names[mid]! <= last) lo = mid + 1
    else hi = mid
  }
  return lo
}
