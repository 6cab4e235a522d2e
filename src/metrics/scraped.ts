import type { Metric, Registry } from 'prom-client'

/** One series of a metric: its labels and its value at the scrape. */
export interface MetricSample {
  readonly labels?: Readonly<Record<string, string>>
  readonly value: number
}

/**
 * A counter or gauge whose values are read when scraped, never updated per event: what the rest of
 * Wharf registers (`Metrics.register`) to show numbers it already keeps (a queue's length, a
 * worker's stats()). A counter must only grow.
 */
export interface CollectedMetric {
  /** Prometheus naming: `wharf_<area>_<what>_<unit>`, counters ending in `_total`. */
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge'
  collect(): Iterable<MetricSample> | Promise<Iterable<MetricSample>>
}

/** Series as prom-client's registry renders them (`metricName` for a histogram's _bucket, _sum and _count lines). */
export type RenderedValues = Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>

/**
 * Adds a metric whose series `values` gives at each scrape. prom-client's own metric classes hash
 * their labels on every update; the hot paths keep plain numbers instead and render them here, in
 * the shape prom-client's registry reads (its registerMetric is typed for its own classes only,
 * hence the cast: the registry reads name, help, type and get()).
 */
export function registerRendered(registry: Registry, name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => RenderedValues | Promise<RenderedValues>): void {
  const metric = {
    name, help, type, aggregator: 'sum' as const,
    get: async () => ({ name, help, type, aggregator: 'sum' as const, values: await values() }),
  }
  registry.registerMetric(metric as unknown as Metric)
}

/** Adds a CollectedMetric; throws when its name is taken. */
export function registerCollected(registry: Registry, metric: CollectedMetric): void {
  if (registry.getSingleMetric(metric.name) !== undefined) throw new Error(`a metric named ${metric.name} is already registered`)
  registerRendered(registry, metric.name, metric.help, metric.type, async () => {
    const values: RenderedValues = []
    for (const sample of await metric.collect()) values.push({ value: sample.value, labels: { ...sample.labels } })
    return values
  })
}
