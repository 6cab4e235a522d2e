import type { Digest } from '../oci/digest.js'
import type { ManifestReference } from '../oci/manifest.js'
import type { RepoName, Tag } from '../oci/names.js'

/**
 * Everything but blob bytes: repositories, blob records and links, manifests with their bodies
 * and references, tags and upload sessions. Every method is one atomic operation; methods are
 * asynchronous so that a networked database can implement the same contract.
 */
export interface MetadataStore {
  // Repositories
  repositoryExists(repo: RepoName): Promise<boolean>
  listRepositories(page: PageRequest): Promise<string[]>

  // Blobs
  /** The blob's size when it is recorded in the store (in any repository). */
  getBlob(digest: Digest): Promise<BlobRecord | undefined>
  /** The blob's size when it is linked into `repo`. */
  getRepositoryBlob(repo: RepoName, digest: Digest): Promise<BlobRecord | undefined>
  /** Records a blob whose bytes are durable and links it into `repo`; ends `uploadId` if given. */
  recordBlob(repo: RepoName, digest: Digest, size: number, uploadId?: string): Promise<void>
  /** Links an already recorded blob into `repo`; false when the blob is not recorded (or, with `from`, not linked there). */
  linkBlob(repo: RepoName, digest: Digest, from?: RepoName): Promise<BlobRecord | undefined>
  /** Removes the blob from `repo`; false when it was not linked there. */
  unlinkBlob(repo: RepoName, digest: Digest): Promise<boolean>

  // Manifests
  findManifest(repo: RepoName, reference: { readonly tag?: Tag; readonly digest?: Digest }): Promise<ManifestRecord | undefined>
  getManifestBody(digest: Digest): Promise<Buffer | undefined>
  /**
   * Stores a manifest in `repo` and points `tags` at it, atomically, after checking in the same
   * transaction that every reference is present in `repo`. Nothing changes when some are missing.
   */
  putManifest(put: ManifestPut): Promise<PutManifestResult>
  /** Removes a manifest and every tag pointing at it from `repo`; false when it was not there. */
  deleteManifest(repo: RepoName, digest: Digest): Promise<boolean>
  /** Removes one tag; false when it did not exist. */
  deleteTag(repo: RepoName, tag: Tag): Promise<boolean>
  listTags(repo: RepoName, page: PageRequest): Promise<string[]>
  /** Manifests of `repo` whose subject is `subject`, optionally only those of one artifactType. */
  listReferrers(repo: RepoName, subject: Digest, artifactType?: string): Promise<ManifestRecord[]>

  // Upload sessions
  createUpload(upload: UploadRecord): Promise<void>
  getUpload(id: string): Promise<UploadRecord | undefined>
  touchUpload(id: string, now: number): Promise<void>
  deleteUpload(id: string): Promise<boolean>
  /** Sessions last used before `updatedBefore` (all of them when absent). */
  listUploads(updatedBefore?: number): Promise<UploadRecord[]>

  close(): Promise<void>
}

export interface PageRequest {
  /** Entries sorted after this one only. */
  readonly last?: string
  readonly limit: number
}

export interface BlobRecord {
  readonly digest: Digest
  readonly size: number
}

export interface ManifestRecord {
  readonly digest: Digest
  readonly mediaType: string
  readonly size: number
  readonly artifactType?: string
  readonly subject?: Digest
  readonly annotations?: Readonly<Record<string, string>>
}

export interface ManifestPut {
  readonly repo: RepoName
  readonly digest: Digest
  readonly mediaType: string
  readonly body: Buffer
  readonly artifactType?: string
  readonly subject?: Digest
  readonly annotations?: Readonly<Record<string, string>>
  readonly references: readonly ManifestReference[]
  readonly tags: readonly Tag[]
  readonly now: number
}

export type PutManifestResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly missing: readonly ManifestReference[]; readonly sizeMismatch: readonly ManifestReference[] }

export interface UploadRecord {
  readonly id: string
  readonly repo: RepoName
  readonly startedAt: number
  readonly updatedAt: number
}
