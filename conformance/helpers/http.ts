// A small raw HTTP client for registry requests: exact headers and bodies, no redirects followed,
// no automatic retries, every header value kept (OCI-Tag may repeat).
import http from 'node:http'
import type { Readable } from 'node:stream'

export interface HttpRequest {
  readonly method?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: Buffer | string | Readable
  /** Content-Length to announce for a stream body. */
  readonly contentLength?: number
  readonly timeoutMs?: number
}

export class HttpResponse {
  readonly status: number
  /** Lower-cased header name → every value received, in order. */
  readonly headerLists: ReadonlyMap<string, readonly string[]>
  readonly body: Buffer
  readonly method: string
  readonly url: string

  constructor(method: string, url: string, status: number, rawHeaders: readonly string[], body: Buffer) {
    this.method = method
    this.url = url
    this.status = status
    this.body = body
    const lists = new Map<string, string[]>()
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toLowerCase()
      const list = lists.get(name) ?? []
      list.push(rawHeaders[i + 1]!)
      lists.set(name, list)
    }
    this.headerLists = lists
  }

  /** First value of a header (case-insensitive). */
  header(name: string): string | undefined {
    return this.headerLists.get(name.toLowerCase())?.[0]
  }

  /** All values of a header, comma lists split (RFC 9110 §5.3). */
  headerValues(name: string): string[] {
    return (this.headerLists.get(name.toLowerCase()) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)
  }

  text(): string { return this.body.toString('utf8') }

  json<T = unknown>(): T { return JSON.parse(this.text()) as T }

  /** Error codes of a distribution-spec error body, or [] when the body is not one. */
  errorCodes(): string[] {
    try {
      const parsed = this.json<{ errors?: Array<{ code?: unknown }> }>()
      return Array.isArray(parsed.errors) ? parsed.errors.map((e) => String(e.code)) : []
    } catch { return [] }
  }

  /** One line for assertion messages. */
  describe(): string {
    const body = this.body.length > 300 ? `${this.body.subarray(0, 300).toString('utf8')}…` : this.text()
    return `${this.method} ${this.url} -> ${this.status} ${JSON.stringify(Object.fromEntries(this.headerLists))} ${body}`
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })

/** Sends one request to an absolute http:// URL. */
export function request(url: string, req: HttpRequest = {}): Promise<HttpResponse> {
  const method = req.method ?? 'GET'
  const target = new URL(url)
  const headers: Record<string, string> = { ...req.headers }
  const body = req.body
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['Content-Length'] = String(Buffer.byteLength(body))
  } else if (body !== undefined && req.contentLength !== undefined) {
    headers['Content-Length'] = String(req.contentLength)
  }
  return new Promise((resolve, reject) => {
    const outgoing = http.request({
      agent, method, hostname: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, headers,
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        clearTimeout(timer)
        resolve(new HttpResponse(method, url, res.statusCode ?? 0, res.rawHeaders, Buffer.concat(chunks)))
      })
      res.on('error', (error) => { clearTimeout(timer); reject(error) })
    })
    const timeoutMs = req.timeoutMs ?? 60_000
    const timer = setTimeout(() => outgoing.destroy(new Error(`${method} ${url}: no response within ${timeoutMs} ms`)), timeoutMs)
    outgoing.on('error', (error) => { clearTimeout(timer); reject(error) })
    if (body === undefined) outgoing.end()
    else if (typeof body === 'string' || Buffer.isBuffer(body)) outgoing.end(body)
    else body.pipe(outgoing)
  })
}

/** Requests relative to a registry's base URL (http://host:port). */
export class RegistryHttp {
  readonly base: string
  constructor(base: string) { this.base = base.replace(/\/+$/, '') }

  /** Resolves a path or a Location header (relative or absolute) against the base URL. */
  resolve(location: string): string { return new URL(location, `${this.base}/`).toString() }

  send(method: string, pathOrUrl: string, req: Omit<HttpRequest, 'method'> = {}): Promise<HttpResponse> {
    return request(this.resolve(pathOrUrl), { ...req, method })
  }

  get(pathOrUrl: string, headers?: Record<string, string>): Promise<HttpResponse> { return this.send('GET', pathOrUrl, { headers }) }
  head(pathOrUrl: string, headers?: Record<string, string>): Promise<HttpResponse> { return this.send('HEAD', pathOrUrl, { headers }) }
  delete(pathOrUrl: string, headers?: Record<string, string>): Promise<HttpResponse> { return this.send('DELETE', pathOrUrl, { headers }) }
}

/** Adds query parameters to a (possibly relative, possibly already parameterised) location. */
export function withQuery(location: string, params: Readonly<Record<string, string>>): string {
  const u = new URL(location, 'http://placeholder')
  for (const [k, v] of Object.entries(params)) u.searchParams.append(k, v)
  return /^https?:\/\//.test(location) ? u.toString() : `${u.pathname}${u.search}`
}
