import { createHash, randomBytes, type Hash } from 'node:crypto'
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * A small, deliberately low-level client for the tests: node:http so that the path is sent exactly
 * as written (no `..` or `%2e` normalisation), headers are precise, repeated response headers stay
 * separate (rawHeaders) and bodies can stream.
 */

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
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

export type Algorithm = 'sha256' | 'sha512'

export function digestOf(data: Uint8Array | string, algorithm: Algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`
}

export function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1)
}

export interface HttpResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  readonly body: Buffer
  /** Every value of a header, in order, even when repeated (node joins or drops repeats in `headers`). */
  all(name: string): string[]
  header(name: string): string | undefined
  json<T = unknown>(): T
  text(): string
}

export type RequestBody = Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array>

export interface RequestOptions {
  readonly method?: string
  readonly headers?: OutgoingHttpHeaders
  readonly body?: RequestBody
  /** A connection of its own, closed after the exchange (for responses that close the connection). */
  readonly fresh?: boolean
  /** Response body discarded while counted and hashed instead of buffered (large downloads). */
  readonly hashBody?: Algorithm
}

export interface HashedResponse extends HttpResponse {
  readonly bodyDigest?: string
  readonly bodyLength: number
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })

function makeResponse(res: http.IncomingMessage, body: Buffer, extra: { bodyDigest?: string; bodyLength: number }): HashedResponse {
  const rawHeaders = res.rawHeaders
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    rawHeaders,
    body,
    ...extra,
    all(name: string): string[] {
      const out: string[] = []
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        if (rawHeaders[i]!.toLowerCase() === name.toLowerCase()) out.push(rawHeaders[i + 1]!)
      }
      return out
    },
    header(name: string): string | undefined {
      const value = res.headers[name.toLowerCase()]
      return Array.isArray(value) ? value.join(', ') : value
    },
    json<T>(): T { return JSON.parse(body.toString('utf8')) as T },
    text(): string { return body.toString('utf8') },
  }
}

/** One HTTP exchange against `base` (e.g. http://127.0.0.1:1234) with `path` sent verbatim. */
export function request(base: string, path: string, options: RequestOptions = {}): Promise<HashedResponse> {
  const url = new URL(base)
  const headers: OutgoingHttpHeaders = { ...options.headers }
  let body = options.body
  if (typeof body === 'string') body = Buffer.from(body)
  if (body instanceof Uint8Array && !hasHeader(headers, 'content-length') && !hasHeader(headers, 'transfer-encoding')) {
    headers['content-length'] = body.byteLength
  }
  return new Promise<HashedResponse>((resolve, reject) => {
    let responded = false
    const req = http.request({
      host: url.hostname, port: url.port, method: options.method ?? 'GET', path, headers,
      agent: options.fresh ? false : agent,
    }, (res) => {
      responded = true
      const chunks: Buffer[] = []
      const hash = options.hashBody ? createHash(options.hashBody) : undefined
      let length = 0
      res.on('data', (chunk: Buffer) => {
        length += chunk.length
        if (hash) hash.update(chunk)
        else chunks.push(chunk)
      })
      res.on('end', () => resolve(makeResponse(res, Buffer.concat(chunks), {
        bodyLength: length, ...(hash ? { bodyDigest: `${options.hashBody}:${hash.digest('hex')}` } : {}),
      })))
      res.on('error', reject)
    })
    req.on('error', (err) => {
      // The server may answer and close before the whole body went out (e.g. 413, 416): the
      // response still counts when it arrives.
      if (!responded) setTimeout(() => { if (!responded) reject(err) }, 200)
    })
    if (body === undefined) req.end()
    else if (body instanceof Uint8Array) req.end(body)
    else {
      const source = body instanceof Readable ? body : Readable.from(body)
      source.on('error', (err) => req.destroy(err))
      source.pipe(req)
    }
  })
}

function hasHeader(headers: OutgoingHttpHeaders, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name)
}

/**
 * Sends only the request head (announcing a body with the given headers) and resolves with the
 * response the server gives without reading any body; the connection is then destroyed. For
 * refusals decided on headers alone (416 out of order, 413 declared size), with no race between
 * the refusal and the body.
 */
export function requestHeadOnly(base: string, path: string, options: { method: string; headers: OutgoingHttpHeaders; timeoutMs?: number }): Promise<HttpResponse> {
  const url = new URL(base)
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: options.method, path, headers: options.headers, agent: false }, (res) => {
      clearTimeout(timer)
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        resolve(makeResponse(res, Buffer.concat(chunks), { bodyLength: 0 }))
        req.destroy()
      })
      res.on('error', reject)
    })
    const timer = setTimeout(() => { req.destroy(); reject(new Error('no response to the request head')) }, options.timeoutMs ?? 5000)
    req.on('error', () => { /* destroyed after the response */ })
    req.flushHeaders()
  })
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

export interface Blob {
  readonly data: Buffer
  readonly digest: string
  readonly size: number
}

export function makeBlob(data: Buffer | string | number, algorithm: Algorithm = 'sha256'): Blob {
  const bytes = typeof data === 'number' ? randomBytes(data) : Buffer.from(data)
  return { data: bytes, digest: digestOf(bytes, algorithm), size: bytes.length }
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  artifactType?: string
  annotations?: Record<string, string>
  urls?: string[]
  platform?: { architecture: string; os: string }
}

export function descriptor(blob: Blob | Manifest, mediaType?: string, extra: Partial<Descriptor> = {}): Descriptor {
  const type = mediaType ?? ('mediaType' in blob ? blob.mediaType : MediaTypes.ociLayer)
  return { mediaType: type, digest: blob.digest, size: blob.size, ...extra }
}

export interface Manifest {
  readonly body: Buffer
  readonly digest: string
  readonly size: number
  /** The type to send as Content-Type. */
  readonly mediaType: string
}

/** A manifest from a JSON document (or exact bytes), with its digest. */
export function manifestOf(document: unknown, mediaType: string, algorithm: Algorithm = 'sha256'): Manifest {
  const body = Buffer.isBuffer(document) ? document : typeof document === 'string' ? Buffer.from(document) : Buffer.from(JSON.stringify(document))
  return { body, digest: digestOf(body, algorithm), size: body.length, mediaType }
}

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

let repoCounter = 0
/** A repository name unique to this process, under a readable prefix. */
export function uniqueRepo(prefix = 'test'): string {
  repoCounter++
  return `${prefix}/r${process.pid}-${repoCounter}-${randomBytes(3).toString('hex')}`
}

export class ResponseError extends Error {
  readonly response: HttpResponse
  constructor(what: string, response: HttpResponse) {
    super(`${what}: unexpected ${response.status} ${response.text().slice(0, 500)}`)
    this.response = response
  }
}

function expectStatus(what: string, res: HashedResponse, ...statuses: number[]): HashedResponse {
  if (!statuses.includes(res.status)) throw new ResponseError(what, res)
  return res
}

/** The error codes of a distribution-spec error body, or [] when the body is not one. */
export function errorCodes(res: HttpResponse): string[] {
  try {
    const body = res.json<{ errors?: Array<{ code?: unknown }> }>()
    return Array.isArray(body.errors) ? body.errors.map((e) => String(e.code)) : []
  } catch {
    return []
  }
}

export function withQuery(location: string, params: Record<string, string>): string {
  const q = new URLSearchParams(params).toString()
  return location.includes('?') ? `${location}&${q}` : `${location}?${q}`
}

/** A registry at `base`, with the usual client flows. Every flow throws on an unexpected status. */
export class RegistryClient {
  readonly base: string

  constructor(base: string) {
    this.base = base
  }

  request(path: string, options: RequestOptions = {}): Promise<HashedResponse> {
    return request(this.base, path, options)
  }

  get(path: string, headers: OutgoingHttpHeaders = {}): Promise<HashedResponse> {
    return this.request(path, { headers })
  }

  head(path: string, headers: OutgoingHttpHeaders = {}): Promise<HashedResponse> {
    return this.request(path, { method: 'HEAD', headers })
  }

  delete(path: string): Promise<HashedResponse> {
    return this.request(path, { method: 'DELETE' })
  }

  async getJson<T = unknown>(path: string, headers: OutgoingHttpHeaders = {}): Promise<T> {
    return expectStatus(`GET ${path}`, await this.get(path, headers), 200).json<T>()
  }

  /** POST ?digest= with the whole blob. */
  async pushBlob(repo: string, blob: Blob | Buffer | string): Promise<Blob> {
    const b = Buffer.isBuffer(blob) || typeof blob === 'string' ? makeBlob(blob) : blob
    const res = await this.request(`/v2/${repo}/blobs/uploads/?digest=${b.digest}`, {
      method: 'POST', body: b.data, headers: { 'content-type': 'application/octet-stream' },
    })
    expectStatus(`push blob to ${repo}`, res, 201)
    return b
  }

  /** POST: opens a session; resolves with its Location (a path) and the raw response. */
  async startUpload(repo: string): Promise<{ location: string; uuid: string; response: HttpResponse }> {
    const res = expectStatus(`start upload in ${repo}`, await this.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' }), 202)
    return { location: res.header('location')!, uuid: res.header('docker-upload-uuid')!, response: res }
  }

  patch(location: string, chunk: RequestBody, options: { contentRange?: string; headers?: OutgoingHttpHeaders } = {}): Promise<HashedResponse> {
    return this.request(location, {
      method: 'PATCH', body: chunk,
      headers: {
        'content-type': 'application/octet-stream',
        ...(options.contentRange !== undefined ? { 'content-range': options.contentRange } : {}),
        ...options.headers,
      },
    })
  }

  putUpload(location: string, digest: string, chunk?: RequestBody, headers: OutgoingHttpHeaders = {}): Promise<HashedResponse> {
    const base: OutgoingHttpHeaders = chunk !== undefined ? { 'content-type': 'application/octet-stream' } : { 'content-length': 0 }
    return this.request(withQuery(location, { digest }), {
      method: 'PUT', headers: { ...base, ...headers }, ...(chunk !== undefined ? { body: chunk } : {}),
    })
  }

  /** Chunked upload: POST, one PATCH per chunk with Content-Range, PUT ?digest= without body. */
  async pushBlobChunked(repo: string, blob: Blob, chunkSize: number): Promise<Blob> {
    let { location } = await this.startUpload(repo)
    for (let offset = 0; offset < blob.size; offset += chunkSize) {
      const chunk = blob.data.subarray(offset, Math.min(blob.size, offset + chunkSize))
      const res = expectStatus('PATCH', await this.patch(location, chunk, { contentRange: `${offset}-${offset + chunk.length - 1}` }), 202)
      location = res.header('location')!
    }
    expectStatus('PUT upload', await this.putUpload(location, blob.digest), 201)
    return blob
  }

  putManifest(repo: string, reference: string, manifest: Manifest, options: { contentType?: string | null; query?: string } = {}): Promise<HashedResponse> {
    const contentType = options.contentType === undefined ? manifest.mediaType : options.contentType
    return this.request(`/v2/${repo}/manifests/${reference}${options.query ?? ''}`, {
      method: 'PUT', body: manifest.body, headers: contentType !== null ? { 'content-type': contentType } : {},
    })
  }

  async pushManifest(repo: string, reference: string, manifest: Manifest): Promise<Manifest> {
    expectStatus(`PUT manifest ${repo}:${reference}`, await this.putManifest(repo, reference, manifest), 201)
    return manifest
  }

  /** Pushes a small random image (config + layers + OCI manifest), tagged `tag` when given. */
  async pushImage(repo: string, options: { tag?: string; layers?: number; layerSize?: number } = {}): Promise<{ config: Blob; layers: Blob[]; manifest: Manifest }> {
    const config = await this.pushBlob(repo, makeBlob(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') })))
    const layers: Blob[] = []
    for (let i = 0; i < (options.layers ?? 1); i++) layers.push(await this.pushBlob(repo, makeBlob(options.layerSize ?? 1024)))
    const manifest = ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: layers.map((l) => descriptor(l, MediaTypes.ociLayer)) })
    await this.pushManifest(repo, options.tag ?? manifest.digest, manifest)
    return { config, layers, manifest }
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** VmRSS and VmHWM (peak RSS) of a process in bytes, from /proc. */
export async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)
    if (match === null) throw new Error(`no ${name} in /proc/${pid}/status`)
    return Number(match[1]) * 1024
  }
  return { rss: field('VmRSS'), hwm: field('VmHWM') }
}

/** Number of open file descriptors of a process. */
export async function openFdCount(pid: number): Promise<number> {
  const { readdir } = await import('node:fs/promises')
  return (await readdir(`/proc/${pid}/fd`)).length
}

/** Every file under `dir`, as paths relative to it, sorted ('' when the directory is missing). */
export async function listFiles(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises')
  const path = await import('node:path')
  const out: string[] = []
  const walk = async (rel: string): Promise<void> => {
    let entries
    try {
      entries = await readdir(path.join(dir, rel), { withFileTypes: true })
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return
      throw err
    }
    for (const entry of entries) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) await walk(child)
      else out.push(child)
    }
  }
  await walk('')
  return out.sort()
}
