import type { Logger } from 'pino'
import type { BlobRecord, MetadataMaintenance, TagRecord } from '../metadata/metadata-store.js'
import type { Digest } from '../oci/digest.js'
import type { Clock } from '../context/clock.js'
import { systemCaller, type RequestContext } from '../context/request-context.js'
import type { CollectionSummary, EventSink } from '../events/events.js'
import { GC_LEASE, LockKeys, type Coordination } from '../coordination/coordination.js'
import type { BlobStore } from '../storage/blob-store.js'
import { RetentionRules, type RetentionPolicy } from './retention.js'

export interface GcOptions {
  readonly dryRun: boolean
  /** Manifests created, links used and files written this recently are never collected. */
  readonly graceMs: number
  /** Upload sessions idle this long are ended. */
  readonly uploadTtlMs: number
  readonly retention: readonly RetentionPolicy[]
  readonly now?: number
  /** Whether to measure what the grace period kept (a second, read-only pass); default true. */
  readonly measureGraceKept?: boolean
}

export interface GcReport {
  readonly dryRun: boolean
  readonly startedAt: string
  readonly durationMs: number
  readonly tagsRemoved: ReadonlyArray<{ readonly repo: string; readonly tag: string; readonly digest: string }>
  readonly manifestsRemoved: ReadonlyArray<{ readonly repo: string; readonly digest: string }>
  readonly repositoriesRemoved: readonly string[]
  readonly linksRemoved: number
  readonly blobsRemoved: ReadonlyArray<{ readonly digest: string; readonly size: number }>
  readonly bytesFreed: number
  readonly uploadsPurged: number
  readonly orphanFilesRemoved: ReadonlyArray<{ readonly digest: string; readonly size: number }>
  /**
   * What the grace period kept that a collection without it would remove now (younger than
   * graceSeconds): collect it with `wharf gc --grace 0` while no push is in flight. Null when
   * not measured (measureGraceKept: false).
   */
  readonly keptByGrace: { readonly graceSeconds: number; readonly manifests: number; readonly blobs: number; readonly bytes: number } | null
  /** Milliseconds spent in each phase (graceMs: measuring what the grace period kept). */
  readonly phases: { readonly sweepMs: number; readonly blobsMs: number; readonly uploadsMs: number; readonly orphansMs: number; readonly graceMs: number }
}

interface Removals {
  readonly tagsRemoved: readonly TagRecord[]
  readonly manifestsRemoved: ReadonlyArray<{ readonly repo: string; readonly digest: string }>
  readonly repositoriesRemoved: readonly string[]
  readonly linksRemoved: number
  readonly blobsRemoved: ReadonlyArray<{ readonly digest: string; readonly size: number }>
  readonly sweepMs: number
  readonly blobsMs: number
}

/** Blobs removed per transaction. */
const BLOB_BATCH = 256
const PARALLEL_UNLINKS = 8

/** Ends idle upload sessions and removes orphan upload files (the registry's upload service does). */
export interface UploadPurger {
  purge(ctx: RequestContext, idleBefore: number, options: { readonly orphanFiles: boolean }): Promise<{ sessions: number; files: number }>
}

export class GcAlreadyRunningError extends Error {
  constructor() {
    super('a garbage collection is already running')
    this.name = 'GcAlreadyRunningError'
  }
}

/**
 * Online mark and sweep over the metadata. The metadata sweep is one transaction, so manifest
 * puts (which validate their references in their own transactions) never interleave with it;
 * each blob is then removed under its digest lock, which blob commits and mounts also take,
 * record first and file second. Only one collection runs at a time: the one holding the GC lease.
 */
export class GarbageCollector {
  private readonly metadata: MetadataMaintenance
  private readonly store: BlobStore
  private readonly uploads: UploadPurger
  private readonly coordination: Coordination
  private readonly clock: Clock
  private readonly events: EventSink
  private readonly log: Logger
  private running: Promise<GcReport> | undefined
  private preview: GcReport | undefined

  constructor(deps: { metadata: MetadataMaintenance; store: BlobStore; uploads: UploadPurger; coordination: Coordination; clock: Clock; events: EventSink; log: Logger }) {
    this.metadata = deps.metadata
    this.store = deps.store
    this.uploads = deps.uploads
    this.coordination = deps.coordination
    this.clock = deps.clock
    this.events = deps.events
    this.log = deps.log
  }

  /**
   * This process's latest dry run, until a collection makes it stale: what a collection would free,
   * for pages that cannot afford a dry run of their own (one is tens of seconds at 10,000 repositories).
   */
  get lastPreview(): GcReport | undefined {
    return this.preview
  }

  /** Whether this process runs a collection. */
  get isRunning(): boolean {
    return this.running !== undefined
  }

  /** Resolves once no collection runs. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined)
  }

  /**
   * Starts a collection asked for by `ctx`; rejects with GcAlreadyRunningError while one runs.
   * What it removes is published as the system's doing, under the request id of `ctx`.
   */
  async collect(ctx: RequestContext, options: GcOptions): Promise<GcReport> {
    if (this.running !== undefined) throw new GcAlreadyRunningError()
    const lease = await this.coordination.lease(GC_LEASE)
    if (lease === undefined) throw new GcAlreadyRunningError()
    // A lost lease (its session broke) stops the work at the next step: another node may collect
    // now. Only that: a caller who stops waiting for the report does not stop the collection.
    const running = this.run({ ...ctx, signal: lease.lost }, options)
    this.running = running
    try {
      return await running
    } finally {
      this.running = undefined
      await lease.release()
    }
  }

  private async run(asked: RequestContext, options: GcOptions): Promise<GcReport> {
    const ctx: RequestContext = asked.caller.kind === 'system' ? asked : { ...asked, caller: systemCaller('gc') }
    const started = this.clock.now()
    // Durations are elapsed time, not the (replaceable) clock's.
    const t0 = Date.now()
    const now = options.now ?? started
    const graceCutoff = now - options.graceMs
    const rules = new RetentionRules(options.retention)
    const expiredTags = options.retention.length > 0 ? rules.expiredTags(await this.metadata.listAllTags(), now) : []
    const tagsByRepo = new Map<string, TagRecord[]>()
    for (const tag of expiredTags) tagsByRepo.set(tag.repo, [...(tagsByRepo.get(tag.repo) ?? []), tag])

    const phaseStart = Date.now()
    const removed = await this.collectMetadataAndBlobs(ctx, { now, graceCutoff, rules, tagsByRepo, dryRun: options.dryRun })
    const { sweepMs, blobsMs } = removed
    const uploadsPurged = options.dryRun
      ? (await this.metadata.listUploads(now - options.uploadTtlMs)).length
      : (await this.uploads.purge(ctx, now - options.uploadTtlMs, { orphanFiles: true })).sessions
    const uploadsMs = Date.now() - phaseStart - sweepMs - blobsMs
    const orphanFilesRemoved = await this.removeOrphanFiles(graceCutoff, options.dryRun, ctx.signal)
    const orphansMs = Date.now() - phaseStart - sweepMs - blobsMs - uploadsMs
    // What a collection without a grace period would also remove now: read-only, from snapshots.
    const keptByGrace = options.measureGraceKept === false ? null
      : options.graceMs > 0
        ? this.graceKept(removed, await this.collectMetadataAndBlobs(ctx, { now, graceCutoff: now, rules, tagsByRepo, dryRun: true }), options.graceMs)
        : { graceSeconds: 0, manifests: 0, blobs: 0, bytes: 0 }
    const graceMs = Date.now() - phaseStart - sweepMs - blobsMs - uploadsMs - orphansMs
    const { blobsRemoved } = removed
    const report: GcReport = {
      dryRun: options.dryRun,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - t0,
      tagsRemoved: removed.tagsRemoved.map(({ repo, tag, digest }) => ({ repo, tag, digest })),
      manifestsRemoved: removed.manifestsRemoved.map(({ repo, digest }) => ({ repo, digest })),
      repositoriesRemoved: removed.repositoriesRemoved,
      linksRemoved: removed.linksRemoved,
      blobsRemoved,
      bytesFreed: blobsRemoved.reduce((sum, b) => sum + b.size, 0) + orphanFilesRemoved.reduce((sum, b) => sum + b.size, 0),
      uploadsPurged,
      orphanFilesRemoved,
      keptByGrace,
      phases: { sweepMs, blobsMs, uploadsMs, orphansMs, graceMs },
    }
    this.log.info({
      dryRun: report.dryRun, durationMs: report.durationMs, tags: report.tagsRemoved.length, manifests: report.manifestsRemoved.length,
      links: report.linksRemoved, blobs: report.blobsRemoved.length, bytesFreed: report.bytesFreed, uploads: report.uploadsPurged,
      orphanFiles: report.orphanFilesRemoved.length, keptByGrace: report.keptByGrace, phases: report.phases,
    }, 'garbage collection finished')
    if (options.dryRun) {
      this.preview = report
    } else {
      this.preview = undefined
      this.events.publish(ctx, { type: 'collection.finished', summary: summaryOf(report) })
      await this.keepReport(report)
    }
    return report
  }

  /** The report of the last collection (dry runs aside), kept in the metadata store across restarts; undefined when none ran. */
  async lastReport(): Promise<GcReport | undefined> {
    const stored = await this.metadata.lastGcReport()
    return stored === undefined ? undefined : JSON.parse(stored.report) as GcReport
  }

  /** A collection that did its work is not failed because its report could not be kept: logged instead. */
  private async keepReport(report: GcReport): Promise<void> {
    try {
      await this.metadata.recordGcReport(JSON.stringify(report), this.clock.now())
    } catch (err) {
      this.log.warn({ err }, 'failed to keep the garbage collection report')
    }
  }

  /** What the grace period kept: removals without it (`withoutGrace`) that the collection did not make. */
  private graceKept(made: Removals, withoutGrace: Removals, graceMs: number): NonNullable<GcReport['keptByGrace']> {
    const manifests = new Set(made.manifestsRemoved.map((m) => `${m.repo}@${m.digest}`))
    const blobs = new Set(made.blobsRemoved.map((b) => b.digest))
    const keptBlobs = withoutGrace.blobsRemoved.filter((b) => !blobs.has(b.digest))
    return {
      graceSeconds: graceMs / 1000,
      manifests: withoutGrace.manifestsRemoved.filter((m) => !manifests.has(`${m.repo}@${m.digest}`)).length,
      blobs: keptBlobs.length,
      bytes: keptBlobs.reduce((sum, b) => sum + b.size, 0),
    }
  }

  /**
   * The metadata sweep, repository by repository, then the blobs no repository links any more.
   * A dry run computes the same from snapshots, changing nothing (and publishes nothing); otherwise
   * what each repository's sweep removed is published once it committed.
   */
  private async collectMetadataAndBlobs(ctx: RequestContext, plan: {
    now: number; graceCutoff: number; rules: RetentionRules; tagsByRepo: ReadonlyMap<string, TagRecord[]>; dryRun: boolean
  }): Promise<Removals> {
    const { now, graceCutoff, rules, tagsByRepo, dryRun } = plan
    const phaseStart = Date.now()
    // One short transaction per repository: pushes wait for one repository's sweep at most.
    const tagsRemoved: TagRecord[] = []
    const manifestsRemoved: Array<{ repo: string; digest: string }> = []
    const repositoriesRemoved: string[] = []
    let linksRemoved = 0
    const linksRemovedByDigest = new Map<Digest, number>()
    for (const repo of await this.allRepositories()) {
      ctx.signal.throwIfAborted()
      const untaggedAge = rules.policyFor(repo)?.policy.untaggedMaxAgeSeconds
      const result = await this.metadata.sweepRepository({
        repo, tags: tagsByRepo.get(repo) ?? [], graceCutoff, dryRun,
        ...(untaggedAge !== undefined ? { untaggedCutoff: now - untaggedAge * 1000 } : {}),
      })
      if (!dryRun) {
        for (const { tag, digest } of result.tagsRemoved) this.events.publish(ctx, { type: 'tag.deleted', repo, tag, digest })
        for (const { digest } of result.manifestsRemoved) this.events.publish(ctx, { type: 'manifest.deleted', repo, digest })
      }
      tagsRemoved.push(...result.tagsRemoved)
      manifestsRemoved.push(...result.manifestsRemoved.map(({ digest }) => ({ repo, digest })))
      if (result.repositoryRemoved) repositoriesRemoved.push(repo)
      linksRemoved += result.linksRemoved.length
      for (const digest of result.linksRemoved) linksRemovedByDigest.set(digest, (linksRemovedByDigest.get(digest) ?? 0) + 1)
    }
    if (!dryRun) await this.metadata.deleteOrphanManifestContents()
    const sweepMs = Date.now() - phaseStart
    const blobsRemoved: Array<{ digest: string; size: number }> = []
    if (dryRun) {
      // Nothing was removed: blobs whose every link the sweep would remove would go too.
      const wouldGo: BlobRecord[] = []
      await this.forEachUnlinkedBlobPage(graceCutoff, async (page) => { wouldGo.push(...page) })
      const candidates = [...linksRemovedByDigest.keys()]
      const counts = await this.metadata.countBlobLinks(candidates)
      for (const [i, digest] of candidates.entries()) {
        if (counts[i] !== linksRemovedByDigest.get(digest)) continue
        const blob = await this.metadata.getBlob(digest)
        if (blob !== undefined) wouldGo.push(blob)
      }
      blobsRemoved.push(...wouldGo.sort((a, b) => (a.digest < b.digest ? -1 : 1)))
    } else {
      // A page of the blob table at a time (memory stays flat however many blobs there are); in
      // batches: one transaction and parallel unlinks per batch, under the batch's digest locks.
      await this.forEachUnlinkedBlobPage(graceCutoff, async (page) => {
        for (let i = 0; i < page.length; i += BLOB_BATCH) {
          ctx.signal.throwIfAborted()
          const digests = page.slice(i, i + BLOB_BATCH).map((b) => b.digest)
          const removed = await this.coordination.lockAll(digests.map(LockKeys.blob), async () => {
            const records = await this.metadata.deleteBlobsIfUnlinked(digests)
            // A few unlinks at a time leave the I/O thread pool to the pushes meanwhile.
            for (let j = 0; j < records.length; j += PARALLEL_UNLINKS) {
              await Promise.all(records.slice(j, j + PARALLEL_UNLINKS).map((r) => this.store.deleteBlob(r.digest)))
            }
            return records
          })
          blobsRemoved.push(...removed)
        }
      })
    }

    const blobsMs = Date.now() - phaseStart - sweepMs
    return { tagsRemoved, manifestsRemoved, repositoriesRemoved, linksRemoved, blobsRemoved, sweepMs, blobsMs }
  }

  /** Blob files with no record (a crash between writing the file and recording it), once older than the grace period. */
  private async removeOrphanFiles(graceCutoff: number, dryRun: boolean, signal: AbortSignal): Promise<Array<{ digest: string; size: number }>> {
    const removed: Array<{ digest: string; size: number }> = []
    for await (const digest of this.store.listBlobDigests()) {
      signal.throwIfAborted()
      // Recorded blobs are not orphans (one indexed lookup each: no set of every digest in memory);
      // a record made after this check is caught by the re-check under the lock below.
      if (await this.metadata.getBlob(digest) !== undefined) continue
      const file = await this.store.blobInfo(digest)
      if (file === undefined || file.modifiedAt.getTime() >= graceCutoff) continue
      const gone = await this.coordination.lock(LockKeys.blob(digest), async () => {
        if (await this.metadata.getBlob(digest) !== undefined) return false
        if (!dryRun) await this.store.deleteBlob(digest)
        return true
      })
      if (gone) removed.push({ digest, size: file.size })
    }
    return removed
  }

  /** Blobs no repository links, created before the grace cutoff, a page of the blob table at a time. */
  private async forEachUnlinkedBlobPage(graceCutoff: number, each: (blobs: BlobRecord[]) => Promise<void>): Promise<void> {
    for (let after = ''; ;) {
      const page = await this.metadata.listUnlinkedBlobs(after, 5000, graceCutoff)
      await each(page.blobs)
      if (page.last === undefined) return
      after = page.last
    }
  }

  private async allRepositories(): Promise<string[]> {
    const names: string[] = []
    for (let last: string | undefined; ;) {
      const page = await this.metadata.listRepositories({ ...(last !== undefined ? { last } : {}), limit: 1000 })
      names.push(...page)
      if (page.length < 1000) return names
      last = page[page.length - 1]
    }
  }
}

function summaryOf(report: GcReport): CollectionSummary {
  return {
    tagsRemoved: report.tagsRemoved.length,
    manifestsRemoved: report.manifestsRemoved.length,
    repositoriesRemoved: report.repositoriesRemoved.length,
    linksRemoved: report.linksRemoved,
    blobsRemoved: report.blobsRemoved.length,
    bytesFreed: report.bytesFreed,
    uploadsPurged: report.uploadsPurged,
    orphanFilesRemoved: report.orphanFilesRemoved.length,
    durationMs: report.durationMs,
  }
}
