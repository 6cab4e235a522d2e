import { once } from 'node:events'
import { PassThrough, type Readable } from 'node:stream'
import type { Logger } from 'pino'
import type { AccessPolicy } from '../access/policy.js'
import type { Clock } from '../context/clock.js'
import type { RequestContext } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import type { MetadataStore } from '../metadata/metadata-store.js'
import { digestAlgorithm, digestOf, type Digest } from '../oci/digest.js'
import { parseManifest, type ManifestReference } from '../oci/manifest.js'
import { isRepoName, type Reference, type RepoName, type Tag } from '../oci/names.js'
import type { BlobStore } from '../storage/blob-store.js'
import type { UpstreamClient } from '../upstream/upstream-client.js'
import { isUpstreamFailure } from '../upstream/upstream-failure.js'
import type { BlobDescriptor } from './blobs.js'
import type { UploadService } from './uploads.js'

/** One configured upstream: local repositories `<prefix>/<rest>` are its `<rest>`. */
export interface ProxiedUpstream {
  readonly prefix: string
  readonly client: UpstreamClient
  readonly tagTtlMs: number
  /** Also answers unprefixed names not stored locally (Docker's registry-mirrors). */
  readonly mirror: boolean
  readonly allowPush: boolean
}

/** Where a local repository comes from. */
interface Origin {
  readonly upstream: ProxiedUpstream
  /** The repository's name upstream. */
  readonly remote: string
}

export interface PullThroughParts {
  readonly upstreams: readonly ProxiedUpstream[]
  readonly metadata: MetadataStore
  readonly store: BlobStore
  readonly uploads: UploadService
  readonly clock: Clock
  readonly policy: AccessPolicy
  readonly log: Logger
}

/**
 * The pull-through cache. Manifests are stored byte for byte as the upstream sent them (their
 * digests verified), without their blobs; tags are re-validated with the upstream once their TTL
 * has passed, content addressed by digest never is. Blobs are fetched when first pulled, streamed
 * to the client while they are stored through the upload path (digest verified, atomic commit):
 * one upstream fetch per digest at a time. When the upstream fails, what is cached still serves.
 */
export class PullThroughCache {
  private readonly parts: PullThroughParts
  /** Blob fetches in flight, by digest: resolve once the blob is stored (linked into the fetching repository). */
  private readonly blobFills = new Map<Digest, Promise<BlobDescriptor>>()
  /** Manifest fetches in flight, by repository and reference. */
  private readonly manifestFills = new Map<string, Promise<void>>()

  constructor(parts: PullThroughParts) {
    this.parts = parts
  }

  /** The configured prefixes (what `?ns=` may name). */
  get prefixes(): readonly string[] {
    return this.parts.upstreams.map((u) => u.prefix)
  }

  get enabled(): boolean {
    return this.parts.upstreams.length > 0
  }

  /** Whether `ns` names a configured upstream (a request with it is scoped to `<ns>/<name>`). */
  isNamespace(ns: string | undefined): boolean {
    return ns !== undefined && this.parts.upstreams.some((u) => u.prefix === ns)
  }

  /** Whether the repository is (under) a proxied prefix: its content is cached, not pushed. */
  isCached(repo: string): boolean {
    return this.originOf(repo) !== undefined
  }

  private originOf(repo: string): Origin | undefined {
    for (const upstream of this.parts.upstreams) {
      if (repo.startsWith(`${upstream.prefix}/`)) return { upstream, remote: repo.slice(upstream.prefix.length + 1) }
    }
    return undefined
  }

  /**
   * The local name a pull of `repo` reads: `repo` itself, or, for the mirror upstream, `<prefix>/<repo>`
   * when `repo` is not under a prefix and not stored here (as Docker's registry-mirrors asks for
   * `library/alpine`). Pulling it through needs pull on that local name too. Blobs (and referrers)
   * are read through the mirror only once its manifest was: a client pushing a new repository
   * asks for its blobs first and must hear they are unknown, not the upstream's answer.
   */
  async localName(ctx: RequestContext, repo: RepoName, what: 'manifest' | 'tags' | 'blob' | 'referrers'): Promise<RepoName> {
    const mirror = this.parts.upstreams.find((u) => u.mirror)
    if (mirror === undefined || this.originOf(repo) !== undefined) return repo
    if (await this.parts.metadata.repositoryExists(repo)) return repo
    const local = `${mirror.prefix}/${repo}`
    if (!isRepoName(local)) return repo
    if ((what === 'blob' || what === 'referrers') && !await this.parts.metadata.repositoryExists(local as RepoName)) return repo
    this.parts.policy.authorize(ctx.caller, [{ resource: { type: 'repository', name: local }, action: 'pull' }])
    return local as RepoName
  }

  /**
   * Whether a request may be a pull the mirror upstream serves (an unprefixed name): its access is
   * then decided on the name it reads (localName authorizes the prefixed one).
   */
  mayMirror(route: { readonly kind: string; readonly name?: string } | undefined, method: string): boolean {
    if (route?.name === undefined || (method !== 'GET' && method !== 'HEAD')) return false
    if (!['manifest', 'tags', 'blob', 'referrers'].includes(route.kind)) return false
    return this.parts.upstreams.some((u) => u.mirror) && this.originOf(route.name) === undefined
  }

  /** Refuses a push into a proxied prefix (unless the upstream allows it), as registry:2 in proxy mode does. */
  refusePush(repo: RepoName): void {
    const origin = this.originOf(repo)
    if (origin === undefined || origin.upstream.allowPush) return
    throw new RegistryError('UNSUPPORTED', {
      message: `${origin.upstream.prefix}/ is a pull-through cache of ${origin.upstream.client.url}: pushes are not accepted there`,
      detail: { repository: repo, upstream: origin.upstream.client.url },
    })
  }

  /**
   * Makes sure the manifest a pull asks for is in the cache, as current as the tag's TTL wants:
   * nothing for a repository that is not proxied. By digest: fetched once, never again. By tag:
   * served from the cache within its TTL; after it, asked of the upstream (HEAD) and fetched when
   * it moved; the cached one is served (stale, logged) when the upstream fails. A tag pushed here
   * (allowPush) is never re-validated.
   */
  async ensureManifest(_ctx: RequestContext, repo: RepoName, reference: Reference): Promise<void> {
    const origin = this.originOf(repo)
    if (origin === undefined) return
    const key = `${repo}@${reference.digest ?? reference.tag}`
    let fill = this.manifestFills.get(key)
    if (fill === undefined) {
      fill = this.refreshManifest(origin, repo, reference).finally(() => this.manifestFills.delete(key))
      this.manifestFills.set(key, fill)
    }
    return fill
  }

  // Shared by concurrent pulls: not stopped by the first client leaving (the upstream's timeouts bound it).
  private async refreshManifest(origin: Origin, repo: RepoName, reference: Reference): Promise<void> {
    const { metadata, clock } = this.parts
    const { client } = origin.upstream
    if (reference.digest !== undefined) {
      if (await metadata.findManifest(repo, { digest: reference.digest }) !== undefined) return
      const fetched = await client.getManifest(origin.remote, reference.digest)
      await this.storeManifest(repo, reference.digest, fetched.body, fetched.mediaType, [], clock.now())
      return
    }
    const tag = reference.tag
    const cached = await metadata.findManifest(repo, { tag })
    const fetchedAt = cached !== undefined ? await metadata.tagFetchedAt(repo, tag) : undefined
    if (cached !== undefined && (fetchedAt === undefined || clock.now() - fetchedAt < origin.upstream.tagTtlMs)) return
    const now = clock.now()
    try {
      const head = await client.headManifest(origin.remote, tag)
      if (cached !== undefined && head.digest === cached.digest) {
        await metadata.markTagFetched(repo, tag, now)
        return
      }
      const digest = head.digest
      // The moved tag's manifest by digest (what HEAD named, so the bytes are checked against it); by tag when HEAD named none.
      const fetched = await client.getManifest(origin.remote, digest ?? tag)
      const expected = digest ?? fetched.digest ?? digestOf(fetched.body)
      await this.storeManifest(repo, expected, fetched.body, fetched.mediaType, [tag], now)
      if (cached !== undefined && cached.digest !== expected) this.parts.log.info({ repo, tag, from: cached.digest, to: expected }, 'cached tag moved to the upstream\'s new manifest')
    } catch (err) {
      if (cached === undefined || !isUpstreamFailure(err)) throw err
      this.parts.log.warn({ repo, tag, digest: cached.digest, upstream: client.url, err: (err as Error).message }, 'upstream failed: serving the cached tag, stale')
    }
  }

  /** Stores a manifest fetched from the upstream, exactly as received, once its digest checks out. */
  private async storeManifest(repo: RepoName, digest: Digest, body: Buffer, contentType: string, tags: readonly Tag[], fetchedAt: number): Promise<void> {
    const actual = digestOf(body, digestAlgorithm(digest))
    if (actual !== digest) {
      throw new RegistryError('UNAVAILABLE', { status: 502, message: 'the upstream sent a manifest that does not match its digest', detail: { repository: repo, expected: digest, actual } })
    }
    const manifest = parseManifest(body, contentType === '' ? undefined : contentType)
    const result = await this.parts.metadata.putManifest({
      repo, digest, body, tags, now: fetchedAt, fromUpstream: { fetchedAt },
      mediaType: manifest.mediaType,
      references: manifest.references,
      ...(manifest.artifactType !== undefined ? { artifactType: manifest.artifactType } : {}),
      ...(manifest.subject !== undefined ? { subject: manifest.subject.digest } : {}),
      ...(manifest.annotations !== undefined ? { annotations: manifest.annotations } : {}),
    })
    if (!result.ok) throw new RegistryError('UNKNOWN', { message: 'cached manifest could not be stored' })
  }

  /**
   * Fetches what a manifest pushed into a proxied prefix references and the cache lacks: blobs and
   * child manifests the upstream has. False when some could not be fetched (the push then fails
   * as it would have).
   */
  async fetchMissing(ctx: RequestContext, repo: RepoName, missing: readonly ManifestReference[]): Promise<boolean> {
    const origin = this.originOf(repo)
    if (origin === undefined) return false
    try {
      for (const ref of missing) {
        if (ref.kind === 'manifest') await this.ensureManifest(ctx, repo, { digest: ref.digest })
        else await this.openBlob(ctx, repo, ref.digest, false)
      }
      return true
    } catch (err) {
      this.parts.log.info({ repo, err: (err as Error).message }, 'a pushed manifest references content the upstream could not give')
      return false
    }
  }

  /** A blob of a proxied repository not stored here, as the upstream describes it (HEAD); undefined for other repositories. */
  async statBlob(ctx: RequestContext, repo: RepoName, digest: Digest): Promise<BlobDescriptor | undefined> {
    const origin = this.originOf(repo)
    if (origin === undefined) return undefined
    const head = await origin.upstream.client.headBlob(origin.remote, digest, ctx.signal)
    if (head.size === undefined) throw new RegistryError('UNAVAILABLE', { status: 502, message: 'the upstream gave no size for the blob', detail: { digest } })
    return { digest, size: head.size }
  }

  /**
   * A blob of a proxied repository not stored here: undefined for other repositories. The first
   * pull of a digest (without Range) fetches it once and streams it to its client while storing it;
   * the last chunk is held back until the digest is verified, so a client never receives a whole
   * blob that is wrong, and an upstream failing midway cuts the client's connection and stores
   * nothing. Concurrent pulls of the digest, and Range requests, wait for that fetch and then read
   * the stored, verified blob: only verified bytes are ever served from the cache.
   */
  async openBlob(ctx: RequestContext, repo: RepoName, digest: Digest, wholeBlob: boolean): Promise<{ readonly blob: BlobDescriptor; readonly stream?: Readable } | undefined> {
    const origin = this.originOf(repo)
    if (origin === undefined) return undefined
    const inFlight = this.blobFills.get(digest)
    if (inFlight !== undefined || !wholeBlob) {
      const blob = await (inFlight ?? this.fill(ctx, origin, repo, digest).fill)
      // Fetched through another repository (same digest): link it here too (statBlob confirmed the upstream has it in this one).
      if (await this.parts.metadata.getRepositoryBlob(repo, digest) === undefined) await this.parts.metadata.linkBlob(repo, digest)
      return { blob }
    }
    // Stored already for another repository: linked here once the upstream confirms this repository has it.
    if (await this.parts.metadata.getBlob(digest) !== undefined) {
      await origin.upstream.client.headBlob(origin.remote, digest, ctx.signal)
      const mounted = await this.parts.uploads.mount(ctx, repo, digest)
      if (mounted !== undefined) return { blob: mounted }
    }
    const { fill, stream, size } = this.fill(ctx, origin, repo, digest, true)
    // The fetch's outcome reaches the client through the stream; its rejection is handled there.
    fill.catch(() => undefined)
    return { blob: { digest, size: await size }, ...(stream !== undefined ? { stream } : {}) }
  }

  private fill(ctx: RequestContext, origin: Origin, repo: RepoName, digest: Digest, toClient = false): { fill: Promise<BlobDescriptor>; stream?: PassThrough; size: Promise<number> } {
    const stream = toClient ? new PassThrough() : undefined
    let announceSize!: (size: number) => void
    let failSize!: (err: unknown) => void
    const size = new Promise<number>((resolve, reject) => { announceSize = resolve; failSize = reject })
    size.catch(() => undefined)
    const run = async (): Promise<BlobDescriptor> => {
      // The fetch is shared: it must not end when the first client leaves.
      const shared: RequestContext = { ...ctx, signal: new AbortController().signal }
      const upstream = await origin.upstream.client.getBlob(origin.remote, digest)
      if (upstream.size === undefined) {
        upstream.body.destroy()
        throw new RegistryError('UNAVAILABLE', { status: 502, message: 'the upstream gave no size for the blob', detail: { digest } })
      }
      announceSize(upstream.size)
      const held: { last?: Buffer } = {}
      const stored = await this.parts.uploads.putMonolithic(shared, repo, digest, tee(upstream.body, stream, held), { length: upstream.size }, false)
      if (stream !== undefined && !stream.destroyed) stream.end(held.last)
      return stored
    }
    const fill = run().then(
      (blob) => blob,
      (err: unknown) => {
        failSize(err)
        // Headers (with Content-Length) are out: the client sees its connection cut.
        stream?.destroy(err instanceof Error ? err : new Error(String(err)))
        this.parts.log.warn({ repo, digest, upstream: origin.upstream.client.url, err: (err as Error).message }, 'pull-through of a blob failed: nothing stored')
        throw err
      },
    ).finally(() => this.blobFills.delete(digest))
    this.blobFills.set(digest, fill)
    return { fill, size, ...(stream !== undefined ? { stream } : {}) }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.blobFills.values()])
    await Promise.all(this.parts.upstreams.map((u) => u.client.close()))
  }
}

/**
 * Yields the upstream's chunks to the store and writes them to the client, one chunk behind: the
 * last one stays in `held` until the stored blob is verified. A client that is gone or slow never
 * stops the store from filling (a slow one is waited for, a gone one is left).
 */
async function* tee(source: Readable, client: PassThrough | undefined, held: { last?: Buffer }): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    const buffer = chunk as Buffer
    if (client !== undefined && held.last !== undefined && !client.destroyed && !client.write(held.last)) await drained(client)
    held.last = buffer
    yield buffer
  }
}

/** Until the stream wants more, or is gone. */
async function drained(stream: PassThrough): Promise<void> {
  const done = new AbortController()
  try {
    await Promise.race([once(stream, 'drain', { signal: done.signal }), once(stream, 'close', { signal: done.signal })])
  } catch {
    // An error or our own abort: either way, stop waiting.
  } finally {
    done.abort()
  }
}
