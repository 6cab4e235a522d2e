// OCI/Docker content model, digests, and raw-HTTP push and verified pull ("what a fresh client
// would pull": every digest checked against the bytes received).
import { createHash } from 'node:crypto'
import { RegistryHttp, withQuery, type HttpResponse } from './http.js'

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  buildkitCacheConfig: 'application/vnd.buildkit.cacheconfig.v0',
  inToto: 'application/vnd.in-toto+json',
} as const

/** Accept header a multi-format client sends when resolving a reference. */
export const ACCEPT_ALL_MANIFESTS = [MediaType.dockerManifest, MediaType.dockerList, MediaType.ociManifest, MediaType.ociIndex, '*/*'].join(', ')

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

export function hexOf(digest: string): string {
  const i = digest.indexOf(':')
  return i === -1 ? digest : digest.slice(i + 1)
}

export interface Platform {
  readonly architecture: string
  readonly os: string
  readonly variant?: string
}

export interface Descriptor {
  readonly mediaType: string
  readonly digest: string
  readonly size: number
  readonly platform?: Platform
  readonly annotations?: Readonly<Record<string, string>>
  readonly artifactType?: string
}

export interface Blob extends Descriptor {
  readonly data: Buffer
}

export function blobOf(mediaType: string, data: Buffer | string): Blob {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data)
  return { mediaType, digest: sha256(bytes), size: bytes.length, data: bytes }
}

export function descriptorOf(blob: Descriptor, extra: Partial<Descriptor> = {}): Descriptor {
  const { mediaType, digest, size } = blob
  return { mediaType, digest, size, ...extra }
}

/** An image manifest (or artifact manifest) together with the blobs it refers to. */
export interface ImageContent {
  readonly kind: 'image'
  readonly manifest: Blob
  readonly config: Blob
  readonly layers: readonly Blob[]
  readonly platform?: Platform
}

/** An index / manifest list with its children (images, or bare blobs for the old cache format). */
export interface IndexContent {
  readonly kind: 'index'
  readonly manifest: Blob
  readonly children: readonly Content[]
  /** Blobs the index lists directly (BuildKit's older cache index lists layers and cache config). */
  readonly blobs: readonly Blob[]
}

export type Content = ImageContent | IndexContent

/** JSON with stable key order as written (no re-serialisation surprises): the bytes are the content. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value))
}

export function imageManifest(mediaType: string, config: Blob, layers: readonly Blob[], extra: Record<string, unknown> = {}): Blob {
  const body = {
    schemaVersion: 2,
    mediaType,
    ...('artifactType' in extra ? { artifactType: extra.artifactType } : {}),
    config: descriptorOf(config),
    layers: layers.map((l) => descriptorOf(l, l.annotations ? { annotations: l.annotations } : {})),
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'artifactType')),
  }
  return blobOf(mediaType, jsonBytes(body))
}

export function makeImage(mediaType: string, config: Blob, layers: readonly Blob[], options: { platform?: Platform; extra?: Record<string, unknown> } = {}): ImageContent {
  return { kind: 'image', manifest: imageManifest(mediaType, config, layers, options.extra), config, layers, platform: options.platform }
}

export function makeIndex(mediaType: string, children: readonly Content[], options: { blobs?: readonly Blob[]; annotations?: Record<string, string>; childAnnotations?: ReadonlyMap<Content, Record<string, string>>; extra?: Record<string, unknown> } = {}): IndexContent {
  const entries: Descriptor[] = children.map((child) => descriptorOf(child.manifest, {
    ...(child.kind === 'image' && child.platform ? { platform: child.platform } : {}),
    ...(options.childAnnotations?.get(child) ? { annotations: options.childAnnotations.get(child) } : {}),
  }))
  for (const blob of options.blobs ?? []) entries.push(descriptorOf(blob, blob.annotations ? { annotations: blob.annotations } : {}))
  const body = { schemaVersion: 2, mediaType, manifests: entries, ...(options.annotations ? { annotations: options.annotations } : {}), ...options.extra }
  return { kind: 'index', manifest: blobOf(mediaType, jsonBytes(body)), children, blobs: options.blobs ?? [] }
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
export function allManifests(content: Content): Blob[] {
  const out: Blob[] = []
  const visit = (c: Content): void => {
    if (c.kind === 'index') for (const child of c.children) visit(child)
    if (!out.some((m) => m.digest === c.manifest.digest)) out.push(c.manifest)
  }
  visit(content)
  return out
}

export class RegistryError extends Error {
  readonly response: HttpResponse
  constructor(what: string, response: HttpResponse) {
    super(`${what}: ${response.describe()}`)
    this.name = 'RegistryError'
    this.response = response
  }
}

function expectStatus(what: string, res: HttpResponse, ...statuses: number[]): HttpResponse {
  if (!statuses.includes(res.status)) throw new RegistryError(what, res)
  return res
}

/** Raw-HTTP registry operations shared by the replay, flow and differential scenarios. */
export class Registry extends RegistryHttp {
  /** POST then a single PUT of the whole blob (the way BuildKit and most clients push). */
  async pushBlobMonolithic(repo: string, data: Buffer): Promise<HttpResponse> {
    const digest = sha256(data)
    const start = expectStatus('start upload', await this.send('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'Content-Length': '0' } }), 202)
    const location = start.header('location')
    if (!location) throw new RegistryError('start upload without Location', start)
    return expectStatus(`PUT blob ${digest}`, await this.send('PUT', withQuery(location, { digest }), {
      headers: { 'Content-Type': 'application/octet-stream' }, body: data, timeoutMs: 300_000,
    }), 201)
  }

  /** POST, PATCH in chunks of chunkSize, closing PUT without a body. */
  async pushBlobChunked(repo: string, data: Buffer, chunkSize: number): Promise<HttpResponse> {
    const digest = sha256(data)
    const start = expectStatus('start upload', await this.send('POST', `/v2/${repo}/blobs/uploads/`, { headers: { 'Content-Length': '0' } }), 202)
    let location = start.header('location')
    if (!location) throw new RegistryError('start upload without Location', start)
    for (let offset = 0; offset < data.length; offset += chunkSize) {
      const chunk = data.subarray(offset, Math.min(data.length, offset + chunkSize))
      const patched = expectStatus('PATCH chunk', await this.send('PATCH', location, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.length - 1}` }, body: chunk,
      }), 202)
      location = patched.header('location') ?? location
    }
    return expectStatus(`close upload ${digest}`, await this.send('PUT', withQuery(location, { digest }), { headers: { 'Content-Length': '0' } }), 201)
  }

  /** HEAD first, upload only when missing (BuildKit's HEAD-before-PUT). Returns whether it uploaded. */
  async ensureBlob(repo: string, blob: Blob): Promise<boolean> {
    const head = await this.head(`/v2/${repo}/blobs/${blob.digest}`)
    if (head.status === 200) return false
    expectStatus(`HEAD blob ${blob.digest}`, head, 404)
    await this.pushBlobMonolithic(repo, blob.data)
    return true
  }

  async putManifest(repo: string, reference: string, manifest: Blob, extraHeaders: Record<string, string> = {}): Promise<HttpResponse> {
    return expectStatus(`PUT manifest ${repo}:${reference}`, await this.send('PUT', `/v2/${repo}/manifests/${reference}`, {
      headers: { 'Content-Type': manifest.mediaType, ...extraHeaders }, body: manifest.data,
    }), 201)
  }

  /** Pushes a whole content tree: blobs, child manifests by digest, then the top manifest by tag. */
  async pushContent(repo: string, tag: string, content: Content): Promise<void> {
    for (const blob of allBlobs(content)) await this.ensureBlob(repo, blob)
    const manifests = allManifests(content)
    for (const m of manifests.slice(0, -1)) await this.putManifest(repo, m.digest, m)
    await this.putManifest(repo, tag, content.manifest)
  }

  async tags(repo: string): Promise<string[]> {
    const res = expectStatus(`tags of ${repo}`, await this.get(`/v2/${repo}/tags/list`), 200)
    return res.json<{ tags?: string[] | null }>().tags ?? []
  }

  /**
   * Pulls a reference as a fresh client would and checks every digest: the manifest body against
   * Docker-Content-Digest (and the requested digest), every child manifest and every blob against
   * its descriptor. Returns the manifests and blobs read, keyed by digest.
   */
  async pullVerified(repo: string, reference: string, accept = ACCEPT_ALL_MANIFESTS): Promise<PulledTree> {
    const tree: PulledTree = { digest: '', mediaType: '', manifests: new Map(), blobs: new Map() }
    const fetchManifest = async (ref: string, expectedDigest?: string): Promise<{ digest: string; mediaType: string; body: Buffer }> => {
      const res = expectStatus(`GET manifest ${repo}@${ref}`, await this.get(`/v2/${repo}/manifests/${ref}`, { Accept: accept }), 200)
      const digest = sha256(res.body)
      const header = res.header('docker-content-digest')
      if (header !== digest) throw new RegistryError(`Docker-Content-Digest ${header} != sha256 of body ${digest}`, res)
      if (expectedDigest !== undefined && digest !== expectedDigest) throw new RegistryError(`manifest digest ${digest} != requested ${expectedDigest}`, res)
      const parsed = JSON.parse(res.body.toString('utf8')) as { mediaType?: string }
      const contentType = (res.header('content-type') ?? '').split(';')[0]!.trim()
      if (parsed.mediaType !== undefined && parsed.mediaType !== contentType) throw new RegistryError(`Content-Type ${contentType} != mediaType ${parsed.mediaType}`, res)
      tree.manifests.set(digest, { mediaType: contentType, body: res.body })
      return { digest, mediaType: contentType, body: res.body }
    }
    const fetchBlob = async (d: Descriptor): Promise<void> => {
      if (tree.blobs.has(d.digest)) return
      const res = expectStatus(`GET blob ${repo}@${d.digest}`, await this.send('GET', `/v2/${repo}/blobs/${d.digest}`, { timeoutMs: 300_000 }), 200)
      if (sha256(res.body) !== d.digest) throw new Error(`blob ${d.digest} of ${repo}: body hashes to ${sha256(res.body)}`)
      if (res.body.length !== d.size) throw new Error(`blob ${d.digest} of ${repo}: ${res.body.length} bytes, descriptor says ${d.size}`)
      tree.blobs.set(d.digest, res.body)
    }
    const walk = async (ref: string, expectedDigest?: string): Promise<{ digest: string; mediaType: string }> => {
      const m = await fetchManifest(ref, expectedDigest)
      const parsed = JSON.parse(m.body.toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] }
      if (Array.isArray(parsed.manifests)) {
        for (const child of parsed.manifests) {
          if (isManifestMediaType(child.mediaType)) await walk(child.digest, child.digest)
          else await fetchBlob(child)
        }
      } else {
        if (parsed.config) await fetchBlob(parsed.config)
        for (const layer of parsed.layers ?? []) await fetchBlob(layer)
      }
      return m
    }
    const top = await walk(reference, reference.includes(':') ? reference : undefined)
    tree.digest = top.digest
    tree.mediaType = top.mediaType
    return tree
  }
}

export interface PulledTree {
  digest: string
  mediaType: string
  readonly manifests: Map<string, { mediaType: string; body: Buffer }>
  readonly blobs: Map<string, Buffer>
}

export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifest || mediaType === MediaType.dockerList
}

/** Checks that a pulled tree holds exactly the bytes of a pushed content tree. */
export function sameContent(pulled: PulledTree, content: Content): string[] {
  const problems: string[] = []
  if (pulled.digest !== content.manifest.digest) problems.push(`top digest ${pulled.digest} != ${content.manifest.digest}`)
  for (const m of allManifests(content)) {
    const got = pulled.manifests.get(m.digest)
    if (!got) problems.push(`manifest ${m.digest} not pulled`)
    else if (!got.body.equals(m.data)) problems.push(`manifest ${m.digest} bytes differ`)
    else if (got.mediaType !== m.mediaType) problems.push(`manifest ${m.digest} served as ${got.mediaType}, pushed as ${m.mediaType}`)
  }
  for (const b of allBlobs(content)) {
    const got = pulled.blobs.get(b.digest)
    if (!got) problems.push(`blob ${b.digest} not pulled`)
    else if (!got.equals(b.data)) problems.push(`blob ${b.digest} bytes differ`)
  }
  return problems
}
