/** Seconds: from a cached manifest GET (well under a millisecond) to a long upload. */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

/**
 * One histogram series kept as plain numbers (an observation is a bucket search and three
 * additions, no allocation), rendered in Prometheus' cumulative form when scraped.
 */
export class HistogramSeries {
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length)
  }

  observe(value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    if (i < bounds.length) this.counts[i]!++
    this.sum += value
    this.count++
  }

  /** The `_bucket`, `_sum` and `_count` lines of the series, with `labels`. */
  samples(name: string, labels: Readonly<Record<string, string>>): Array<{ value: number; labels: Record<string, string | number>; metricName: string }> {
    const out = []
    let cumulative = 0
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i]!
      out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: this.bounds[i]! }, value: cumulative })
    }
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: this.count })
    out.push({ metricName: `${name}_sum`, labels: { ...labels }, value: this.sum })
    out.push({ metricName: `${name}_count`, labels: { ...labels }, value: this.count })
    return out
  }
}
