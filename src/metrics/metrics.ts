import { collectDefaultMetrics, Registry } from 'prom-client'
import type { EventBus } from '../events/events.js'
import type { MetadataMaintenance, MetadataStore } from '../metadata/metadata-store.js'
import { registerGcMetrics } from './gc-metrics.js'
import { HttpMetrics } from './http-metrics.js'
import { registerCollected, type CollectedMetric } from './scraped.js'
import { registerStoreMetrics, type StoreMetricsOptions } from './store-metrics.js'

export interface MetricsOptions extends StoreMetricsOptions {
  readonly events: EventBus
  readonly metadata: MetadataStore & Pick<MetadataMaintenance, 'repositoryStorage'>
}

/** A scrape: Prometheus' text format and its Content-Type. */
export interface Scrape {
  readonly contentType: string
  readonly body: string
}

/**
 * Every metric of one Wharf, on a registry of its own (never prom-client's global one: tests run
 * several servers in one process, and a library's metrics must not leak into ours). Built only
 * when `metrics.enabled`; with it off nothing here exists and no hook runs.
 *
 * Extension point: other parts add metrics to the same registry through `register` (a counter or
 * gauge read at scrape time from numbers they keep, e.g. a worker's stats()) or, for metrics
 * updated as things happen, prom-client metrics created with `registers: [metrics.registry]`.
 */
export class Metrics {
  readonly registry = new Registry()
  /** The HTTP layer's per-request hooks report here. */
  readonly http: HttpMetrics
  private readonly stops: Array<() => void> = []

  constructor(options: MetricsOptions) {
    // Process metrics (CPU, memory, file descriptors, GC pauses) and event-loop lag, under the
    // names every Node.js dashboard knows (process_*, nodejs_*).
    collectDefaultMetrics({ register: this.registry })
    this.http = new HttpMetrics(this.registry)
    this.stops.push(registerStoreMetrics(this.registry, options.metadata, options))
    this.stops.push(registerGcMetrics(this.registry, options.events))
  }

  /** Adds a metric read at each scrape; throws when its name is taken. */
  register(metric: CollectedMetric): void {
    registerCollected(this.registry, metric)
  }

  async scrape(): Promise<Scrape> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  /**
   * Stops listening to the event bus and the metadata writer. prom-client's process collectors (an
   * event-loop delay monitor, a GC observer) have no stop: they end with the process, as a server's do.
   */
  close(): void {
    for (const stop of this.stops.splice(0)) stop()
  }
}

export type { CollectedMetric, MetricSample } from './scraped.js'
export { ROUTE_KINDS, type HttpMetrics, type RouteKind } from './http-metrics.js'
