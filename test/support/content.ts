import { createHash, randomBytes, type Hash } from 'node:crypto'
import { Readable } from 'node:stream'

/**
 * OCI and Docker content for tests, conformance scenarios and benchmarks: digests, blobs,
 * descriptors, image manifests, indexes and manifest lists, referrers (a `subject`), and whole
 * content trees (an image or index with everything it refers to) for push-and-pull checks.
 */

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerUncompressed: 'application/vnd.oci.image.layer.v1.tar',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  inToto: 'application/vnd.in-toto+json',
  buildkitCacheConfig: 'application/vnd.buildkit.cacheconfig.v0',
} as const

/** Accept header a multi-format client sends when resolving a reference. */
export const ACCEPT_ALL_MANIFESTS = [MediaTypes.dockerManifest, MediaTypes.dockerManifestList, MediaTypes.ociManifest, MediaTypes.ociIndex, '*/*'].join(', ')

export type Algorithm = 'sha256' | 'sha512'

export function digestOf(data: Uint8Array | string, algorithm: Algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`
}

export function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1)
}

/** JSON as written (no re-serialisation surprises): the bytes are the content. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value))
}

export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifest || mediaType === MediaTypes.dockerManifestList
}

export interface Platform {
  readonly architecture: string
  readonly os: string
  readonly variant?: string
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  artifactType?: string
  annotations?: Record<string, string>
  urls?: string[]
  platform?: Platform
}

export interface Blob {
  readonly data: Buffer
  readonly digest: string
  readonly size: number
  /** The type its descriptors name (a layer when not told otherwise). */
  readonly mediaType: string
  /** Annotations its descriptors in a manifest or index carry. */
  readonly annotations?: Readonly<Record<string, string>>
}

export interface BlobOptions {
  readonly algorithm?: Algorithm
  readonly mediaType?: string
  readonly annotations?: Readonly<Record<string, string>>
}

/** A blob of these bytes, or of `data` random bytes when it is a number. */
export function makeBlob(data: Buffer | string | number, options: Algorithm | BlobOptions = {}): Blob {
  const { algorithm = 'sha256', mediaType = MediaTypes.ociLayer, annotations } = typeof options === 'string' ? { algorithm: options } : options
  const bytes = typeof data === 'number' ? randomBytes(data) : Buffer.from(data)
  return { data: bytes, digest: digestOf(bytes, algorithm), size: bytes.length, mediaType, ...(annotations !== undefined ? { annotations } : {}) }
}

/** A small unique image config (a random nonce), `extra` merged in. */
export function configBlob(extra: Record<string, unknown> = {}, mediaType: string = MediaTypes.ociConfig): Blob {
  return makeBlob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex'), ...extra }), { mediaType })
}

export interface Manifest {
  readonly body: Buffer
  readonly digest: string
  readonly size: number
  /** The type to send as Content-Type. */
  readonly mediaType: string
}

/** A descriptor of a blob or manifest: its own media type unless `mediaType` is given. */
export function descriptor(content: Blob | Manifest | { readonly digest: string; readonly size: number; readonly mediaType?: string }, mediaType?: string, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType: mediaType ?? content.mediaType ?? MediaTypes.ociLayer, digest: content.digest, size: content.size, ...extra }
}

/** A manifest from a JSON document (or exact bytes), with its digest. */
export function manifestOf(document: unknown, mediaType: string, algorithm: Algorithm = 'sha256'): Manifest {
  const body = Buffer.isBuffer(document) ? document : typeof document === 'string' ? Buffer.from(document) : jsonBytes(document)
  return { body, digest: digestOf(body, algorithm), size: body.length, mediaType }
}

/** An OCI image manifest from descriptors. */
export function ociManifest(options: {
  config: Descriptor
  layers: Descriptor[]
  subject?: Descriptor
  artifactType?: string
  annotations?: Record<string, string>
  omitMediaType?: boolean
}): Manifest {
  return manifestOf({
    schemaVersion: 2,
    ...(options.omitMediaType ? {} : { mediaType: MediaTypes.ociManifest }),
    ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
    config: options.config,
    layers: options.layers,
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
    ...(options.annotations !== undefined ? { annotations: options.annotations } : {}),
  }, MediaTypes.ociManifest)
}

/**
 * An image manifest of these blobs, each described with its own media type and annotations:
 * OCI unless `mediaType` says Docker; `subject` makes it a referrer; `extra` adds top-level fields.
 */
export function imageManifest(config: Blob, layers: readonly Blob[], options: {
  mediaType?: string
  subject?: { readonly digest: string; readonly size: number; readonly mediaType: string }
  artifactType?: string
  annotations?: Record<string, string>
  extra?: Record<string, unknown>
} = {}): Manifest {
  const mediaType = options.mediaType ?? MediaTypes.ociManifest
  const describe = (b: Blob): Descriptor => descriptor(b, undefined, b.annotations ? { annotations: { ...b.annotations } } : {})
  return manifestOf({
    schemaVersion: 2,
    mediaType,
    ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
    config: descriptor(config),
    layers: layers.map(describe),
    ...(options.subject !== undefined ? { subject: descriptor(options.subject) } : {}),
    ...(options.annotations !== undefined ? { annotations: options.annotations } : {}),
    ...options.extra,
  }, mediaType)
}

export function ociIndex(manifests: Descriptor[], options: { subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> } = {}): Manifest {
  return manifestOf({
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
    manifests,
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
    ...(options.annotations !== undefined ? { annotations: options.annotations } : {}),
  }, MediaTypes.ociIndex)
}

export function dockerManifest(config: Descriptor, layers: Descriptor[]): Manifest {
  return manifestOf({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config, layers }, MediaTypes.dockerManifest)
}

export function dockerManifestList(manifests: Descriptor[]): Manifest {
  return manifestOf({ schemaVersion: 2, mediaType: MediaTypes.dockerManifestList, manifests }, MediaTypes.dockerManifestList)
}

// ---------------------------------------------------------------------------------------------
// Content trees: what a client pushes and must pull back byte for byte

/** An image manifest (or artifact manifest) together with the blobs it refers to. */
export interface ImageContent {
  readonly kind: 'image'
  readonly manifest: Manifest
  readonly config: Blob
  readonly layers: readonly Blob[]
  readonly platform?: Platform
}

/** An index / manifest list with its children (images, or bare blobs for the old cache format). */
export interface IndexContent {
  readonly kind: 'index'
  readonly manifest: Manifest
  readonly children: readonly Content[]
  /** Blobs the index lists directly (BuildKit's older cache index lists layers and cache config). */
  readonly blobs: readonly Blob[]
}

export type Content = ImageContent | IndexContent

/** An image of `mediaType` (OCI or Docker manifest); `extra` adds top-level manifest fields (subject, artifactType, annotations). */
export function makeImage(mediaType: string, config: Blob, layers: readonly Blob[], options: { platform?: Platform; extra?: Record<string, unknown> } = {}): ImageContent {
  const { artifactType, ...rest } = options.extra ?? {}
  const manifest = imageManifest(config, layers, {
    mediaType, ...(artifactType !== undefined ? { artifactType: artifactType as string } : {}), extra: rest,
  })
  return { kind: 'image', manifest, config, layers, ...(options.platform ? { platform: options.platform } : {}) }
}

/** An index or manifest list of `mediaType` over these children (with their platforms) and bare blobs. */
export function makeIndex(mediaType: string, children: readonly Content[], options: { blobs?: readonly Blob[]; annotations?: Record<string, string>; childAnnotations?: ReadonlyMap<Content, Record<string, string>>; extra?: Record<string, unknown> } = {}): IndexContent {
  const entries: Descriptor[] = children.map((child) => descriptor(child.manifest, undefined, {
    ...(child.kind === 'image' && child.platform ? { platform: child.platform } : {}),
    ...(options.childAnnotations?.get(child) ? { annotations: options.childAnnotations.get(child) } : {}),
  }))
  for (const blob of options.blobs ?? []) entries.push(descriptor(blob, undefined, blob.annotations ? { annotations: { ...blob.annotations } } : {}))
  const body = { schemaVersion: 2, mediaType, manifests: entries, ...(options.annotations ? { annotations: options.annotations } : {}), ...options.extra }
  return { kind: 'index', manifest: manifestOf(body, mediaType), children, blobs: options.blobs ?? [] }
}

/** Every blob (not manifest) of a content tree, deduplicated by digest. */
export function allBlobs(content: Content): Blob[] {
  const seen = new Map<string, Blob>()
  const visit = (c: Content): void => {
    if (c.kind === 'image') for (const b of [c.config, ...c.layers]) seen.set(b.digest, b)
    else { for (const b of c.blobs) seen.set(b.digest, b); for (const child of c.children) visit(child) }
  }
  visit(content)
  return [...seen.values()]
}

/** Every manifest of a content tree, children before parents. */
export function allManifests(content: Content): Manifest[] {
  const out: Manifest[] = []
  const visit = (c: Content): void => {
    if (c.kind === 'index') for (const child of c.children) visit(child)
    if (!out.some((m) => m.digest === c.manifest.digest)) out.push(c.manifest)
  }
  visit(content)
  return out
}

// ---------------------------------------------------------------------------------------------
// Names and big bodies

let repoCounter = 0
/** A repository name unique to this process, under a readable prefix. */
export function uniqueRepo(prefix = 'test'): string {
  repoCounter++
  return `${prefix}/r${process.pid}-${repoCounter}-${randomBytes(3).toString('hex')}`
}

/** Pseudo-random bytes produced lazily in `chunkSize` pieces, hashed as they go, with optional pauses. */
export class SlowRandomStream extends Readable {
  readonly hash256: Hash
  private remaining: number
  private readonly chunkSize: number
  private readonly delayEvery: number
  private readonly delayMs: number
  private produced = 0
  private readonly seed: Buffer

  /** `hash`: a hash to feed instead of a fresh one, to hash several streams as one blob. */
  /** `seed`: the same seed (of at least chunkSize + 251 bytes) produces the same bytes again. */
  constructor(size: number, options: { chunkSize?: number; delayEvery?: number; delayMs?: number; hash?: Hash; seed?: Buffer } = {}) {
    super({ highWaterMark: options.chunkSize ?? 64 * 1024 })
    this.hash256 = options.hash ?? createHash('sha256')
    this.remaining = size
    this.chunkSize = options.chunkSize ?? 64 * 1024
    this.delayEvery = options.delayEvery ?? 16
    this.delayMs = options.delayMs ?? 1
    // One random block rotated per chunk: cheap to produce, never two equal chunks in a row.
    this.seed = options.seed ?? randomBytes(this.chunkSize + 251)
    if (this.seed.length < this.chunkSize + 251) throw new Error('seed too short')
  }

  override _read(): void {
    if (this.remaining === 0) { this.push(null); return }
    const n = Math.min(this.chunkSize, this.remaining)
    const offset = this.produced % 251
    const chunk = Buffer.from(this.seed.subarray(offset, offset + n))
    chunk.writeUInt32BE(this.produced & 0xffffffff, 0)
    this.produced++
    this.remaining -= n
    this.hash256.update(chunk)
    if (this.delayEvery > 0 && this.produced % this.delayEvery === 0) {
      setTimeout(() => this.push(chunk), this.delayMs)
    } else {
      this.push(chunk)
    }
  }

  /** The sha256 of everything produced (only when the hash is this stream's own). */
  digest(): string {
    return `sha256:${this.hash256.digest('hex')}`
  }
}

/** The bytes of a blob or manifest (for checks over both kinds of a content tree). */
export function bytesOf(content: Blob | Manifest): Buffer {
  return 'body' in content ? content.body : content.data
}
