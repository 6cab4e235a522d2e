import type { RequestContext } from '../context/request-context.js'
import type { Digest } from '../oci/digest.js'
import type { RepositoryStats } from '../metadata/metadata-store.js'
import type { Descriptor as OciDescriptor } from '../oci/manifest.js'
import type { RepoName, Tag } from '../oci/names.js'

/**
 * What the web UI and the JSON API under /_wharf/v1/ show of the registry's content (the README's
 * "JSON API" section documents it). Every answer is filtered by the caller's rules: a repository
 * the caller may not pull is not listed, and `can` says what the caller may do, so the UI offers
 * only that. Times are milliseconds since the epoch; sizes are bytes.
 */

/** What a manifest is, as a person reads it; BuildKit caches and attestations are not broken images. */
export type ManifestKind =
  | 'image'
  | 'index'
  | 'artifact'
  | 'buildkit-cache'
  | 'attestation'
  | 'signature'
  | 'sbom'
  | 'unknown'

export interface Platform {
  readonly os: string
  readonly architecture: string
  readonly variant?: string
  readonly osVersion?: string
}

/** What the caller may do with a repository (the UI shows only the buttons these allow). */
export interface RepositoryPermissions {
  readonly pull: boolean
  readonly push: boolean
  readonly delete: boolean
}

/** A repository's counts and sizes (the metadata store's RepositoryStats), and whether a pull-through cache fills it. */
export interface RepositorySummary extends RepositoryStats {
  /** Under a pull-through cache's prefix. */
  readonly cached?: boolean
}

export interface RepositoryQuery {
  /** Case-insensitive substring of the name. */
  readonly filter?: string
  /** Opaque cursor from a previous page's `next`. */
  readonly cursor?: string
  /** Page size (default 50, at most 1000). */
  readonly n?: number
}

export interface RepositoryPage {
  readonly repositories: readonly RepositorySummary[]
  /** Repositories matching the filter that the caller may see, over all pages. */
  readonly total: number
  readonly next?: string
}

export interface TagSummary {
  readonly tag: Tag
  readonly digest: Digest
  readonly mediaType: string
  readonly artifactType?: string
  readonly kind: ManifestKind
  /** The platforms of an index (attestation entries left out), or the one of an image from its config. */
  readonly platforms: readonly Platform[]
  /** The manifest and every distinct blob and child manifest it references, transitively. */
  readonly size: number
  /** When the tag was last set. */
  readonly pushedAt: number
}

export type TagSort = 'name' | 'time'

export interface TagQuery {
  /** `name`: lexical (the default); `time`: newest first. */
  readonly sort?: TagSort
  /** Case-insensitive substring of the tag. */
  readonly filter?: string
  readonly cursor?: string
  /** Page size (default 50, at most 1000). */
  readonly n?: number
}

export interface TagPage {
  readonly repository: RepoName
  readonly tags: readonly TagSummary[]
  readonly total: number
  readonly next?: string
  readonly can: RepositoryPermissions
}

/** A descriptor as the answers show it: the OCI one (src/oci/manifest.ts) without urls and platform, which are given apart. */
export type Descriptor = Pick<OciDescriptor, 'mediaType' | 'digest' | 'size' | 'artifactType' | 'annotations'>

/** The parts of an image config a person looks at (image-spec config.md). */
export interface ImageConfigSummary {
  readonly digest: Digest
  readonly created?: string
  readonly author?: string
  readonly architecture?: string
  readonly os?: string
  readonly variant?: string
  readonly user?: string
  readonly workingDir?: string
  readonly entrypoint?: readonly string[]
  readonly cmd?: readonly string[]
  readonly env?: readonly string[]
  readonly exposedPorts?: readonly string[]
  readonly volumes?: readonly string[]
  readonly labels?: Readonly<Record<string, string>>
  readonly history?: ReadonlyArray<{ readonly created?: string; readonly createdBy?: string; readonly comment?: string; readonly emptyLayer?: boolean }>
}

export interface ManifestDetail {
  readonly repository: RepoName
  readonly digest: Digest
  readonly mediaType: string
  readonly artifactType?: string
  readonly kind: ManifestKind
  /** The manifest's own bytes. */
  readonly size: number
  /** As TagSummary.size. */
  readonly totalSize: number
  /** Tags of the repository that point at it. */
  readonly tags: readonly Tag[]
  readonly annotations?: Readonly<Record<string, string>>
  /** Of an index: its entries, each with its platform and kind (attestation manifests are labelled). */
  readonly children?: ReadonlyArray<Descriptor & { readonly platform?: Platform; readonly kind: ManifestKind; readonly present: boolean }>
  /** Of an image: its config (absent when the config is not JSON an image config, e.g. an artifact's). */
  readonly config?: ImageConfigSummary
  readonly configDescriptor?: Descriptor
  readonly layers?: readonly Descriptor[]
  /** The manifest this one refers to (a signature's or SBOM's image), and whether it is stored here. */
  readonly subject?: Descriptor & { readonly present: boolean }
  /** Manifests whose subject is this one: signatures, SBOMs, provenance attestations. */
  readonly referrers: ReadonlyArray<Descriptor & { readonly kind: ManifestKind }>
  /** The manifest as stored, byte for byte (the UI pretty-prints it). */
  readonly body: string
  readonly can: RepositoryPermissions
}

/** What a deletion takes with it, for the UI's confirmation. */
export interface DeletePreview {
  readonly repository: RepoName
  readonly target: { readonly tag: Tag; readonly digest: Digest } | { readonly digest: Digest }
  /** Tags removed with it: deleting a manifest removes every tag pointing at it. */
  readonly tags: readonly Tag[]
  /**
   * Manifests that nothing keeps once it is gone (an index's children, referrers): the next
   * collection removes them. Deleting a tag whose manifest another tag still names leaves it empty.
   */
  readonly manifests: ReadonlyArray<{ readonly digest: Digest; readonly kind: ManifestKind }>
  /** Bytes of blobs and manifests the next collection frees because of it (what nothing else references). */
  readonly freedBytes: number
  /** Set when the deletion would be refused, e.g. a manifest an index in the repository still references. */
  readonly refused?: { readonly reason: string; readonly referencedBy: readonly Digest[] }
}

/** The read side of the UI and the JSON API (src/registry/browse.ts). */
export interface Browser {
  repositories(ctx: RequestContext, query: RepositoryQuery): Promise<RepositoryPage>
  /** NAME_UNKNOWN when the repository does not exist. */
  tags(ctx: RequestContext, repo: RepoName, query: TagQuery): Promise<TagPage>
  /** MANIFEST_UNKNOWN when the repository has no such manifest. */
  manifest(ctx: RequestContext, repo: RepoName, digest: Digest): Promise<ManifestDetail>
  deletePreview(ctx: RequestContext, repo: RepoName, target: { readonly tag: Tag } | { readonly digest: Digest }): Promise<DeletePreview>
  /** What the caller may do with the repository. */
  permissions(ctx: RequestContext, repo: RepoName): RepositoryPermissions
}
