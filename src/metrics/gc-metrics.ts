import type { Registry } from 'prom-client'
import type { CollectionSummary, EventBus } from '../events/events.js'
import { HistogramSeries } from './histogram.js'
import { registerRendered, type RenderedValues } from './scraped.js'

const GC_BUCKETS: readonly number[] = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600]

/** The totals of a collection that are counted, as metric name → summary field. */
const COUNTED: ReadonlyArray<readonly [string, keyof CollectionSummary, string]> = [
  ['wharf_gc_freed_bytes_total', 'bytesFreed', 'Bytes of blobs removed by garbage collection.'],
  ['wharf_gc_blobs_removed_total', 'blobsRemoved', 'Blobs removed by garbage collection.'],
  ['wharf_gc_manifests_removed_total', 'manifestsRemoved', 'Manifests removed from repositories by garbage collection.'],
  ['wharf_gc_tags_removed_total', 'tagsRemoved', 'Tags removed by retention policies.'],
  ['wharf_gc_uploads_purged_total', 'uploadsPurged', 'Abandoned upload sessions purged by garbage collection.'],
]

/**
 * Garbage collections that ran (not dry runs), from their `collection.finished` events:
 * wharf_gc_runs_total, wharf_gc_duration_seconds (histogram), wharf_gc_last_run_timestamp_seconds
 * and the counters of COUNTED. Returns the unsubscribe function.
 */
export function registerGcMetrics(registry: Registry, events: EventBus): () => void {
  const duration = new HistogramSeries(GC_BUCKETS)
  const totals = new Map<keyof CollectionSummary, number>(COUNTED.map(([, field]) => [field, 0]))
  let lastRunAt = 0
  const metric = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => RenderedValues | Promise<RenderedValues>): void => registerRendered(registry, name, help, type, values)
  metric('wharf_gc_runs_total', 'Garbage collections run (dry runs excluded).', 'counter', () => [{ value: duration.count, labels: {} }])
  metric('wharf_gc_duration_seconds', 'How long each garbage collection took.', 'histogram', () => duration.samples('wharf_gc_duration_seconds', {}))
  metric('wharf_gc_last_run_timestamp_seconds', 'When the last garbage collection finished (Unix seconds); 0 before the first.', 'gauge', () => [{ value: lastRunAt, labels: {} }])
  for (const [name, field, help] of COUNTED) metric(name, help, 'counter', () => [{ value: totals.get(field)!, labels: {} }])
  // Collections only: the bus then builds no event for a pull or a push on the metrics' account.
  return events.subscribe((event) => {
    if (event.type !== 'collection.finished') return
    duration.observe(event.summary.durationMs / 1000)
    for (const [, field] of COUNTED) totals.set(field, totals.get(field)! + event.summary[field])
    lastRunAt = event.at / 1000
  }, { types: ['collection.finished'] })
}
