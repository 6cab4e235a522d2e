import type { BenchConfig } from './config.js'
import type { LoadClient } from './load-client.js'
import type { BenchServer } from './servers.js'
import { configBlob, type Blob } from '../test/support/index.js'

/** The shapes every scenario has (scenarios.ts, user-scenarios.ts) and the small helpers they share. */

export interface MetricDef {
  readonly key: string
  readonly label: string
  readonly unit: string
  readonly better: 'higher' | 'lower'
}

export interface MeasureResult {
  readonly metrics: Record<string, number>
  /** Operations done, for server CPU per operation. */
  readonly ops: number
  /** Checks that failed without aborting the run (e.g. errors under mixed load). */
  readonly failures?: readonly string[]
}

export interface Ctx {
  readonly server: BenchServer
  readonly client: LoadClient
  readonly config: BenchConfig
  log(message: string): void
}

export interface Phase<S> {
  readonly id: string
  readonly title: string
  readonly metrics: readonly MetricDef[]
  /** What one operation is, for "server CPU per op". */
  readonly opLabel: string
  /** Unmeasured preparation on each server (fills), before the rounds. */
  prepare?(ctx: Ctx, state: S): Promise<void>
  measure(ctx: Ctx, state: S, round: number): Promise<MeasureResult>
}

export interface Scenario<S = unknown> {
  readonly id: string
  readonly title: string
  /** Client connections needed. */
  connections(config: BenchConfig): number
  init(ctx: Ctx): Promise<S>
  readonly phases: readonly Phase<S>[]
}

export const MB = 1e6
export const MiB = 1024 * 1024

/** An annotation that makes otherwise equal manifests distinct. */
export const benchAnnotation = (label: string): Record<string, string> => ({ 'org.wharf.bench': label })

/** A small, unique image config carrying `label` (and whatever else `extra` adds). */
export const labelledConfig = (label: string, extra: Record<string, unknown> = {}): Blob => configBlob({ ...extra, config: { Labels: benchAnnotation(label) } })

export function seconds(startMs: number): number { return (performance.now() - startMs) / 1000 }

export function sleep(ms: number): Promise<void> { return new Promise((resolve) => setTimeout(resolve, ms)) }

/** `make(key)` computed once per key: data that both servers of a round (or a run) share. */
export function memo<T>(make: (key: number) => T): (key: number) => T {
  const cache = new Map<number, T>()
  return (key) => {
    let value = cache.get(key)
    if (value === undefined) { value = make(key); cache.set(key, value) }
    return value
  }
}

/** A deterministic generator (LCG) in [0, 1): the same sizes every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
}
