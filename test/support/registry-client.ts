import type { Agent, OutgoingHttpHeaders } from 'node:http'
import {
  ACCEPT_ALL_MANIFESTS, allBlobs, allManifests, configBlob, descriptor, digestOf, isManifestMediaType, makeBlob, MediaTypes, ociManifest,
  type Blob, type Content, type Descriptor, type Manifest,
} from './content.js'
import { expectStatus, request, ResponseError, withQuery, type HttpResponse, type RequestBody, type RequestOptions } from './http.js'

/**
 * A registry at `base`, with the requests and client flows tests and scenarios need. Single
 * requests (`getBlob`, `putManifest`, `patch`, ...) answer the response whatever its status; flows
 * (`push*`, `startUpload`, `getJson`, listings, `gc`, `du`) throw a ResponseError on an unexpected one.
 * Every response is counted by status, and 5xx answers are kept in `serverErrorResponses`.
 */
export class RegistryClient {
  readonly base: string
  /** Responses seen, by status. */
  readonly statuses = new Map<number, number>()
  /** One line per 5xx answer: request, status and the start of the body. */
  readonly serverErrorResponses: string[] = []
  private readonly timeoutMs: number | undefined
  private readonly agent: Agent | undefined

  /** `timeoutMs`: the default limit on every request (none when absent); `agent`: for HTTPS, one that trusts the server. */
  constructor(base: string, options: { timeoutMs?: number; agent?: Agent } = {}) {
    this.base = base.replace(/\/+$/, '')
    this.timeoutMs = options.timeoutMs
    this.agent = options.agent
  }

  /** A path or a Location header (relative or absolute) as an absolute URL. */
  resolve(location: string): string {
    return new URL(location, `${this.base}/`).toString()
  }

  /** One request; `path` is sent verbatim, or is an absolute URL (a Location the server gave). */
  async request(path: string, options: RequestOptions = {}): Promise<HttpResponse> {
    const res = await request(this.base, path, {
      ...options,
      ...(this.timeoutMs !== undefined && options.timeoutMs === undefined ? { timeoutMs: this.timeoutMs } : {}),
      ...(this.agent !== undefined && options.agent === undefined ? { agent: this.agent } : {}),
    })
    this.statuses.set(res.status, (this.statuses.get(res.status) ?? 0) + 1)
    if (res.status >= 500) this.serverErrorResponses.push(`${res.method} ${path} → ${res.status} ${res.text().slice(0, 300)}`)
    return res
  }

  get(path: string, headers: OutgoingHttpHeaders = {}): Promise<HttpResponse> {
    return this.request(path, { headers })
  }

  head(path: string, headers: OutgoingHttpHeaders = {}): Promise<HttpResponse> {
    return this.request(path, { method: 'HEAD', headers })
  }

  delete(path: string, headers: OutgoingHttpHeaders = {}): Promise<HttpResponse> {
    return this.request(path, { method: 'DELETE', headers })
  }

  async getJson<T = unknown>(path: string, headers: OutgoingHttpHeaders = {}): Promise<T> {
    return expectStatus(`GET ${path}`, await this.get(path, headers), 200).json<T>()
  }

  // ---- blobs -----------------------------------------------------------------------------------

  /** POST ?digest= with the whole blob, whatever the answer. */
  postBlob(repo: string, blob: Blob): Promise<HttpResponse> {
    return this.request(`/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
      method: 'POST', body: blob.data, headers: { 'content-type': 'application/octet-stream' },
    })
  }

  /** POST ?digest= with the whole blob (one request); throws unless 201. */
  async pushBlob(repo: string, blob: Blob | Buffer | string): Promise<Blob> {
    const b = Buffer.isBuffer(blob) || typeof blob === 'string' ? makeBlob(blob) : blob
    expectStatus(`push blob to ${repo}`, await this.postBlob(repo, b), 201)
    return b
  }

  /** POST, then a single PUT ?digest= with the whole blob (the way BuildKit and most clients push); throws unless 201. */
  async pushBlobMonolithic(repo: string, blob: Blob | Buffer | string): Promise<Blob> {
    const b = Buffer.isBuffer(blob) || typeof blob === 'string' ? makeBlob(blob) : blob
    const { location } = await this.startUpload(repo)
    expectStatus(`PUT blob ${b.digest}`, await this.putUpload(location, b.digest, b.data, {}, 300_000), 201)
    return b
  }

  /** Chunked upload: POST, one PATCH per chunk with Content-Range, PUT ?digest= without body; throws on any unexpected answer. */
  async pushBlobChunked(repo: string, blob: Blob | Buffer | string, chunkSize: number): Promise<Blob> {
    const b = Buffer.isBuffer(blob) || typeof blob === 'string' ? makeBlob(blob) : blob
    let { location } = await this.startUpload(repo)
    for (let offset = 0; offset < b.size; offset += chunkSize) {
      const chunk = b.data.subarray(offset, Math.min(b.size, offset + chunkSize))
      const res = expectStatus('PATCH', await this.patch(location, chunk, { contentRange: `${offset}-${offset + chunk.length - 1}` }), 202)
      location = res.header('location') ?? location
    }
    expectStatus(`close upload ${b.digest}`, await this.putUpload(location, b.digest), 201)
    return b
  }

  /** HEAD first, upload only when missing (BuildKit's HEAD-before-PUT). Resolves with whether it uploaded. */
  async ensureBlob(repo: string, blob: Blob): Promise<boolean> {
    const head = await this.headBlob(repo, blob.digest)
    if (head.status === 200) return false
    expectStatus(`HEAD blob ${blob.digest}`, head, 404)
    await this.pushBlobMonolithic(repo, blob)
    return true
  }

  headBlob(repo: string, digest: string): Promise<HttpResponse> {
    return this.head(`/v2/${repo}/blobs/${digest}`)
  }

  getBlob(repo: string, digest: string, headers: OutgoingHttpHeaders = {}): Promise<HttpResponse> {
    return this.get(`/v2/${repo}/blobs/${digest}`, headers)
  }

  deleteBlob(repo: string, digest: string): Promise<HttpResponse> {
    return this.delete(`/v2/${repo}/blobs/${digest}`)
  }

  /** GET the blob and check its bytes hash to the digest. */
  async blobIntact(repo: string, digest: string): Promise<boolean> {
    const res = await this.getBlob(repo, digest)
    return res.status === 200 && digestOf(res.body, digest.startsWith('sha512:') ? 'sha512' : 'sha256') === digest
  }

  /** POST ?mount=&from=, whatever the answer (201 mounted, 202 a session instead). */
  mountBlob(repo: string, digest: string, from: string): Promise<HttpResponse> {
    return this.request(`/v2/${repo}/blobs/uploads/?mount=${digest}&from=${from}`, { method: 'POST' })
  }

  // ---- upload sessions -------------------------------------------------------------------------

  /** POST: opens a session; resolves with its Location and the raw response; throws unless 202. */
  async startUpload(repo: string): Promise<{ location: string; uuid: string; response: HttpResponse }> {
    const res = expectStatus(`start upload in ${repo}`, await this.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' }), 202)
    const location = res.header('location')
    if (location === undefined) throw new ResponseError('start upload without Location', res)
    return { location, uuid: res.header('docker-upload-uuid')!, response: res }
  }

  patch(location: string, chunk: RequestBody, options: { contentRange?: string; headers?: OutgoingHttpHeaders } = {}): Promise<HttpResponse> {
    return this.request(location, {
      method: 'PATCH', body: chunk,
      headers: {
        'content-type': 'application/octet-stream',
        ...(options.contentRange !== undefined ? { 'content-range': options.contentRange } : {}),
        ...options.headers,
      },
    })
  }

  putUpload(location: string, digest: string, chunk?: RequestBody, headers: OutgoingHttpHeaders = {}, timeoutMs?: number): Promise<HttpResponse> {
    const base: OutgoingHttpHeaders = chunk !== undefined ? { 'content-type': 'application/octet-stream' } : { 'content-length': 0 }
    return this.request(withQuery(location, { digest }), {
      method: 'PUT', headers: { ...base, ...headers }, ...(chunk !== undefined ? { body: chunk } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    })
  }

  // ---- manifests -------------------------------------------------------------------------------

  /** PUT a manifest, whatever the answer; Content-Type is its media type unless given (null: none). */
  putManifest(repo: string, reference: string, manifest: Manifest, options: { contentType?: string | null; query?: string; headers?: OutgoingHttpHeaders } = {}): Promise<HttpResponse> {
    const contentType = options.contentType === undefined ? manifest.mediaType : options.contentType
    return this.request(`/v2/${repo}/manifests/${reference}${options.query ?? ''}`, {
      method: 'PUT', body: manifest.body, headers: { ...(contentType !== null ? { 'content-type': contentType } : {}), ...options.headers },
    })
  }

  /** PUT a manifest; throws unless 201. */
  async pushManifest(repo: string, reference: string, manifest: Manifest, headers: OutgoingHttpHeaders = {}): Promise<Manifest> {
    expectStatus(`PUT manifest ${repo}:${reference}`, await this.putManifest(repo, reference, manifest, { headers }), 201)
    return manifest
  }

  /** GET a manifest accepting OCI manifests and indexes (or `accept`), whatever the answer. */
  getManifest(repo: string, reference: string, accept = `${MediaTypes.ociManifest}, ${MediaTypes.ociIndex}`): Promise<HttpResponse> {
    return this.get(`/v2/${repo}/manifests/${reference}`, { accept })
  }

  deleteManifest(repo: string, reference: string): Promise<HttpResponse> {
    return this.delete(`/v2/${repo}/manifests/${reference}`)
  }

  /**
   * Pushes an image (config, layers, OCI manifest), tagged `tag` or else by digest. Without
   * `config` and `layers`, a small random one: a unique config and `layers` random layers of `layerSize`.
   */
  async pushImage(repo: string, options: { tag?: string; config?: Blob; layers?: number | readonly Blob[]; layerSize?: number } = {}): Promise<{ config: Blob; layers: Blob[]; manifest: Manifest }> {
    const config = options.config ?? configBlob()
    const layers = typeof options.layers === 'object'
      ? [...options.layers]
      : Array.from({ length: options.layers ?? 1 }, () => makeBlob(options.layerSize ?? 1024))
    for (const b of [config, ...layers]) await this.pushBlob(repo, b)
    const manifest = ociManifest({ config: descriptor(config), layers: layers.map((l) => descriptor(l)) })
    await this.pushManifest(repo, options.tag ?? manifest.digest, manifest)
    return { config, layers, manifest }
  }

  /** Pushes a whole content tree: missing blobs, child manifests by digest, then the top manifest by tag. */
  async pushContent(repo: string, tag: string, content: Content): Promise<void> {
    for (const blob of allBlobs(content)) await this.ensureBlob(repo, blob)
    const manifests = allManifests(content)
    for (const m of manifests.slice(0, -1)) await this.pushManifest(repo, m.digest, m)
    await this.pushManifest(repo, tag, content.manifest)
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
      const digest = digestOf(res.body)
      const header = res.header('docker-content-digest')
      if (header !== digest) throw new ResponseError(`Docker-Content-Digest ${header} != sha256 of body ${digest}`, res)
      if (expectedDigest !== undefined && digest !== expectedDigest) throw new ResponseError(`manifest digest ${digest} != requested ${expectedDigest}`, res)
      const parsed = JSON.parse(res.body.toString('utf8')) as { mediaType?: string }
      const contentType = (res.header('content-type') ?? '').split(';')[0]!.trim()
      if (parsed.mediaType !== undefined && parsed.mediaType !== contentType) throw new ResponseError(`Content-Type ${contentType} != mediaType ${parsed.mediaType}`, res)
      tree.manifests.set(digest, { mediaType: contentType, body: res.body })
      return { digest, mediaType: contentType, body: res.body }
    }
    const fetchBlob = async (d: Descriptor): Promise<void> => {
      if (tree.blobs.has(d.digest)) return
      const res = expectStatus(`GET blob ${repo}@${d.digest}`, await this.request(`/v2/${repo}/blobs/${d.digest}`, { timeoutMs: 300_000 }), 200)
      if (digestOf(res.body) !== d.digest) throw new Error(`blob ${d.digest} of ${repo}: body hashes to ${digestOf(res.body)}`)
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

  // ---- listings --------------------------------------------------------------------------------

  /** The tags of a repository ([] when it is unknown); throws on any other answer than 200. */
  async tags(repo: string): Promise<string[]> {
    const res = await this.get(`/v2/${repo}/tags/list?n=10000`)
    if (res.status === 404) return []
    return expectStatus(`tags of ${repo}`, res, 200).json<{ tags?: string[] | null }>().tags ?? []
  }

  async catalog(): Promise<string[]> {
    return (await this.getJson<{ repositories: string[] }>('/v2/_catalog?n=10000')).repositories
  }

  /** Digests of the referrers of a manifest. */
  async referrers(repo: string, digest: string): Promise<string[]> {
    return (await this.getJson<{ manifests: Array<{ digest: string }> }>(`/v2/${repo}/referrers/${digest}`)).manifests.map((m) => m.digest)
  }

  // ---- Wharf's admin API -----------------------------------------------------------------------

  /** POST /_wharf/v1/gc, whatever the answer. */
  gcRaw(dryRun = false): Promise<HttpResponse> {
    return this.request(`/_wharf/v1/gc${dryRun ? '?dryRun=true' : ''}`, { method: 'POST' })
  }

  /** A collection now (or a dry run); throws unless 200. */
  async gc(dryRun = false): Promise<GcReport> {
    return expectStatus('gc', await this.gcRaw(dryRun), 200).json<GcReport>()
  }

  async du(tags = false): Promise<DiskUsage> {
    return this.getJson<DiskUsage>(`/_wharf/v1/du${tags ? '?tags=true' : ''}`)
  }
}

export interface PulledTree {
  digest: string
  mediaType: string
  readonly manifests: Map<string, { mediaType: string; body: Buffer }>
  readonly blobs: Map<string, Buffer>
}

/** What differs between a pulled tree and the content tree pushed (nothing when []). */
export function sameContent(pulled: PulledTree, content: Content): string[] {
  const problems: string[] = []
  if (pulled.digest !== content.manifest.digest) problems.push(`top digest ${pulled.digest} != ${content.manifest.digest}`)
  for (const m of allManifests(content)) {
    const got = pulled.manifests.get(m.digest)
    if (!got) problems.push(`manifest ${m.digest} not pulled`)
    else if (!got.body.equals(m.body)) problems.push(`manifest ${m.digest} bytes differ`)
    else if (got.mediaType !== m.mediaType) problems.push(`manifest ${m.digest} served as ${got.mediaType}, pushed as ${m.mediaType}`)
  }
  for (const b of allBlobs(content)) {
    const got = pulled.blobs.get(b.digest)
    if (!got) problems.push(`blob ${b.digest} not pulled`)
    else if (!got.equals(b.data)) problems.push(`blob ${b.digest} bytes differ`)
  }
  return problems
}

export interface GcReport {
  dryRun: boolean
  startedAt: string
  durationMs: number
  tagsRemoved: Array<{ repo: string; tag: string; digest: string }>
  manifestsRemoved: Array<{ repo: string; digest: string }>
  repositoriesRemoved: string[]
  linksRemoved: number
  blobsRemoved: Array<{ digest: string; size: number }>
  bytesFreed: number
  uploadsPurged: number
  orphanFilesRemoved: Array<{ digest: string; size: number }>
  /** What the grace period kept (null when not measured). */
  keptByGrace: { graceSeconds: number; manifests: number; blobs: number; bytes: number } | null
}

export interface DiskUsage {
  blobs: { count: number; bytes: number }
  manifests: { count: number; bytes: number }
  sharedBytes: number
  repositories: Array<{ name: string; logicalBytes: number; exclusiveBytes: number; tags?: Array<{ tag: string; digest: string; bytes: number }> }>
  reclaimableBytes: number | null
}

/** What a report says was (or would be) removed: everything but the timings and the dry-run flag. */
export function removalsOf(r: GcReport): Omit<GcReport, 'dryRun' | 'startedAt' | 'durationMs'> {
  const { dryRun: _d, startedAt: _s, durationMs: _m, ...rest } = r
  delete (rest as { phases?: unknown }).phases
  return rest
}

/** The registry client with headers sent on every request (credentials: `{ headers: { authorization } }`). */
export class CredentialedClient extends RegistryClient {
  private readonly defaultHeaders: OutgoingHttpHeaders
  constructor(base: string, options: ConstructorParameters<typeof RegistryClient>[1] & { headers?: OutgoingHttpHeaders }) {
    const { headers, ...rest } = options ?? {}
    super(base, rest)
    this.defaultHeaders = headers ?? {}
  }

  override request(path: string, options: RequestOptions = {}): Promise<HttpResponse> {
    return super.request(path, { ...options, headers: { ...this.defaultHeaders, ...options.headers } })
  }
}
