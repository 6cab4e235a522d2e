import { randomUUID } from 'node:crypto'
import { callerIdentity } from '../access/identity.js'
import type { AccessPolicy } from '../access/policy.js'
import { OPEN_POLICY } from '../access/rules-policy.js'
import { LockKeys, type Coordination } from '../coordination/coordination.js'
import type { Clock } from '../context/clock.js'
import type { RequestContext } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import type { EventSink } from '../events/events.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import { createDigester, digestAlgorithm, hashing, type Digest, type Digester } from '../oci/digest.js'
import type { RepoName } from '../oci/names.js'
import { formatUploadRange, type ByteRange } from '../oci/range.js'
import { UploadNotFoundError, type BlobStore } from '../storage/blob-store.js'
import type { BlobDescriptor } from './blobs.js'
import { writableMaintenance, type MaintenanceState } from './maintenance.js'

export interface UploadSession {
  readonly id: string
  readonly repo: RepoName
  /** Bytes received so far. */
  readonly size: number
}

export interface ChunkOptions {
  /** From Content-Range: the chunk must start where the upload ends. */
  readonly range?: ByteRange
  /** From Content-Length, when the client sent one. */
  readonly length?: number
}

/** Hash state of a session, valid while `size` equals the upload's size (Node cannot persist it). */
interface HashState {
  readonly digester: Digester
  size: number
}

const MAX_CACHED_HASH_STATES = 4096

/**
 * The upload session lifecycle: start → append chunks → complete (or cancel). Bytes are hashed
 * while they stream in; a session whose hash state was lost (restart, aborted chunk) is re-hashed
 * once at completion. Chunks of one session are serialised; a chunk in flight never holds back a
 * status (which reports the bytes written so far) nor a cancel (which aborts it).
 */
export class UploadService {
  private readonly metadata: MetadataStore
  private readonly store: BlobStore
  /** Session locks serialise chunks of one session; blob locks serialise commits of one digest with garbage collection. */
  private readonly coordination: Coordination
  private readonly clock: Clock
  private readonly events: EventSink
  private readonly hashStates = new Map<string, HashState>()
  /** The chunk being written to each session, to abort it. */
  private readonly chunksInFlight = new Map<string, AbortController>()
  /** Decides which repositories a mount may take a blob from. */
  private readonly policy: AccessPolicy
  /** Read-only mode refuses every start, chunk, completion, mount and cancel. */
  private readonly maintenance: MaintenanceState

  constructor(metadata: MetadataStore, store: BlobStore, coordination: Coordination, clock: Clock, events: EventSink, policy: AccessPolicy = OPEN_POLICY,
    maintenance: MaintenanceState = writableMaintenance(clock)) {
    this.maintenance = maintenance
    this.metadata = metadata
    this.store = store
    this.coordination = coordination
    this.clock = clock
    this.events = events
    this.policy = policy
  }

  /** A new session, owned by the caller: any other caller is told it does not exist. */
  async start(ctx: RequestContext, repo: RepoName): Promise<UploadSession> {
    return this.maintenance.write('upload start', () => this.startWritable(ctx, repo))
  }

  private async startWritable(ctx: RequestContext, repo: RepoName): Promise<UploadSession> {
    const id = randomUUID()
    // Held while the file exists without its row, so a concurrent purge does not take it for an orphan.
    await this.coordination.lock(LockKeys.upload(id), async () => {
      await this.store.createUpload(id)
      const now = this.clock.now()
      try {
        await this.metadata.createUpload({ id, repo, startedAt: now, updatedAt: now, owner: callerIdentity(ctx.caller) })
      } catch (err) {
        await this.store.deleteUpload(id)
        throw err
      }
    })
    this.rememberHashState(id, { digester: createDigester('sha256'), size: 0 })
    return { id, repo, size: 0 }
  }

  /**
   * Cross-repository mount: links a blob of `from` into `repo`, if the caller may pull `from`.
   * Without `from`, only from a repository holding the blob that the caller may pull (knowing a
   * digest must not be enough to read a blob); with access control off, any recorded blob.
   * Undefined when there is nothing to mount (the client then uploads, as registry:2 answers).
   */
  async mount(ctx: RequestContext, repo: RepoName, digest: Digest, from?: RepoName): Promise<BlobDescriptor | undefined> {
    return this.maintenance.write('blob mount', () => this.mountWritable(ctx, repo, digest, from))
  }

  private async mountWritable(ctx: RequestContext, repo: RepoName, digest: Digest, from?: RepoName): Promise<BlobDescriptor | undefined> {
    let source = from
    if (from !== undefined) {
      if (!this.policy.allows(ctx.caller, { type: 'repository', name: from }, 'pull')) return undefined
    } else if (this.policy.enabled) {
      source = await this.readableHolder(ctx, digest)
      if (source === undefined) return undefined
    }
    const linked = await this.coordination.lock(LockKeys.blob(digest), () => this.metadata.linkBlob(repo, digest, source))
    if (linked === undefined) return undefined
    if (linked.repositoryCreated) this.events.publish(ctx, { type: 'repository.created', repo })
    this.events.publish(ctx, { type: 'blob.mounted', repo, digest, size: linked.size, ...(from !== undefined ? { from } : {}) })
    return { digest, size: linked.size }
  }

  /**
   * The bytes written so far, at once: a chunk in flight (perhaps from a client that is gone) is
   * not waited for. A client resuming from this size while that chunk still writes gets 416 with
   * the size it left (distribution-spec: resume from the 416's Range).
   */
  async status(ctx: RequestContext, repo: RepoName, id: string): Promise<UploadSession> {
    await this.session(ctx, repo, id)
    const size = await this.store.uploadSize(id)
    if (size === undefined) throw unknownUpload(id)
    return { id, repo, size }
  }

  /** Appends a chunk; `ctx.signal` stops it (a client gone or too slow), what was written stays. */
  async append(ctx: RequestContext, repo: RepoName, id: string, body: AsyncIterable<Uint8Array>, options: ChunkOptions): Promise<UploadSession> {
    return this.maintenance.write('upload chunk', async () => {
      await this.session(ctx, repo, id)
      return this.coordination.lock(LockKeys.upload(id), async () => {
        const size = await this.appendLocked(ctx, id, body, options)
        await this.metadata.touchUpload(id, this.clock.now())
        return { id, repo, size }
      })
    })
  }

  /** Ends a session: appends the optional last chunk, verifies size and digest, stores the blob. */
  async complete(ctx: RequestContext, repo: RepoName, id: string, digest: Digest, body: AsyncIterable<Uint8Array> | undefined, options: ChunkOptions): Promise<BlobDescriptor> {
    return this.maintenance.write('upload completion', () => this.completeWritable(ctx, repo, id, digest, body, options))
  }

  private async completeWritable(ctx: RequestContext, repo: RepoName, id: string, digest: Digest, body: AsyncIterable<Uint8Array> | undefined, options: ChunkOptions): Promise<BlobDescriptor> {
    await this.session(ctx, repo, id)
    return this.coordination.lock(LockKeys.upload(id), async () => {
      const size = body !== undefined ? await this.appendLocked(ctx, id, body, options) : await this.store.uploadSize(id)
      if (size === undefined) throw unknownUpload(id)
      const state = this.hashStates.get(id)
      const actual = state !== undefined && state.size === size && state.digester.algorithm === digestAlgorithm(digest)
        ? state.digester.digest()
        : await this.rehash(id, digest)
      this.hashStates.delete(id)
      if (actual !== digest) {
        await this.discard(id)
        throw new RegistryError('DIGEST_INVALID', { detail: { expected: digest, actual } })
      }
      return this.commit(ctx, repo, id, digest, size, id)
    })
  }

  /**
   * A whole blob in one request (POST ?digest= with a body, or PUT without a session). `announce`
   * false stores it without push events: the pull-through cache filling itself is no push (as
   * registry:2's proxy sends none), and no client's write either, so read-only mode lets it through.
   */
  async putMonolithic(ctx: RequestContext, repo: RepoName, digest: Digest, body: AsyncIterable<Uint8Array>, options: ChunkOptions, announce = true): Promise<BlobDescriptor> {
    if (!announce) return this.putMonolithicWritable(ctx, repo, digest, body, options, false)
    return this.maintenance.write('blob upload', () => this.putMonolithicWritable(ctx, repo, digest, body, options, true))
  }

  private async putMonolithicWritable(ctx: RequestContext, repo: RepoName, digest: Digest, body: AsyncIterable<Uint8Array>, options: ChunkOptions, announce: boolean): Promise<BlobDescriptor> {
    const id = randomUUID()
    // The upload file has no session row; the lock marks it as in use for purge.
    return this.coordination.lock(LockKeys.upload(id), async () => {
      let committed = false
      try {
        const digester = createDigester(digestAlgorithm(digest))
        const size = await this.store.writeUpload(id, hashing(body, digester), ctx.signal)
        if (options.length !== undefined && size !== options.length) {
          throw new RegistryError('SIZE_INVALID', { detail: { expected: options.length, actual: size } })
        }
        const actual = digester.digest()
        if (actual !== digest) throw new RegistryError('DIGEST_INVALID', { detail: { expected: digest, actual } })
        const blob = await this.commit(ctx, repo, id, digest, size, undefined, announce)
        // The commit moved the upload into blobs/: nothing is left to remove.
        committed = true
        return blob
      } finally {
        if (!committed) await this.store.deleteUpload(id)
      }
    })
  }

  /**
   * Makes a verified upload the blob `digest` of `repo`: bytes durable in the store first, then the
   * record (ending session `sessionId`, if any), under the digest lock garbage collection also takes.
   */
  private async commit(ctx: RequestContext, repo: RepoName, id: string, digest: Digest, size: number, sessionId?: string, announce = true): Promise<BlobDescriptor> {
    const recorded = await this.coordination.lock(LockKeys.blob(digest), async () => {
      await this.store.commitUpload(id, digest)
      return this.metadata.recordBlob(repo, digest, size, sessionId)
    })
    if (!announce) return { digest, size }
    if (recorded.repositoryCreated) this.events.publish(ctx, { type: 'repository.created', repo })
    this.events.publish(ctx, { type: 'blob.pushed', repo, digest, size })
    return { digest, size }
  }

  /** Ends the session at once: a chunk in flight is aborted (its client gets 404) and every byte goes. */
  async cancel(ctx: RequestContext, repo: RepoName, id: string): Promise<void> {
    // Refused too (as registry:2 does): the session stays, to be completed or cancelled after the switch back.
    return this.maintenance.write('upload cancel', async () => {
      await this.session(ctx, repo, id)
      this.chunksInFlight.get(id)?.abort(unknownUpload(id))
      await this.coordination.lock(LockKeys.upload(id), () => this.discard(id))
    })
  }

  /**
   * Ends sessions idle since before `idleBefore` and removes upload files that no session names
   * (left by a crash during a single-request upload). Work in flight holds its session lock and is
   * skipped, and each session is checked again under its lock, so this is safe at any time.
   */
  async purge(_ctx: RequestContext, idleBefore: number, options: { readonly orphanFiles: boolean }): Promise<{ sessions: number; files: number }> {
    let sessions = 0
    for (const upload of await this.metadata.listUploads(idleBefore)) {
      // Skipped when busy (a chunk holds the lock, or waits for it). The list is older than this
      // moment: a chunk may have used the session since. Decide on the record as it is now, under
      // the lock every chunk takes.
      const ended = await this.coordination.tryLock(LockKeys.upload(upload.id), async () => {
        const current = await this.metadata.getUpload(upload.id)
        if (current === undefined || current.updatedAt >= idleBefore) return false
        await this.discard(upload.id)
        return true
      })
      if (ended === true) sessions++
    }
    let files = 0
    if (options.orphanFiles) {
      for await (const id of this.store.listUploads()) {
        const removed = await this.coordination.tryLock(LockKeys.upload(id), async () => {
          if (await this.metadata.getUpload(id) !== undefined) return false
          await this.store.deleteUpload(id)
          return true
        })
        if (removed === true) files++
      }
      // Sessions whose file vanished cannot be resumed.
      for (const upload of await this.metadata.listUploads()) {
        const ended = await this.coordination.tryLock(LockKeys.upload(upload.id), async () => {
          if (await this.store.uploadSize(upload.id) !== undefined) return false
          return this.metadata.deleteUpload(upload.id)
        })
        if (ended === true) sessions++
      }
    }
    return { sessions, files }
  }

  private async discard(id: string): Promise<void> {
    this.hashStates.delete(id)
    await this.metadata.deleteUpload(id)
    await this.store.deleteUpload(id)
  }

  private async session(ctx: RequestContext, repo: RepoName, id: string): Promise<void> {
    const upload = await this.metadata.getUpload(id)
    // A session id is valid only in the repository it was opened in, and only for whoever opened
    // it (another caller, even one who may push, must not add to or end someone else's upload).
    if (upload === undefined || upload.repo !== repo) throw unknownUpload(id)
    if (upload.owner !== undefined && ctx.caller.kind !== 'system' && upload.owner !== callerIdentity(ctx.caller)) throw unknownUpload(id)
  }

  /** A repository holding the blob that the caller may pull, if any. */
  private async readableHolder(ctx: RequestContext, digest: Digest): Promise<RepoName | undefined> {
    let last: string | undefined
    for (;;) {
      const repos = await this.metadata.listBlobRepositories(digest, { ...(last !== undefined ? { last } : {}), limit: HOLDERS_PAGE })
      const readable = repos.find((name) => this.policy.allows(ctx.caller, { type: 'repository', name }, 'pull'))
      if (readable !== undefined) return readable as RepoName
      if (repos.length < HOLDERS_PAGE) return undefined
      last = repos[repos.length - 1]
    }
  }

  private async appendLocked(ctx: RequestContext, id: string, body: AsyncIterable<Uint8Array>, options: ChunkOptions): Promise<number> {
    const size = await this.store.uploadSize(id)
    if (size === undefined) throw unknownUpload(id)
    if (options.range !== undefined) {
      const { start, end } = options.range
      if (start !== size) {
        throw new RegistryError('RANGE_INVALID', { message: `chunk must start at byte ${size}`, detail: { range: formatUploadRange(size), size } })
      }
      if (options.length !== undefined && end - start + 1 !== options.length) {
        throw new RegistryError('RANGE_INVALID', { message: 'Content-Range does not match Content-Length', detail: { range: formatUploadRange(size), size } })
      }
    }
    const state = this.hashStates.get(id)
    const digester = state !== undefined && state.size === size ? state.digester : undefined
    // Invalidate first: if the chunk fails midway the state no longer matches the bytes on disk.
    this.hashStates.delete(id)
    // Stopped by the request's signal (a client gone or too slow) or by a cancel of the session.
    const inFlight = new AbortController()
    this.chunksInFlight.set(id, inFlight)
    let newSize: number
    try {
      newSize = await this.store.appendUpload(id, digester ? hashing(body, digester) : body, AbortSignal.any([ctx.signal, inFlight.signal]))
    } catch (err) {
      if (err instanceof UploadNotFoundError) throw unknownUpload(id)
      throw err
    } finally {
      if (this.chunksInFlight.get(id) === inFlight) this.chunksInFlight.delete(id)
    }
    if (digester !== undefined) this.rememberHashState(id, { digester, size: newSize })
    return newSize
  }

  private rememberHashState(id: string, state: HashState): void {
    if (this.hashStates.size >= MAX_CACHED_HASH_STATES) {
      // Dropping a state only costs a re-hash at completion.
      const oldest = this.hashStates.keys().next().value
      if (oldest !== undefined) this.hashStates.delete(oldest)
    }
    this.hashStates.set(id, state)
  }

  private async rehash(id: string, digest: Digest): Promise<Digest> {
    const digester = createDigester(digestAlgorithm(digest))
    for await (const chunk of await this.store.readUpload(id)) digester.update(chunk as Buffer)
    return digester.digest()
  }
}

/** Repositories holding a blob read at a time while looking for one the caller may pull. */
const HOLDERS_PAGE = 200

function unknownUpload(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', { detail: { uuid: id } })
}
