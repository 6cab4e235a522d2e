/** Small statistics helpers for the benchmark. */

export function sortedCopy(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b)
}

/** Nearest-rank percentile (p in 0..100) of an ascending array; NaN when empty. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export function median(values: readonly number[]): number {
  const sorted = sortedCopy(values.filter((v) => Number.isFinite(v)))
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function minMax(values: readonly number[]): [number, number] {
  const finite = values.filter((v) => Number.isFinite(v))
  if (finite.length === 0) return [Number.NaN, Number.NaN]
  return [Math.min(...finite), Math.max(...finite)]
}

/** Collects latencies (ms) without growing unboundedly: keeps every sample up to `cap`, then reservoir-samples. */
export class LatencyRecorder {
  private readonly samples: Float64Array
  private seen = 0
  private stored = 0

  constructor(private readonly cap = 1_000_000) {
    this.samples = new Float64Array(cap)
  }

  add(ms: number): void {
    this.seen++
    if (this.stored < this.cap) { this.samples[this.stored++] = ms; return }
    const slot = Math.floor(Math.random() * this.seen)
    if (slot < this.cap) this.samples[slot] = ms
  }

  get count(): number { return this.seen }

  /** Returns p50/p99/max in ms. */
  summary(): { p50: number; p99: number; max: number } {
    const sorted = Array.from(this.samples.subarray(0, this.stored)).sort((a, b) => a - b)
    return { p50: percentileSorted(sorted, 50), p99: percentileSorted(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN }
  }
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  const abs = Math.abs(value)
  if (abs >= 1000) return value.toFixed(0)
  if (abs >= 100) return value.toFixed(0)
  if (abs >= 10) return value.toFixed(1)
  if (abs >= 1) return value.toFixed(2)
  return value.toPrecision(2)
}
