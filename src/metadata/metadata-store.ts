import type { Digest } from '../oci/digest.js'
import type { ManifestReference } from '../oci/manifest.js'
import type { RepoName, Tag } from '../oci/names.js'

/**
 * Everything but blob bytes: repositories, blob records and links, manifests with their bodies
 * and references, tags and upload sessions. This is the serving part (what requests use); the
 * maintenance part (garbage collection, fsck, disk usage) is MetadataMaintenance. Every method is
 * one atomic operation; methods are asynchronous so that a networked database can implement the
 * same contract.
 */
export interface MetadataStore {
  /** False when writes cannot succeed (the writer died, the store is closing); absent: always healthy. */
  isHealthy?(): boolean
  /** Writes queued for the writer now, for metrics; absent: the store has no write queue. */
  writerQueue?(): WriterQueue
  /** Calls `observer` on every commit and every answered write, for metrics (until the returned function is called). */
  observeWriter?(observer: WriterObserver): () => void

  // Repositories
  repositoryExists(repo: RepoName): Promise<boolean>
  listRepositories(page: PageRequest): Promise<string[]>

  // Blobs
  /** The blob's size when it is recorded in the store (in any repository). */
  getBlob(digest: Digest): Promise<BlobRecord | undefined>
  /** The blob's size when it is linked into `repo`. */
  getRepositoryBlob(repo: RepoName, digest: Digest): Promise<RepositoryBlobRecord | undefined>
  /** Records that a client was just shown the link (garbage collection spares recently used links). */
  /**
   * Records that a client was just shown the link; false when the link is gone (a collection removed
   * it after it was read), so the caller must not report the blob as present.
   */
  touchBlobLink(repo: RepoName, digest: Digest, now: number): Promise<boolean>
  /** Records a blob whose bytes are durable and links it into `repo`; ends `uploadId` if given. */
  recordBlob(repo: RepoName, digest: Digest, size: number, uploadId?: string): Promise<BlobRecorded>
  /**
   * Repositories the blob is linked into, in name order, after `page.last`: a mount without `from`
   * links the blob only from one the caller may pull.
   */
  listBlobRepositories(digest: Digest, page: PageRequest): Promise<string[]>
  /** Links an already recorded blob into `repo`; undefined when the blob is not recorded (or, with `from`, not linked there). */
  linkBlob(repo: RepoName, digest: Digest, from?: RepoName): Promise<(BlobRecord & BlobRecorded) | undefined>
  /**
   * Removes the blob from `repo`, unless a manifest of `repo` references it (decided in the same
   * transaction): a pull of that manifest would break.
   */
  unlinkBlob(repo: RepoName, digest: Digest): Promise<DeleteOutcome>

  // Manifests
  findManifest(repo: RepoName, reference: { readonly tag?: Tag; readonly digest?: Digest }): Promise<ManifestRecord | undefined>
  getManifestBody(digest: Digest): Promise<Buffer | undefined>
  /** As findManifest, with the manifest's bytes, in one read. */
  findManifestWithBody(repo: RepoName, reference: { readonly tag?: Tag; readonly digest?: Digest }): Promise<{ record: ManifestRecord; body: Buffer } | undefined>
  /**
   * Stores a manifest in `repo` and points `tags` at it, atomically, after checking in the same
   * transaction that every reference is present in `repo`. Nothing changes when some are missing.
   */
  putManifest(put: ManifestPut): Promise<PutManifestResult>
  /**
   * Removes a manifest and every tag pointing at it from `repo`, unless another manifest of `repo`
   * (an index) references it (decided in the same transaction): the index would point at nothing.
   */
  deleteManifest(repo: RepoName, digest: Digest): Promise<DeleteOutcome>
  /** Removes one tag; false when it did not exist. */
  deleteTag(repo: RepoName, tag: Tag): Promise<boolean>
  /** When the tag was last fetched from its upstream (pull-through cache); undefined when never. */
  tagFetchedAt(repo: RepoName, tag: Tag): Promise<number | undefined>
  /** Records that the upstream just confirmed the tag (its digest unchanged). */
  markTagFetched(repo: RepoName, tag: Tag, fetchedAt: number): Promise<void>
  listTags(repo: RepoName, page: PageRequest): Promise<string[]>
  /**
   * Manifests of `repo` whose subject is `subject`, optionally only those of one artifactType, in
   * digest order; with `page`, at most `page.limit` of them, after the digest `page.last`.
   */
  listReferrers(repo: RepoName, subject: Digest, artifactType?: string, page?: PageRequest): Promise<ManifestRecord[]>

  // Browsing (the web UI and its JSON API): filtered, sorted and paged by the store
  /** Repository names containing `query.contains` (case-insensitive), in name order after `query.last`, at most `query.limit` (-1: all); `total`: how many match. */
  searchRepositories(query: SearchQuery): Promise<{ names: string[]; total: number }>
  /** Counts and sizes of the repositories named (those that exist), in the order given. */
  repositoryStats(names: readonly string[]): Promise<RepositoryStats[]>
  /** Tags of `repo` with their manifests, filtered, sorted and paged; `total`: how many match the filter. */
  searchTags(repo: RepoName, query: TagSearch): Promise<{ tags: TaggedManifest[]; total: number }>
  /** Of each manifest: its bytes and those of every distinct blob and manifest it references, transitively. */
  contentSizes(digests: readonly Digest[]): Promise<number[]>
  /** How a manifest of `repo` is tied to the others there; undefined when `repo` has no such manifest. */
  manifestLinks(repo: RepoName, digest: Digest): Promise<ManifestLinks | undefined>
  /**
   * Bytes freed once these manifests of `repo` are gone: each one's body that no other repository
   * holds, and the blobs they reference that no other manifest of `repo` references and no other
   * repository links.
   */
  bytesFreedWithout(repo: RepoName, manifests: readonly Digest[]): Promise<number>

  // Upload sessions
  createUpload(upload: UploadRecord): Promise<void>
  getUpload(id: string): Promise<UploadRecord | undefined>
  touchUpload(id: string, now: number): Promise<void>
  deleteUpload(id: string): Promise<boolean>
  /** Sessions last used before `updatedBefore` (all of them when absent). */
  listUploads(updatedBefore?: number): Promise<UploadRecord[]>

  close(): Promise<void>
}

/**
 * The maintenance part: garbage collection, consistency checks and disk usage, with the few serving
 * reads they need. Long reads here read a snapshot and must not hold up the serving part's writes.
 */
export interface MetadataMaintenance extends Pick<MetadataStore, 'listRepositories' | 'getBlob' | 'listUploads' | 'deleteUpload'> {
  // Garbage collection and disk usage
  /** Every tag with when it was last set, for retention policies. */
  listAllTags(): Promise<TagRecord[]>
  /**
   * Sweeps one repository in one transaction: deletes those of `plan.tags` that are unchanged since
   * listAllTags returned them (same digest and updatedAt: a tag set again meanwhile, even to the
   * same manifest, has a new updatedAt and stays), then every manifest of the repository no longer
   * reachable and every blob link no kept manifest references. Manifest puts validate their references in their own transactions, so
   * they never interleave with a sweep. With `dryRun` nothing is written: the result, read from
   * one snapshot without taking the write lock, says what would go.
   */
  sweepRepository(plan: RepositorySweepPlan): Promise<RepositorySweepResult>
  /** Removes manifest bytes and references no repository holds any more; how many. */
  deleteOrphanManifestContents(): Promise<number>
  /** Scans `limit` blob records after `after` (by digest); the unlinked ones among them created before `graceCutoff`. */
  listUnlinkedBlobs(after: string, limit: number, graceCutoff: number): Promise<{ readonly blobs: BlobRecord[]; readonly last?: string }>
  /** How many repositories link each blob. */
  countBlobLinks(digests: readonly Digest[]): Promise<number[]>
  /** Removes the records of those blobs that no repository links (re-checked); the ones removed. */
  deleteBlobsIfUnlinked(digests: readonly Digest[]): Promise<BlobRecord[]>
  /** Per-tag figures for every repository (perTag), or only for the one named by tagsOf (cheap: one repository's tags). */
  diskUsage(options: { readonly perTag: boolean; readonly tagsOf?: string }): Promise<DiskUsage>
  /**
   * Blobs linked into repositories and their bytes, for metrics: the `limit` repositories holding
   * the most bytes one by one, the others summed. One snapshot; cheap next to diskUsage (one scan
   * of the links, no per-repository queries).
   */
  repositoryStorage(limit: number): Promise<RepositoryStorage>

  /** Keeps the report of the last garbage collection (opaque JSON text), replacing the one before. */
  recordGcReport(report: string, finishedAt: number): Promise<void>
  lastGcReport(): Promise<{ readonly report: string; readonly finishedAt: number } | undefined>

  // Consistency checks (wharf fsck)
  /** Every blob record. */
  listBlobRecords(): Promise<BlobRecord[]>
  /** Relations that point at nothing: links without a blob, tags without a manifest, references not present in their repository. */
  findDanglingRows(): Promise<DanglingRows>
  /** Removes blob records (and their links) whose bytes are missing or corrupt. */
  forgetBlobs(digests: readonly Digest[]): Promise<void>
  /** Removes links without a blob record and tags without a manifest. */
  removeDanglingRows(): Promise<{ links: number; tags: number }>
  /** Every manifest body with its recorded digest, for re-hashing, in pages. */
  listManifestContents(after: string, limit: number): Promise<Array<{ digest: Digest; body: Buffer }>>
}

/** A delete by digest: done, nothing there, or refused while manifests of the repository reference it (some of them named). */
export type DeleteOutcome =
  | { readonly status: 'deleted' }
  | { readonly status: 'unknown' }
  | { readonly status: 'referenced'; readonly referencedBy: readonly Digest[] }

export interface DanglingRows {
  readonly linksWithoutBlob: ReadonlyArray<{ readonly repo: string; readonly digest: string }>
  readonly tagsWithoutManifest: ReadonlyArray<{ readonly repo: string; readonly tag: string; readonly digest: string }>
  readonly missingReferences: ReadonlyArray<{ readonly repo: string; readonly manifest: string; readonly child: string; readonly kind: string }>
}

export interface TagRecord {
  readonly repo: string
  readonly tag: string
  readonly digest: Digest
  /** When the tag was last set; changes on every set (strictly increasing per tag). */
  readonly updatedAt: number
}

export interface RepositorySweepPlan {
  readonly repo: string
  readonly tags: readonly TagRecord[]
  /** Untagged manifests last pushed before this are not roots (from a retention policy); none when absent. */
  readonly untaggedCutoff?: number
  /** Manifests (last) pushed and links used at or after this time are always kept. */
  readonly graceCutoff: number
  readonly dryRun: boolean
}

export interface RepositorySweepResult {
  readonly tagsRemoved: readonly TagRecord[]
  readonly manifestsRemoved: ReadonlyArray<{ readonly repo: string; readonly digest: Digest; readonly size: number }>
  /** Digests whose link into the repository was removed. */
  readonly linksRemoved: readonly Digest[]
  readonly repositoryRemoved: boolean
}

export interface DiskUsage {
  readonly blobs: { readonly count: number; readonly bytes: number }
  readonly manifests: { readonly count: number; readonly bytes: number }
  /** Bytes of blobs linked into more than one repository. */
  readonly sharedBytes: number
  readonly repositories: ReadonlyArray<RepositoryUsage>
}

export interface RepositoryStorage {
  /** The largest repositories (by bytes, then name), at most the limit asked for. */
  readonly top: ReadonlyArray<{ readonly name: string; readonly blobs: number; readonly bytes: number }>
  /** The other repositories, summed. */
  readonly rest: { readonly repositories: number; readonly blobs: number; readonly bytes: number }
  /** Every repository (including those without blobs). */
  readonly repositories: number
  /** Distinct blobs in the store and their bytes (a blob linked into several repositories counts once). */
  readonly blobs: { readonly count: number; readonly bytes: number }
}

/** The writer's queue: writes posted and not answered yet, and writes waiting for a slot to be posted. */
export interface WriterQueue {
  readonly posted: number
  readonly waiting: number
}

export interface WriterObserver {
  /** One transaction committed `writes` writes in `seconds` (from its start to the end of the commit's fsync). */
  committed(writes: number, seconds: number): void
  /** A write was answered `seconds` after it was asked for (waiting for a slot, the batch before it, its commit). */
  answered(seconds: number): void
}

export interface RepositoryUsage {
  readonly name: string
  /** Everything a pull of all its manifests transfers: distinct blobs and manifest bodies. */
  readonly logicalBytes: number
  /** What deleting the repository would free: blobs and manifests no other repository has. */
  readonly exclusiveBytes: number
  readonly tags?: ReadonlyArray<{ readonly tag: string; readonly digest: string; readonly bytes: number }>
  /** Under a pull-through cache's prefix (set by the registry, not the store). */
  readonly cached?: boolean
}

export interface SearchQuery {
  /** Case-insensitive substring; absent or empty: everything. */
  readonly contains?: string
  readonly last?: string
  /** At most this many; -1: all. */
  readonly limit: number
}

export interface TagSearch {
  readonly contains?: string
  /** `name`: by tag; `time`: newest first (by when the tag was set, then by tag). */
  readonly sort: 'name' | 'time'
  /** The last row of the page before: its tag (and, sorted by time, when it was set). */
  readonly after?: { readonly tag: string; readonly updatedAt?: number }
  readonly limit: number
}

export interface TaggedManifest {
  readonly tag: Tag
  /** When the tag was last set. */
  readonly updatedAt: number
  readonly record: ManifestRecord
  readonly body: Buffer
}

export interface RepositoryStats {
  readonly name: string
  readonly tagCount: number
  readonly manifestCount: number
  /** As RepositoryUsage. */
  readonly logicalBytes: number
  readonly exclusiveBytes: number
  /** The last manifest PUT into it; null without manifests. */
  readonly lastPushedAt: number | null
}

export interface ManifestLinks {
  /** Tags of the repository pointing at it, in name order. */
  readonly tags: Tag[]
  /** Manifests of the repository that reference it (indexes). */
  readonly parents: Digest[]
  /** Manifests of the repository it references (an index's children present here). */
  readonly children: Digest[]
  /** Manifests of the repository whose subject it is. */
  readonly referrers: Digest[]
  /** Its subject, and whether that is a manifest of the repository. */
  readonly subject?: { readonly digest: Digest; readonly present: boolean }
  /** Its last PUT into the repository (what garbage collection's untagged cutoff and grace period compare). */
  readonly pushedAt: number
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

/** What recording or linking a blob changed besides the link. */
export interface BlobRecorded {
  /** The repository did not exist before (its first blob). */
  readonly repositoryCreated: boolean
}

export interface RepositoryBlobRecord extends BlobRecord {
  /** When the link was made or last shown to a client. */
  readonly usedAt: number
}

export interface ManifestRecord {
  readonly digest: Digest
  readonly mediaType: string
  readonly size: number
  readonly artifactType?: string
  readonly subject?: Digest
  /** The manifest's annotations: given by listReferrers (the referrers API lists them); other reads may omit them. */
  readonly annotations?: Readonly<Record<string, string>>
}

export interface ManifestPut {
  readonly repo: RepoName
  readonly digest: Digest
  readonly mediaType: string
  readonly body: Buffer
  readonly artifactType?: string
  readonly subject?: Digest
  /** Parsed from `body`, which holds them: a store may keep them apart or read them from the body. */
  readonly annotations?: Readonly<Record<string, string>>
  readonly references: readonly ManifestReference[]
  readonly tags: readonly Tag[]
  readonly now: number
  /**
   * A manifest the pull-through cache fetched from an upstream at `fetchedAt`: stored without
   * checking its references (its blobs and children are fetched when pulled), and its tags are
   * recorded as fetched then (tagFetchedAt).
   */
  readonly fromUpstream?: { readonly fetchedAt: number }
}

/** A tag a manifest put moved to the manifest, and where it pointed before (absent: it is new). */
export interface TagMove {
  readonly tag: Tag
  readonly previous?: Digest
}

export type PutManifestResult =
  /** `moved`: the put's tags that pointed elsewhere or nowhere, read in the transaction that moved them. */
  | { readonly ok: true; readonly repositoryCreated: boolean; readonly moved: readonly TagMove[] }
  | { readonly ok: false; readonly missing: readonly ManifestReference[]; readonly sizeMismatch: readonly ManifestReference[] }

export interface UploadRecord {
  readonly id: string
  readonly repo: RepoName
  readonly startedAt: number
  readonly updatedAt: number
  /**
   * Who started the session (`user:alice`, `robot:ci`, `anonymous`): only they may continue it.
   * Absent for sessions started before sessions had owners.
   */
  readonly owner?: string
}

/**
 * The durable queue of webhook notifications (src/notifications), one ordered queue per endpoint.
 * Events are opaque texts here (registry:2 event JSON); ids grow with every enqueue and are never
 * reused, so "in order" is "by id". Writes commit like every other write (a committed enqueue
 * survives a crash); reads after a write see it.
 */
export interface NotificationQueue {
  /** Appends the entries, in the order given, each to its endpoint's queue, in one transaction. */
  enqueueNotifications(entries: readonly NotificationToQueue[], now: number): Promise<void>
  /** The oldest `limit` entries still queued for `endpoint`, oldest first. */
  nextNotifications(endpoint: string, limit: number): Promise<QueuedNotification[]>
  /** Removes the entries from the queue, counts them delivered and clears the endpoint's failure streak. */
  markNotificationsDelivered(endpoint: string, ids: readonly number[], now: number): Promise<void>
  /** Counts a failed delivery attempt; the queue is unchanged. Returns the failure streak (consecutive failures, this one included). */
  recordNotificationFailure(endpoint: string, failure: NotificationFailure): Promise<number>
  /** What the queue holds and has done for `endpoint` (zeros for one never seen). */
  notificationState(endpoint: string): Promise<NotificationEndpointState>
}

export interface NotificationToQueue {
  readonly endpoint: string
  readonly event: string
}

export interface QueuedNotification {
  readonly id: number
  readonly event: string
  readonly enqueuedAt: number
}

export interface NotificationFailure {
  readonly error: string
  readonly at: number
  /** When the next attempt is due (the delivery backs off until then, across restarts too). */
  readonly nextAttemptAt: number
}

export interface NotificationEndpointState {
  readonly endpoint: string
  readonly pending: number
  /** When the oldest entry still queued was enqueued; absent when none is. */
  readonly oldestPendingAt?: number
  /** Entries delivered, ever. */
  readonly delivered: number
  /** Failed attempts, ever. */
  readonly failedAttempts: number
  /** Failed attempts since the last success. */
  readonly consecutiveFailures: number
  /** 0 when an attempt may be made now. */
  readonly nextAttemptAt: number
  readonly lastError?: string
  readonly lastErrorAt?: number
  readonly lastSuccessAt?: number
}

/** Whether a metadata store also keeps the notification queue (wrappers in tests may not). */
export function isNotificationQueue(store: object): store is NotificationQueue {
  const q = store as Partial<NotificationQueue>
  return typeof q.enqueueNotifications === 'function' && typeof q.nextNotifications === 'function'
    && typeof q.markNotificationsDelivered === 'function' && typeof q.recordNotificationFailure === 'function' && typeof q.notificationState === 'function'
}

/** The read-only mode as last set through the admin API, kept where every node sharing the store reads it. */
export interface StoredMaintenanceMode {
  readonly readOnly: boolean
  /** When it was set, in milliseconds since the epoch. */
  readonly since: number
  /** Who set it (callerIdentity). */
  readonly changedBy: string
}

/** A store several nodes share keeps the read-only mode for all of them (PostgreSQL). */
export interface SharedMaintenanceMode {
  readMaintenanceMode(): Promise<StoredMaintenanceMode | undefined>
  writeMaintenanceMode(mode: StoredMaintenanceMode): Promise<void>
}

export function isSharedMaintenanceMode(store: object): store is SharedMaintenanceMode {
  const s = store as Partial<SharedMaintenanceMode>
  return typeof s.readMaintenanceMode === 'function' && typeof s.writeMaintenanceMode === 'function'
}
