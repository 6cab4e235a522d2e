import http from 'node:http'
import { createHash } from 'node:crypto'
import { FastClient, type FastResponse } from './fast-client.js'
import { digestOf, MediaTypes, withQuery } from '../test/support/index.js'
import { blobChunks, type BlobSpec } from './data.js'

/** A failed check: the scenario that hits one fails. */
export class CheckError extends Error {
  override name = 'CheckError'
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckError(message)
}

function expectStatus(response: { status: number; body?: Buffer }, expected: number, what: string): void {
  if (response.status !== expected) {
    const body = response.body ? response.body.toString('utf8', 0, Math.min(response.body.length, 300)) : ''
    throw new CheckError(`${what}: expected HTTP ${expected}, got ${response.status} ${body}`)
  }
}

export const MANIFEST_ACCEPT = `${MediaTypes.ociManifest}, ${MediaTypes.dockerManifest}`
/** What docker and BuildKit send for a reference that may name an index. */
export const INDEX_ACCEPT = `${MediaTypes.ociIndex}, ${MediaTypes.dockerManifestList}, ${MANIFEST_ACCEPT}`

/**
 * The benchmark's load generator: the distribution-spec requests the scenarios time, with the checks
 * on every answer. Small requests use the raw FastClient (cheap per request, so the client distorts
 * the server's figures as little as possible); big blob bodies stream from the payload pool through
 * node:http with a keep-alive agent. Tests use test/support's RegistryClient instead.
 */
export class LoadClient {
  readonly fast: FastClient
  readonly agent: http.Agent
  readonly base: URL

  constructor(readonly baseUrl: string, connections: number) {
    this.base = new URL(baseUrl)
    this.fast = new FastClient(baseUrl, connections)
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections, keepAliveMsecs: 1000 })
  }

  close(): void {
    this.fast.close()
    this.agent.destroy()
  }

  /** Location header as path+query, resolved against the base URL (the reference answers absolute URLs, Wharf relative). */
  location(response: { headers: Record<string, string | string[] | undefined> }, what: string): string {
    const raw = response.headers.location
    const value = Array.isArray(raw) ? raw[0] : raw
    check(typeof value === 'string' && value.length > 0, `${what}: no Location header`)
    const url = new URL(value, this.base)
    check(url.host === this.base.host, `${what}: Location points elsewhere: ${value}`)
    return url.pathname + url.search
  }

  async startUpload(repo: string): Promise<string> {
    const response = await this.fast.request({ method: 'POST', path: `/v2/${repo}/blobs/uploads/` })
    expectStatus(response, 202, `POST upload ${repo}`)
    return this.location(response, `POST upload ${repo}`)
  }

  /** POST, then PUT ?digest= with the whole body: the same request sequence on both servers. */
  async pushSmallBlob(repo: string, data: Buffer, digest: string): Promise<void> {
    const location = await this.startUpload(repo)
    const response = await this.fast.request({
      method: 'PUT', path: withQuery(location, { digest: digest }),
      headers: { 'Content-Type': 'application/octet-stream' }, body: data,
    })
    expectStatus(response, 201, `PUT blob ${repo}`)
    check(response.headers['docker-content-digest'] === undefined || response.headers['docker-content-digest'] === digest,
      `PUT blob ${repo}: Docker-Content-Digest ${response.headers['docker-content-digest']} != ${digest}`)
  }

  /** Cross-repository mount; when the server answers 202 (no mount), uploads `data` to the session it opened. */
  async mountBlob(repo: string, digest: string, from: string, data: Buffer): Promise<void> {
    const response = await this.fast.request({
      method: 'POST', path: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
    })
    if (response.status === 201) return
    expectStatus(response, 202, `mount ${digest} into ${repo}`)
    const location = this.location(response, `mount ${digest} into ${repo}`)
    const put = await this.fast.request({
      method: 'PUT', path: withQuery(location, { digest: digest }), headers: { 'Content-Type': 'application/octet-stream' }, body: data,
    })
    expectStatus(put, 201, `PUT blob ${repo} after declined mount`)
  }

  async headBlob(repo: string, digest: string): Promise<number> {
    const response = await this.fast.request({ method: 'HEAD', path: `/v2/${repo}/blobs/${digest}` })
    expectStatus(response, 200, `HEAD blob ${repo}@${digest}`)
    return Number(response.headers['content-length'])
  }

  async putManifest(repo: string, reference: string, body: Buffer, digest: string, mediaType: string = MediaTypes.ociManifest): Promise<void> {
    const response = await this.fast.request({
      method: 'PUT', path: `/v2/${repo}/manifests/${reference}`, headers: { 'Content-Type': mediaType }, body,
    })
    expectStatus(response, 201, `PUT manifest ${repo}:${reference}`)
    check(response.headers['docker-content-digest'] === digest,
      `PUT manifest ${repo}:${reference}: Docker-Content-Digest ${response.headers['docker-content-digest']} != ${digest}`)
  }

  async headManifest(repo: string, reference: string, digest: string): Promise<void> {
    const response = await this.fast.request({ method: 'HEAD', path: `/v2/${repo}/manifests/${reference}`, headers: { Accept: MANIFEST_ACCEPT } })
    expectStatus(response, 200, `HEAD manifest ${repo}:${reference}`)
    check(response.headers['docker-content-digest'] === digest, `HEAD manifest ${repo}:${reference}: digest ${response.headers['docker-content-digest']} != ${digest}`)
  }

  /** GETs a manifest, checks its digest (body and header); returns the body. */
  async getManifest(repo: string, reference: string, digest: string, accept: string = MANIFEST_ACCEPT): Promise<Buffer> {
    const response = await this.fast.request({ method: 'GET', path: `/v2/${repo}/manifests/${reference}`, headers: { Accept: accept } })
    expectStatus(response, 200, `GET manifest ${repo}:${reference}`)
    const actual = digestOf(response.body)
    check(actual === digest, `GET manifest ${repo}:${reference}: body digest ${actual} != ${digest}`)
    check(response.headers['docker-content-digest'] === digest, `GET manifest ${repo}:${reference}: header digest ${response.headers['docker-content-digest']} != ${digest}`)
    return response.body
  }

  /** GETs a small blob in one buffer (FastClient), checking length and digest; big ones go through pullBlob. */
  async getSmallBlob(repo: string, digest: string, size: number): Promise<void> {
    const response = await this.fast.request({ method: 'GET', path: `/v2/${repo}/blobs/${digest}` })
    expectStatus(response, 200, `GET blob ${repo}@${digest}`)
    check(response.body.length === size, `GET blob ${repo}@${digest}: ${response.body.length} bytes, expected ${size}`)
    const actual = digestOf(response.body)
    check(actual === digest, `GET blob ${repo}@${digest}: body hashes to ${actual}`)
  }

  /** Follows Link rel="next" until the end; returns every page's entries in order. */
  async listAll(firstPath: string, key: 'tags' | 'repositories', pageSize: number): Promise<{ entries: string[]; pages: number }> {
    const entries: string[] = []
    let path: string | undefined = firstPath
    let pages = 0
    while (path !== undefined) {
      check(++pages <= 1_000_000, 'listing: too many pages')
      const response: FastResponse = await this.fast.request({ method: 'GET', path })
      expectStatus(response, 200, `GET ${path}`)
      const parsed = JSON.parse(response.body.toString('utf8')) as Record<string, unknown>
      const page = parsed[key]
      check(Array.isArray(page) || (page === null && key === 'tags'), `GET ${path}: no ${key} array`)
      const list = (page ?? []) as string[]
      if (pageSize > 0 && response.headers.link !== undefined) check(list.length <= pageSize, `GET ${path}: page of ${list.length} > n=${pageSize}`)
      for (const entry of list) entries.push(entry)
      const link = response.headers.link
      if (link === undefined || list.length === 0) { path = undefined; continue }
      const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)
      check(match !== null, `GET ${path}: unparsable Link header ${link}`)
      const next = new URL(match[1]!, this.base)
      path = next.pathname + next.search
    }
    return { entries, pages }
  }

  /** Streams `spec`'s bytes [start,end) as the body of one request through node:http. */
  streamBody(method: string, path: string, headers: http.OutgoingHttpHeaders, spec: BlobSpec | undefined, start: number, end: number):
    Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      const request = http.request({
        host: this.base.hostname, port: this.base.port, method, path, agent: this.agent,
        headers: { ...headers, 'Content-Length': String(end - start) },
      }, (response) => {
        const parts: Buffer[] = []
        response.on('data', (chunk: Buffer) => { if (parts.length < 16) parts.push(chunk) })
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(parts).toString('utf8') }))
        response.on('error', reject)
      })
      request.on('error', reject)
      if (spec === undefined || end === start) { request.end(); return }
      const chunks = blobChunks(spec, start, end)
      const pump = (): void => {
        for (let next = chunks.next(); !next.done; next = chunks.next()) {
          if (!request.write(next.value)) { request.once('drain', pump); return }
        }
        request.end()
      }
      pump()
    })
  }

  /** Monolithic push: POST, then PUT ?digest= with the whole blob as body. */
  async pushBigBlob(repo: string, spec: BlobSpec): Promise<void> {
    const location = await this.startUpload(repo)
    const response = await this.streamBody('PUT', withQuery(location, { digest: spec.digest }),
      { 'Content-Type': 'application/octet-stream' }, spec, 0, spec.size)
    if (response.status !== 201) throw new CheckError(`PUT blob ${repo}: expected 201, got ${response.status} ${response.body.slice(0, 300)}`)
    const header = response.headers['docker-content-digest']
    check(header === undefined || header === spec.digest, `PUT blob ${repo}: Docker-Content-Digest ${String(header)} != ${spec.digest}`)
  }

  /** Chunked push: POST, PATCH chunks with Content-Range, PUT ?digest= with no body. */
  async pushChunkedBlob(repo: string, spec: BlobSpec, chunkSize: number): Promise<void> {
    let location = await this.startUpload(repo)
    for (let start = 0; start < spec.size; start += chunkSize) {
      const end = Math.min(spec.size, start + chunkSize)
      const response = await this.streamBody('PATCH', location,
        { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${end - 1}` }, spec, start, end)
      if (response.status !== 202) throw new CheckError(`PATCH ${repo} ${start}-${end - 1}: expected 202, got ${response.status} ${response.body.slice(0, 300)}`)
      check(response.headers.range === `0-${end - 1}`, `PATCH ${repo}: Range ${String(response.headers.range)} != 0-${end - 1}`)
      location = this.location(response, `PATCH ${repo}`)
    }
    const response = await this.streamBody('PUT', withQuery(location, { digest: spec.digest }), {}, undefined, 0, 0)
    if (response.status !== 201) throw new CheckError(`PUT (close) ${repo}: expected 201, got ${response.status} ${response.body.slice(0, 300)}`)
  }

  /** GETs a blob, hashing every byte; checks length and digest. */
  pullBlob(repo: string, digest: string, size: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const get = (path: string, redirects: number): void => {
        const request = http.get({ host: this.base.hostname, port: this.base.port, path, agent: this.agent }, (response) => {
          const status = response.statusCode ?? 0
          if ((status === 307 || status === 302) && redirects < 3 && response.headers.location) {
            response.resume()
            const next = new URL(response.headers.location, this.base)
            if (next.host !== this.base.host) { reject(new CheckError(`redirected off loopback server: ${next.href}`)); return }
            get(next.pathname + next.search, redirects + 1)
            return
          }
          if (status !== 200) { response.resume(); reject(new CheckError(`GET blob ${repo}@${digest}: HTTP ${status}`)); return }
          const hash = createHash('sha256')
          let bytes = 0
          response.on('data', (chunk: Buffer) => { hash.update(chunk); bytes += chunk.length })
          response.on('error', reject)
          response.on('end', () => {
            const actual = `sha256:${hash.digest('hex')}`
            if (bytes !== size) reject(new CheckError(`GET blob ${repo}@${digest}: ${bytes} bytes, expected ${size}`))
            else if (actual !== digest) reject(new CheckError(`GET blob ${repo}@${digest}: body hashes to ${actual}`))
            else resolve(bytes)
          })
        })
        request.on('error', reject)
      }
      get(`/v2/${repo}/blobs/${digest}`, 0)
    })
  }
}

/** Runs `count` tasks with at most `concurrency` in flight; the first failure stops new tasks and is thrown. */
export async function runPool(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0
  let failure: unknown
  const worker = async (): Promise<void> => {
    while (failure === undefined) {
      const index = next++
      if (index >= count) return
      try { await task(index) } catch (error) { failure ??= error }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  if (failure !== undefined) throw failure
}

/** Runs `connections` loops until `durationMs` passes or `maxOps` is reached. */
export async function runForDuration(connections: number, durationMs: number, maxOps: number,
  op: (worker: number, seq: number) => Promise<void>): Promise<{ ops: number; elapsedMs: number }> {
  const start = performance.now()
  const deadline = start + durationMs
  let ops = 0
  let failure: unknown
  const worker = async (w: number): Promise<void> => {
    while (failure === undefined && ops < maxOps && performance.now() < deadline) {
      const seq = ops++
      try { await op(w, seq) } catch (error) { failure ??= error }
    }
  }
  await Promise.all(Array.from({ length: connections }, (_, w) => worker(w)))
  if (failure !== undefined) throw failure
  return { ops, elapsedMs: performance.now() - start }
}
