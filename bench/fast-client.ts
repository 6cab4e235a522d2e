import net from 'node:net'

/**
 * A deliberately small HTTP/1.1 client for the benchmark's many small requests: raw keep-alive sockets,
 * one request in flight per socket, a bounded pool, no per-request agent bookkeeping. It keeps the
 * load generator's CPU cost low so that it distorts the server measurements as little as possible.
 * Big uploads and downloads go through node:http instead (see load-client.ts).
 */

export interface FastResponse {
  readonly status: number
  /** Lower-cased header names. Repeated headers are joined with ", ". */
  readonly headers: Record<string, string>
  readonly body: Buffer
}

export interface FastRequest {
  readonly method: string
  /** Path plus query, e.g. /v2/foo/manifests/latest */
  readonly path: string
  /** Extra headers; Host, Content-Length and Connection are added. */
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: Buffer | string
}

const CRLFCRLF = Buffer.from('\r\n\r\n')
const EMPTY = Buffer.alloc(0)

interface Pending {
  readonly head: boolean
  readonly resolve: (response: FastResponse) => void
  readonly reject: (error: Error) => void
}

class Connection {
  readonly socket: net.Socket
  private buffer: Buffer = EMPTY
  private pending: Pending | undefined
  // parse state for the current response
  private status = 0
  private headers: Record<string, string> = {}
  private state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailer' | 'close' = 'head'
  private remaining = 0
  private chunks: Buffer[] = []
  private keepAlive = true
  closed = false
  idleSince = 0

  constructor(host: string, port: number, private readonly timeoutMs: number, private readonly onClose: (conn: Connection) => void) {
    this.socket = net.connect({ host, port, noDelay: true })
    this.socket.setTimeout(timeoutMs)
    this.socket.on('data', (data: Buffer) => this.onData(data))
    this.socket.on('timeout', () => this.socket.destroy(new Error(`request timed out after ${this.timeoutMs} ms`)))
    this.socket.on('error', (error) => this.fail(error))
    this.socket.on('close', () => {
      if (this.pending && this.state === 'close') { this.finish(); }
      this.fail(new Error('connection closed before the response was complete'))
    })
  }

  get busy(): boolean { return this.pending !== undefined }

  send(head: string, body: Buffer | undefined, isHead: boolean, pending: Omit<Pending, 'head'>): void {
    this.pending = { ...pending, head: isHead }
    this.state = 'head'
    this.status = 0
    this.headers = {}
    this.chunks = []
    if (body && body.length > 0) {
      this.socket.cork()
      this.socket.write(head, 'latin1')
      this.socket.write(body)
      this.socket.uncork()
    } else {
      this.socket.write(head, 'latin1')
    }
  }

  private fail(error: Error): void {
    const pending = this.pending
    this.pending = undefined
    if (!this.closed) {
      this.closed = true
      this.socket.destroy()
      this.onClose(this)
    }
    pending?.reject(error)
  }

  private onData(data: Buffer): void {
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data])
    try {
      this.parse()
    } catch (error) {
      this.fail(error as Error)
    }
  }

  private parse(): void {
    for (;;) {
      if (this.pending === undefined) { if (this.buffer.length > 0) throw new Error('unexpected data from server'); return }
      switch (this.state) {
        case 'head': {
          const end = this.buffer.indexOf(CRLFCRLF)
          if (end < 0) { if (this.buffer.length > 65536) throw new Error('response head too large'); return }
          const text = this.buffer.toString('latin1', 0, end)
          this.buffer = this.buffer.subarray(end + 4)
          const lines = text.split('\r\n')
          const statusLine = lines[0] ?? ''
          this.status = Number.parseInt(statusLine.slice(9, 12), 10)
          if (!statusLine.startsWith('HTTP/1.') || !Number.isFinite(this.status)) throw new Error(`bad status line: ${statusLine}`)
          const headers: Record<string, string> = {}
          for (let i = 1; i < lines.length; i++) {
            const line = lines[i]!
            const colon = line.indexOf(':')
            if (colon <= 0) continue
            const name = line.slice(0, colon).trim().toLowerCase()
            const value = line.slice(colon + 1).trim()
            headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
          }
          this.headers = headers
          this.keepAlive = !(headers.connection ?? '').toLowerCase().includes('close') && statusLine.startsWith('HTTP/1.1')
          if (this.status >= 100 && this.status < 200) { this.state = 'head'; continue }
          if (this.pending.head || this.status === 204 || this.status === 304) { this.finish(); continue }
          if ((headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) { this.state = 'chunk-size'; continue }
          const length = headers['content-length']
          if (length !== undefined) {
            this.remaining = Number.parseInt(length, 10)
            if (!(this.remaining >= 0)) throw new Error(`bad content-length ${length}`)
            this.state = 'length'
            continue
          }
          this.state = 'close'
          this.keepAlive = false
          continue
        }
        case 'length': {
          if (this.remaining === 0) { this.finish(); continue }
          if (this.buffer.length === 0) return
          const take = Math.min(this.remaining, this.buffer.length)
          this.chunks.push(this.buffer.subarray(0, take))
          this.buffer = this.buffer.subarray(take)
          this.remaining -= take
          continue
        }
        case 'chunk-size': {
          const eol = this.buffer.indexOf('\r\n')
          if (eol < 0) return
          const size = Number.parseInt(this.buffer.toString('latin1', 0, eol).split(';')[0]!, 16)
          if (!(size >= 0)) throw new Error('bad chunk size')
          this.buffer = this.buffer.subarray(eol + 2)
          if (size === 0) { this.state = 'trailer'; continue }
          this.remaining = size
          this.state = 'chunk-data'
          continue
        }
        case 'chunk-data': {
          if (this.buffer.length === 0) return
          const take = Math.min(this.remaining, this.buffer.length)
          this.chunks.push(this.buffer.subarray(0, take))
          this.buffer = this.buffer.subarray(take)
          this.remaining -= take
          if (this.remaining === 0) this.state = 'chunk-crlf'
          continue
        }
        case 'chunk-crlf': {
          if (this.buffer.length < 2) return
          this.buffer = this.buffer.subarray(2)
          this.state = 'chunk-size'
          continue
        }
        case 'trailer': {
          const eol = this.buffer.indexOf('\r\n')
          if (eol < 0) return
          this.buffer = this.buffer.subarray(eol + 2)
          if (eol === 0) this.finish()
          continue
        }
        case 'close': {
          if (this.buffer.length > 0) { this.chunks.push(this.buffer); this.buffer = EMPTY }
          return
        }
      }
    }
  }

  private finish(): void {
    const pending = this.pending
    if (!pending) return
    this.pending = undefined
    const body = this.chunks.length === 0 ? EMPTY : this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
    this.chunks = []
    this.state = 'head'
    if (!this.keepAlive) {
      this.closed = true
      this.socket.destroy()
      this.onClose(this)
    }
    pending.resolve({ status: this.status, headers: this.headers, body })
  }
}

interface Waiter {
  readonly request: FastRequest
  readonly resolve: (response: FastResponse) => void
  readonly reject: (error: Error) => void
}

export class FastClient {
  private readonly host: string
  private readonly port: number
  private readonly hostHeader: string
  private readonly idle: Connection[] = []
  private readonly all = new Set<Connection>()
  private readonly queue: Waiter[] = []
  private readonly timeoutMs: number

  constructor(baseUrl: string, private readonly maxConnections: number, options: { timeoutMs?: number } = {}) {
    const url = new URL(baseUrl)
    if (url.protocol !== 'http:') throw new Error('FastClient speaks plain http only')
    this.host = url.hostname
    this.port = Number(url.port || 80)
    this.hostHeader = url.host
    this.timeoutMs = options.timeoutMs ?? 120_000
  }

  /** An idle connection that the server has not had time to close, or a new one while the pool has room. */
  private take(): Connection | undefined {
    const now = Date.now()
    for (let conn = this.idle.pop(); conn !== undefined; conn = this.idle.pop()) {
      if (now - conn.idleSince < 2000) return conn
      conn.closed = true
      conn.socket.destroy()
      this.all.delete(conn)
    }
    return this.all.size < this.maxConnections ? this.open() : undefined
  }

  request(request: FastRequest): Promise<FastResponse> {
    return new Promise<FastResponse>((resolve, reject) => {
      const conn = this.take()
      if (conn === undefined) { this.queue.push({ request, resolve, reject }); return }
      this.dispatch(conn, { request, resolve, reject })
    })
  }

  private open(): Connection {
    const conn = new Connection(this.host, this.port, this.timeoutMs, (closed) => {
      this.all.delete(closed)
      const index = this.idle.indexOf(closed)
      if (index >= 0) this.idle.splice(index, 1)
      this.drainQueue()
    })
    this.all.add(conn)
    return conn
  }

  private drainQueue(): void {
    while (this.queue.length > 0) {
      const conn = this.take()
      if (conn === undefined) return
      this.dispatch(conn, this.queue.shift()!)
    }
  }

  private dispatch(conn: Connection, waiter: Waiter): void {
    const { request } = waiter
    const body = request.body === undefined ? undefined : typeof request.body === 'string' ? Buffer.from(request.body) : request.body
    let head = `${request.method} ${request.path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`
    if (request.headers) for (const name in request.headers) head += `${name}: ${request.headers[name]}\r\n`
    if (body !== undefined || request.method === 'PUT' || request.method === 'POST' || request.method === 'PATCH') head += `Content-Length: ${body?.length ?? 0}\r\n`
    head += '\r\n'
    conn.send(head, body, request.method === 'HEAD', {
      resolve: (response) => {
        if (!conn.closed) { conn.idleSince = Date.now(); this.idle.push(conn) }
        this.drainQueue()
        waiter.resolve(response)
      },
      reject: (error) => {
        this.drainQueue()
        waiter.reject(error)
      },
    })
  }

  close(): void {
    for (const conn of this.all) conn.socket.destroy()
    this.all.clear()
    this.idle.length = 0
    for (const waiter of this.queue.splice(0)) waiter.reject(new Error('client closed'))
  }
}
