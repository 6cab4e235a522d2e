import type { Registry } from 'prom-client'
import { HistogramSeries, LATENCY_BUCKETS } from './histogram.js'
import { registerRendered, type RenderedValues } from './scraped.js'

/**
 * What a request addressed, never its path: the label's values are this fixed list, so the number
 * of series stays bounded whatever clients ask for.
 */
export const ROUTE_KINDS = ['base', 'catalog', 'tags', 'manifest', 'blob', 'uploads', 'upload', 'referrers', 'admin', 'token', 'health', 'metrics', 'unknown'] as const
export type RouteKind = typeof ROUTE_KINDS[number]

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OTHER'] as const

function methodIndex(method: string): number {
  switch (method) {
    case 'GET': return 0
    case 'HEAD': return 1
    case 'POST': return 2
    case 'PUT': return 3
    case 'PATCH': return 4
    case 'DELETE': return 5
    default: return 6
  }
}

const KIND_INDEX: Readonly<Record<string, number>> = Object.fromEntries(ROUTE_KINDS.map((kind, i) => [kind, i]))

/** Requests of one route kind and method: counts by status code and the latency histogram. */
interface Slot {
  readonly statuses: Map<number, number>
  readonly latency: HistogramSeries
}

/**
 * The HTTP layer's per-request figures, in plain arrays indexed by route kind and method (an
 * observation allocates nothing once its slot exists), rendered when scraped:
 *   wharf_http_requests_total{route,method,code}
 *   wharf_http_request_duration_seconds{route,method}     (histogram)
 *   wharf_http_request_body_bytes_total{route}            (bytes of request bodies read)
 *   wharf_http_response_body_bytes_total{route}           (bytes of response bodies written)
 *   wharf_uploads_in_progress                             (blob bodies streaming in now)
 */
export class HttpMetrics {
  private readonly slots: Array<Slot | undefined> = new Array(ROUTE_KINDS.length * METHODS.length).fill(undefined)
  private readonly received = new Float64Array(ROUTE_KINDS.length)
  private readonly sent = new Float64Array(ROUTE_KINDS.length)
  private uploadsInProgress: () => number = () => 0

  constructor(registry: Registry) {
    const perSlot = (read: (slot: Slot, labels: Record<string, string>) => RenderedValues): RenderedValues => {
      const values: RenderedValues = []
      for (let i = 0; i < this.slots.length; i++) {
        const slot = this.slots[i]
        if (slot === undefined) continue
        values.push(...read(slot, { route: ROUTE_KINDS[Math.floor(i / METHODS.length)]!, method: METHODS[i % METHODS.length]! }))
      }
      return values
    }
    const metric = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => RenderedValues | Promise<RenderedValues>): void => registerRendered(registry, name, help, type, values)
    metric('wharf_http_requests_total', 'HTTP requests answered (or ended by the client), by route kind, method and status code.', 'counter',
      () => perSlot((slot, labels) => [...slot.statuses].map(([code, value]) => ({ value, labels: { ...labels, code: String(code) } }))))
    metric('wharf_http_request_duration_seconds', 'Time from a request\'s arrival to the end of its response, by route kind and method.', 'histogram',
      () => perSlot((slot, labels) => slot.latency.samples('wharf_http_request_duration_seconds', labels)))
    const perKind = (totals: Float64Array) => () => ROUTE_KINDS.flatMap((route, i) => totals[i]! > 0 ? [{ value: totals[i]!, labels: { route } }] : [])
    metric('wharf_http_request_body_bytes_total', 'Bytes of request bodies read (blob uploads, manifest pushes), by route kind.', 'counter', perKind(this.received))
    metric('wharf_http_response_body_bytes_total', 'Bytes of response bodies written (blobs, manifests, listings), by route kind; a download cut short counts what was written.', 'counter', perKind(this.sent))
    metric('wharf_uploads_in_progress', 'Blob upload bodies streaming in now.', 'gauge', () => [{ value: this.uploadsInProgress(), labels: {} }])
  }

  /** One finished (or abandoned) request. */
  observe(kind: RouteKind, method: string, status: number, seconds: number, receivedBytes: number, sentBytes: number): void {
    const k = KIND_INDEX[kind] ?? ROUTE_KINDS.length - 1
    const index = k * METHODS.length + methodIndex(method)
    let slot = this.slots[index]
    if (slot === undefined) {
      slot = { statuses: new Map(), latency: new HistogramSeries(LATENCY_BUCKETS) }
      this.slots[index] = slot
    }
    slot.statuses.set(status, (slot.statuses.get(status) ?? 0) + 1)
    slot.latency.observe(seconds)
    if (receivedBytes > 0) this.received[k]! += receivedBytes
    if (sentBytes > 0) this.sent[k]! += sentBytes
  }

  /** Where the number of upload bodies streaming in is read from (the HTTP layer's upload limiter). */
  trackUploads(inProgress: () => number): void {
    this.uploadsInProgress = inProgress
  }
}
