import { createHash } from 'node:crypto'
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http'
import https from 'node:https'
import { Readable } from 'node:stream'
import type { Algorithm } from './content.js'

/**
 * The one low-level HTTP client of the tests, conformance scenarios and tools: node:http, so that
 * a path is sent exactly as written (no `..` or `%2e` normalisation), headers are precise,
 * repeated response headers stay separate (rawHeaders) and bodies can stream. No redirects are
 * followed and nothing is retried. (The benchmark's load generator has its own raw-socket client.)
 */

export interface HttpResponse {
  readonly method: string
  /** The absolute URL requested. */
  readonly url: string
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: readonly string[]
  /** The body, or empty when it was hashed instead (`hashBody`). */
  readonly body: Buffer
  /** Bytes of body received. */
  readonly bodyLength: number
  /** The digest of the body, when it was hashed instead of kept (`hashBody`). */
  readonly bodyDigest?: string
  /** Every value of a header, in order, even when repeated (node joins or drops repeats in `headers`). */
  all(name: string): string[]
  /** Every value of a header with comma lists split (RFC 9110 §5.3). */
  headerValues(name: string): string[]
  /** The value of a header; repeats joined with ", " (node keeps only the first of single-valued ones). */
  header(name: string): string | undefined
  json<T = unknown>(): T
  text(): string
  /** One line for assertion messages: request, status, headers and the start of the body. */
  describe(): string
}

/** @deprecated The old test helpers' name; use HttpResponse (the hash fields are on every response). */
export type HashedResponse = HttpResponse

export type RequestBody = Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array>

export interface RequestOptions {
  readonly method?: string
  readonly headers?: OutgoingHttpHeaders
  readonly body?: RequestBody
  /** Content-Length to announce for a stream body (else it goes chunked). */
  readonly contentLength?: number
  /** A connection of its own, closed after the exchange (for responses that close the connection). */
  readonly fresh?: boolean
  /** Response body discarded while counted and hashed instead of buffered (large downloads). */
  readonly hashBody?: Algorithm
  /** Fails the request when no complete response arrived in time (no limit when absent). */
  readonly timeoutMs?: number
  /** The agent to connect through (used even with `fresh`): an https.Agent with the CA (and a client certificate) for an https:// base. */
  readonly agent?: http.Agent
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })

function makeResponse(method: string, url: string, res: http.IncomingMessage, body: Buffer, extra: { bodyDigest?: string; bodyLength: number }): HttpResponse {
  const rawHeaders = res.rawHeaders
  const response: HttpResponse = {
    method,
    url,
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
    headerValues(name: string): string[] {
      return response.all(name).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)
    },
    header(name: string): string | undefined {
      const value = res.headers[name.toLowerCase()]
      return Array.isArray(value) ? value.join(', ') : value
    },
    json<T>(): T { return JSON.parse(body.toString('utf8')) as T },
    text(): string { return body.toString('utf8') },
    describe(): string {
      const text = body.length > 300 ? `${body.subarray(0, 300).toString('utf8')}…` : body.toString('utf8')
      const headers: Record<string, string[]> = {}
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) (headers[rawHeaders[i]!.toLowerCase()] ??= []).push(rawHeaders[i + 1]!)
      return `${method} ${url} -> ${response.status} ${JSON.stringify(headers)} ${text}`
    },
  }
  return response
}

function hasHeader(headers: OutgoingHttpHeaders, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name)
}

/** The host, port and verbatim path of a request: `path` is sent as written unless it is an absolute URL (a Location). */
function target(base: string, path: string): { host: string; port: string; path: string; url: string; secure: boolean } {
  if (/^https?:\/\//i.test(path)) {
    const url = new URL(path)
    return { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, url: path, secure: url.protocol === 'https:' }
  }
  const url = new URL(base)
  return { host: url.hostname, port: url.port, path, url: `${url.origin}${path}`, secure: url.protocol === 'https:' }
}

/** One HTTP exchange against `base` (e.g. http://127.0.0.1:1234) with `path` sent verbatim (or an absolute URL). */
export function request(base: string, path: string, options: RequestOptions = {}): Promise<HttpResponse> {
  const to = target(base, path)
  const method = options.method ?? 'GET'
  const headers: OutgoingHttpHeaders = { ...options.headers }
  let body = options.body
  if (typeof body === 'string') body = Buffer.from(body)
  if (!hasHeader(headers, 'content-length') && !hasHeader(headers, 'transfer-encoding')) {
    if (body instanceof Uint8Array) headers['content-length'] = body.byteLength
    else if (body !== undefined && options.contentLength !== undefined) headers['content-length'] = options.contentLength
  }
  return new Promise<HttpResponse>((resolve, reject) => {
    let responded = false
    const req = (to.secure ? https : http).request({
      host: to.host, port: to.port, method, path: to.path, headers,
      agent: options.agent ?? (options.fresh ? false : to.secure ? undefined : agent),
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
      res.on('end', () => {
        clearTimeout(timer)
        resolve(makeResponse(method, to.url, res, Buffer.concat(chunks), {
          bodyLength: length, ...(hash ? { bodyDigest: `${options.hashBody}:${hash.digest('hex')}` } : {}),
        }))
      })
      res.on('error', (err) => { clearTimeout(timer); reject(err) })
    })
    const timer = options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => req.destroy(new Error(`${method} ${to.url}: no response within ${options.timeoutMs} ms`)), options.timeoutMs)
    req.on('error', (err) => {
      // The server may answer and close before the whole body went out (e.g. 413, 416): the
      // response still counts when it arrives.
      if (!responded) setTimeout(() => { if (!responded) { clearTimeout(timer); reject(err) } }, 200)
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

/**
 * Sends only the request head (announcing a body with the given headers) and resolves with the
 * response the server gives without reading any body; the connection is then destroyed. For
 * refusals decided on headers alone (416 out of order, 413 declared size), with no race between
 * the refusal and the body.
 */
export function requestHeadOnly(base: string, path: string, options: { method: string; headers: OutgoingHttpHeaders; timeoutMs?: number }): Promise<HttpResponse> {
  const to = target(base, path)
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = http.request({ host: to.host, port: to.port, method: options.method, path: to.path, headers: options.headers, agent: false }, (res) => {
      clearTimeout(timer)
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        resolve(makeResponse(options.method, to.url, res, Buffer.concat(chunks), { bodyLength: 0 }))
        req.destroy()
      })
      res.on('error', reject)
    })
    const timer = setTimeout(() => { req.destroy(); reject(new Error('no response to the request head')) }, options.timeoutMs ?? 5000)
    req.on('error', () => { /* destroyed after the response */ })
    req.flushHeaders()
  })
}

/** Adds query parameters to a (possibly relative, possibly already parameterised) location. */
export function withQuery(location: string, params: Readonly<Record<string, string>>): string {
  const q = new URLSearchParams(params).toString()
  return location.includes('?') ? `${location}&${q}` : `${location}?${q}`
}

export interface ErrorBody {
  errors: Array<{ code: string; message: string; detail?: unknown }>
}

/** The distribution-spec error body of a response, or undefined when it is not one. */
export function errorBody(res: HttpResponse): ErrorBody | undefined {
  try {
    const body = res.json<ErrorBody>()
    if (!Array.isArray(body.errors) || body.errors.length === 0) return undefined
    for (const e of body.errors) if (typeof e.code !== 'string' || typeof e.message !== 'string') return undefined
    return body
  } catch {
    return undefined
  }
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

/** An answer a client flow did not expect; the message describes the whole exchange. */
export class ResponseError extends Error {
  readonly response: HttpResponse
  constructor(what: string, response: HttpResponse) {
    super(`${what}: unexpected ${response.describe()}`)
    this.name = 'ResponseError'
    this.response = response
  }
}

export function expectStatus(what: string, res: HttpResponse, ...statuses: number[]): HttpResponse {
  if (!statuses.includes(res.status)) throw new ResponseError(what, res)
  return res
}
