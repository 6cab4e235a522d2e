import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One registry:2 event as a receiver sees it. */
export interface ReceivedEvent {
  id: string
  timestamp: string
  action: string
  target: { mediaType?: string; size?: number; digest?: string; length?: number; repository: string; fromRepository?: string; url?: string; tag?: string }
  request: { id: string; addr?: string; host?: string; method?: string; useragent?: string }
  actor: { name?: string }
  source: { addr: string; instanceID: string }
}

export interface Delivery {
  readonly headers: IncomingHttpHeaders
  /** The exact bytes received, as text. */
  readonly body: string
  readonly events: ReceivedEvent[]
}

/**
 * A webhook receiver: a real HTTP server on loopback that records what it took. It can answer
 * slowly, not at all (hang), with an error status, or be stopped (connection refused) and started
 * again on the same port.
 */
export class Receiver {
  readonly deliveries: Delivery[] = []
  /** How long each answer waits; Infinity: never answers. */
  delayMs = 0
  status = 200
  private server: Server | undefined
  private port = 0
  private readonly hanging = new Set<() => void>()

  static async start(): Promise<Receiver> {
    const receiver = new Receiver()
    await receiver.listen()
    return receiver
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`
  }

  /** Every event taken (answered 2xx), in arrival order. */
  get events(): ReceivedEvent[] {
    return this.deliveries.flatMap((d) => d.events)
  }

  async listen(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        const answer = (): void => {
          if (response.destroyed) return
          const body = Buffer.concat(chunks).toString('utf8')
          if (this.status >= 200 && this.status < 300) {
            this.deliveries.push({ headers: request.headers, body, events: (JSON.parse(body) as { events: ReceivedEvent[] }).events })
          }
          response.writeHead(this.status).end()
        }
        if (this.delayMs === 0) answer()
        else if (!Number.isFinite(this.delayMs)) this.hanging.add(() => response.destroy())
        else setTimeout(answer, this.delayMs)
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.port = (server.address() as AddressInfo).port
    this.server = server
  }

  /** Stops listening and drops every connection: deliveries meet "connection refused" until listen(). */
  async stop(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    for (const drop of this.hanging) drop()
    this.hanging.clear()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** One endpoint of `notifications.endpoints`, as the config file holds it. */
export type EndpointConfig = Record<string, unknown> & { name: string; url: string }

/** The admin API's entry for an endpoint. */
export interface EndpointStatus {
  name: string
  url: string
  pending: number
  oldestPendingAgeSeconds: number
  delivered: number
  failedAttempts: number
  consecutiveFailures: number
  nextAttemptAt: string | null
  lastError: string | null
  lastErrorAt: string | null
  lastSuccessAt: string | null
}
