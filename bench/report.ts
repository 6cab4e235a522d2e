import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import type { BackendName } from './backend.js'
import type { MachineLimits } from './machine.js'
import type { MetricDef } from './scenarios.js'
import type { ServerKind } from './servers.js'
import { formatNumber, median, minMax } from './stats.js'

export interface RoundRecord {
  readonly metrics: Record<string, number>
  /** Server CPU (utime+stime) per operation, ms. */
  readonly cpuPerOpMs: number
  /** Load generator CPU as a share of one core during the round, %. */
  readonly benchCpuPct: number
  /** CPU of every other process on the machine during the round, % of one core. */
  readonly otherCpuPct: number
  readonly seconds: number
}

export interface ServerPhaseRecord {
  rounds: RoundRecord[]
  error?: string
  prepareSeconds?: number
}

export interface PhaseRecord {
  readonly scenarioId: string
  readonly phaseId: string
  readonly title: string
  readonly opLabel: string
  readonly metrics: readonly MetricDef[]
  readonly servers: Partial<Record<ServerKind, ServerPhaseRecord>>
}

export interface ScenarioRecord {
  readonly id: string
  readonly title: string
  readonly peakRssBytes: Partial<Record<ServerKind, number>>
  readonly errors: Partial<Record<ServerKind, string>>
}

export interface RunRecord {
  readonly date: Date
  readonly commit: string
  readonly machine: string
  readonly referenceVersion: string
  readonly nodeVersion: string
  readonly rounds: number
  readonly quick: boolean
  readonly args: string
  readonly servers: readonly ServerKind[]
  /** Where both servers keep their data. */
  backend: BackendName
  /** The reference registry's storage, as the header names it. */
  referenceStorage: string
  /** Nodes of each server behind nginx; absent: one server, no balancer. */
  nodes?: number
  /** nginx's CPU over the run, per server kind, seconds (with nodes > 1). */
  balancerCpuSeconds?: Partial<Record<ServerKind, number>>
  wallSeconds: number
  otherCpuAtStartPct?: number
  limits?: MachineLimits
  readonly phases: PhaseRecord[]
  readonly scenarios: ScenarioRecord[]
}

/** A metric key of a phase, or CPU_METRIC for the server CPU per operation. */
export const CPU_METRIC = 'server CPU per op'

/**
 * ratio-min: Wharf/reference >= value; ratio-max: Wharf/reference <= value; limit-min: Wharf / the
 * machine limit `limit` of the same run >= value; self-ratio-min: Wharf's metric / Wharf's same metric in
 * phase `of` >= value; below: Wharf < value; rss-max: Wharf's peak RSS <= value MiB in every scenario.
 */
export type TargetDef =
  | { readonly label: string; readonly kind: 'ratio-min' | 'ratio-max' | 'below'; readonly phaseId: string; readonly metric: string; readonly value: number }
  | { readonly label: string; readonly kind: 'limit-min'; readonly phaseId: string; readonly metric: string; readonly value: number; readonly limit: 'diskWriteFsyncMBps' | 'smallFsyncPerSec' }
  | { readonly label: string; readonly kind: 'self-ratio-min'; readonly phaseId: string; readonly metric: string; readonly value: number; readonly of: string }
  | { readonly label: string; readonly kind: 'rss-max'; readonly value: number }

export const TARGETS: readonly TargetDef[] = [
  { label: 'pull >= 1.0x reference', phaseId: 'pull', metric: 'mbps', kind: 'ratio-min', value: 1 },
  // the same blobs on both servers: the ratio of CPU per blob is the ratio of CPU per byte
  { label: 'pull: server CPU per byte <= 1.2x reference', phaseId: 'pull', metric: CPU_METRIC, kind: 'ratio-max', value: 1.2 },
  { label: 'monolithic push >= 90% of write+fsync', phaseId: 'push', metric: 'mbps', kind: 'limit-min', value: 0.9, limit: 'diskWriteFsyncMBps' },
  { label: 'chunked push >= 90% of Wharf monolithic push', phaseId: 'chunked', metric: 'mbps', kind: 'self-ratio-min', value: 0.9, of: 'push' },
  { label: '4 KiB pushes >= 50% of 4 KiB write+fdatasync', phaseId: 'small-blobs', metric: 'rate', kind: 'limit-min', value: 0.5, limit: 'smallFsyncPerSec' },
  { label: '4 KiB pushes >= 6x reference', phaseId: 'small-blobs', metric: 'rate', kind: 'ratio-min', value: 6 },
  { label: 'manifest PUT >= 6x reference', phaseId: 'manifest-put', metric: 'rate', kind: 'ratio-min', value: 6 },
  { label: 'manifest PUT: Wharf CPU < 0.4 ms per PUT', phaseId: 'manifest-put', metric: CPU_METRIC, kind: 'below', value: 0.4 },
  { label: 'tag listing time <= 1.0x reference', phaseId: 'tag-list', metric: 'ms', kind: 'ratio-max', value: 1 },
  { label: 'peak RSS <= 120 MiB in every scenario', kind: 'rss-max', value: 120 },
  { label: 'start-up to first answer < 1000 ms', phaseId: 'scale-restart', metric: 'v2', kind: 'below', value: 1000 },
]

const MiB = 1024 * 1024

function medianOf(record: ServerPhaseRecord | undefined, metric: string): number {
  if (record === undefined || record.rounds.length === 0) return Number.NaN
  return median(record.rounds.map((r) => metric === CPU_METRIC ? r.cpuPerOpMs : r.metrics[metric] ?? Number.NaN))
}

function cell(record: ServerPhaseRecord | undefined, metric: string): string {
  if (record === undefined) return '—'
  if (record.rounds.length === 0) return `FAILED${record.error ? `: ${shorten(record.error)}` : ''}`
  const values = record.rounds.map((r) => r.metrics[metric] ?? Number.NaN)
  const [lo, hi] = minMax(values)
  const text = values.length > 1 ? `${formatNumber(median(values))} (${formatNumber(lo)}..${formatNumber(hi)})` : formatNumber(median(values))
  return record.error ? `${text} FAILED: ${shorten(record.error)}` : text
}

function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').replace(/\|/g, '/')
  return oneLine.length > 140 ? `${oneLine.slice(0, 140)}…` : oneLine
}

function ratioText(ref: number, wharf: number): string {
  if (!Number.isFinite(ref) || !Number.isFinite(wharf) || ref === 0) return '—'
  return `${(wharf / ref).toFixed(2)}x`
}

function cpuCell(record: ServerPhaseRecord | undefined, opLabel: string): string {
  if (record === undefined || record.rounds.length === 0) return '—'
  return `${formatNumber(median(record.rounds.map((r) => r.cpuPerOpMs)))} ms/${opLabel}`
}

function benchCpuCell(record: ServerPhaseRecord | undefined): string {
  if (record === undefined || record.rounds.length === 0) return '—'
  return `${median(record.rounds.map((r) => r.benchCpuPct)).toFixed(0)}%`
}

export function peakRss(run: RunRecord, kind: ServerKind): number {
  let peak = Number.NaN
  for (const scenario of run.scenarios) {
    const value = scenario.peakRssBytes[kind]
    if (value !== undefined && Number.isFinite(value)) peak = Number.isFinite(peak) ? Math.max(peak, value) : value
  }
  return peak
}

export interface TargetResult { readonly label: string; readonly value: string; readonly met: boolean | undefined }

export function evaluateTargets(run: RunRecord): TargetResult[] {
  const results: TargetResult[] = []
  const wharfOf = (phaseId: string): ServerPhaseRecord | undefined => run.phases.find((p) => p.phaseId === phaseId)?.servers.wharf
  const fmt = (value: number, unit: string): string => Number.isFinite(value) ? `${formatNumber(value)}${unit}` : 'n/a'
  for (const target of TARGETS) {
    if (target.kind === 'rss-max') {
      // the largest of the scenarios' peaks: every scenario is within the target when it is
      const peak = peakRss(run, 'wharf') / MiB
      const worst = run.scenarios.find((s) => s.peakRssBytes.wharf !== undefined && s.peakRssBytes.wharf / MiB === peak)
      results.push({ label: target.label, value: Number.isFinite(peak) ? `${peak.toFixed(0)} MiB (${worst?.id ?? '?'})` : 'n/a', met: Number.isFinite(peak) ? peak <= target.value : undefined })
      continue
    }
    const phase = run.phases.find((p) => p.phaseId === target.phaseId)
    if (phase === undefined) continue
    const wharfRecord = phase.servers.wharf
    const wharf = medianOf(wharfRecord, target.metric)
    const unit = target.metric === CPU_METRIC ? ` ms/${phase.opLabel}` : ` ${phase.metrics.find((m) => m.key === target.metric)?.unit ?? ''}`
    let ratio: number
    let text: string
    switch (target.kind) {
      case 'ratio-min':
      case 'ratio-max': {
        const ref = medianOf(phase.servers.reference, target.metric)
        ratio = wharf / ref
        text = Number.isFinite(ratio) ? `${ratio.toFixed(2)}x (${fmt(wharf, unit)} vs ${fmt(ref, unit)})` : 'n/a'
        break
      }
      case 'limit-min': {
        const limit = run.limits?.[target.limit] ?? Number.NaN
        ratio = wharf / limit
        text = Number.isFinite(ratio) ? `${(ratio * 100).toFixed(0)}% (${fmt(wharf, unit)} of ${fmt(limit, unit)})` : `n/a${run.limits ? '' : ' (no machine limits: --no-machine)'}`
        break
      }
      case 'self-ratio-min': {
        const of = medianOf(wharfOf(target.of), target.metric)
        ratio = wharf / of
        text = Number.isFinite(ratio) ? `${(ratio * 100).toFixed(0)}% (${fmt(wharf, unit)} of ${fmt(of, unit)})` : 'n/a'
        break
      }
      case 'below':
        ratio = wharf
        text = fmt(wharf, unit)
        break
    }
    let met: boolean | undefined = !Number.isFinite(ratio) ? undefined
      : target.kind === 'ratio-max' ? ratio <= target.value
        : target.kind === 'below' ? ratio < target.value
          : ratio >= target.value
    if (wharfRecord?.error !== undefined) { met = false; text += ' (check failed)' }
    results.push({ label: target.label, value: text, met })
  }
  return results
}

export function renderRun(run: RunRecord): string {
  const lines: string[] = []
  const iso = run.date.toISOString().replace('T', ' ').slice(0, 16)
  const onBackend = `${run.backend === 'filesystem' ? '' : `, backend ${run.backend}`}${run.nodes !== undefined ? `, ${run.nodes} node${run.nodes === 1 ? '' : 's'} each behind nginx` : ''}`
  lines.push(`### ${iso} UTC — commit ${run.commit}${onBackend}${run.quick ? ' (quick smoke run)' : ''}`)
  lines.push('')
  lines.push(`- Machine: ${run.machine}; Node ${run.nodeVersion}`)
  lines.push(`- Backend: ${run.backend}${run.backend === 'filesystem' ? '' : ' (one Ceph radosgw for the run, a bucket per server'
    + `${run.backend === 's3+postgres' ? '; Wharf\'s metadata in PostgreSQL 15, a database per server' : ''}; on the same cores, so its CPU counts as background CPU)`}`)
  lines.push(`- Reference: ${run.referenceVersion} (${run.referenceStorage}, delete enabled, access log off)`)
  if (run.nodes !== undefined) {
    const balancer = Object.entries(run.balancerCpuSeconds ?? {}).map(([kind, seconds]) => `${kind} ${seconds.toFixed(1)} s`).join(', ')
    lines.push(`- Nodes: ${run.nodes} of each server behind nginx (round-robin, streaming), sharing the bucket (and Wharf's database); CPU and peak RSS are the nodes' sums; nginx's own CPU: ${balancer || 'n/a'}`)
  }
  lines.push(`- Rounds: ${run.rounds}, alternating reference, Wharf, reference, Wharf, …; medians with (min..max) over rounds; fresh servers and storage per scenario`)
  lines.push(`- Command: \`node dist/bench/run.js${run.args ? ` ${run.args}` : ''}\`; wall time ${formatDuration(run.wallSeconds)}`)
  // weighted by round duration: a round of a few ms says nothing at 10 ms tick resolution
  const rounds = run.phases.flatMap((p) => Object.values(p.servers).flatMap((s) => s?.rounds ?? []))
  const timed = rounds.filter((r) => r.seconds >= 1)
  if (timed.length > 0) {
    const worst = Math.max(...timed.map((r) => r.otherCpuPct))
    const mean = timed.reduce((sum, r) => sum + r.otherCpuPct * r.seconds, 0) / timed.reduce((sum, r) => sum + r.seconds, 0)
    lines.push(`- Background CPU of other processes during rounds of 1 s or more: mean ${mean.toFixed(0)}%, max ${worst.toFixed(0)}% of a core`
      + `${run.otherCpuAtStartPct !== undefined ? ` (${run.otherCpuAtStartPct.toFixed(0)}% at start)` : ''}`
      + `${worst > 15 ? ' — **the machine was not idle; numbers are distorted**' : ''}`)
  }
  lines.push('')
  if (run.limits) {
    const l = run.limits
    lines.push('Machine limits (same run):')
    lines.push('')
    lines.push('| SHA-256, one core | loopback HTTP download (4 streams) | loopback HTTP upload (4 streams) | sequential write + fsync | 4 KiB write + fdatasync |')
    lines.push('| --- | --- | --- | --- | --- |')
    lines.push(`| ${l.sha256MBps.toFixed(0)} MB/s | ${l.loopbackDownloadMBps.toFixed(0)} MB/s | ${l.loopbackUploadMBps.toFixed(0)} MB/s | ${l.diskWriteFsyncMBps.toFixed(0)} MB/s | ${l.smallFsyncPerSec.toFixed(0)} /s |`)
    lines.push('')
  }
  lines.push('| Scenario | Metric | Reference | Wharf | Wharf/ref | Server CPU per op (ref / Wharf) | Bench CPU (ref / Wharf) |')
  lines.push('| --- | --- | --- | --- | --- | --- | --- |')
  for (const phase of run.phases) {
    const ref = phase.servers.reference
    const wharf = phase.servers.wharf
    phase.metrics.forEach((metric, index) => {
      const first = index === 0
      lines.push(`| ${first ? phase.title : ''} | ${metric.label} (${metric.unit}) | ${cell(ref, metric.key)} | ${cell(wharf, metric.key)} | `
        + `${metric.key === 'errors' ? '' : ratioText(medianOf(ref, metric.key), medianOf(wharf, metric.key))} | `
        + `${first ? `${cpuCell(ref, phase.opLabel)} / ${cpuCell(wharf, phase.opLabel)}` : ''} | ${first ? `${benchCpuCell(ref)} / ${benchCpuCell(wharf)}` : ''} |`)
    })
  }
  lines.push('')
  lines.push('Peak RSS (VmHWM) per scenario, fresh server each scenario:')
  lines.push('')
  lines.push('| Scenario | Reference | Wharf |')
  lines.push('| --- | --- | --- |')
  const rss = (bytes: number | undefined): string => bytes !== undefined && Number.isFinite(bytes) ? `${(bytes / MiB).toFixed(0)} MiB` : '—'
  for (const scenario of run.scenarios) lines.push(`| ${scenario.id} | ${rss(scenario.peakRssBytes.reference)} | ${rss(scenario.peakRssBytes.wharf)} |`)
  lines.push(`| **max** | ${rss(peakRss(run, 'reference'))} | ${rss(peakRss(run, 'wharf'))} |`)
  lines.push('')
  const fills = run.phases.filter((p) => p.servers.reference?.prepareSeconds !== undefined || p.servers.wharf?.prepareSeconds !== undefined)
  if (fills.length > 0) {
    lines.push('Fill time (unmeasured preparation before the rounds, concurrent PUTs):')
    lines.push('')
    lines.push('| Phase | Reference | Wharf |')
    lines.push('| --- | --- | --- |')
    const s = (v: number | undefined): string => v === undefined ? '—' : `${v.toFixed(1)} s`
    for (const phase of fills) lines.push(`| ${phase.title} | ${s(phase.servers.reference?.prepareSeconds)} | ${s(phase.servers.wharf?.prepareSeconds)} |`)
    lines.push('')
  }
  if (run.servers.includes('wharf')) {
    lines.push('Targets (issue 15; machine limits from the same run):')
    lines.push('')
    lines.push('| Target | Value | Met |')
    lines.push('| --- | --- | --- |')
    for (const target of evaluateTargets(run)) lines.push(`| ${target.label} | ${target.value} | ${target.met === undefined ? 'n/a' : target.met ? 'yes' : '**no**'} |`)
    lines.push('')
  } else {
    lines.push('Wharf was not run (not built or not selected); targets not evaluated.')
    lines.push('')
  }
  const failures: string[] = []
  for (const scenario of run.scenarios) {
    for (const [kind, error] of Object.entries(scenario.errors)) failures.push(`- ${scenario.id} on ${kind}: ${shorten(error ?? '')}`)
  }
  for (const phase of run.phases) {
    for (const [kind, record] of Object.entries(phase.servers)) if (record?.error && !record.error.startsWith('setup: ')) failures.push(`- ${phase.phaseId} on ${kind}: ${shorten(record.error)}`)
  }
  if (failures.length > 0) {
    lines.push('Failed checks:')
    lines.push('')
    lines.push(...failures)
    lines.push('')
  }
  return lines.join('\n')
}

export function formatDuration(seconds: number): string {
  const m = Math.floor(seconds / 60)
  const s = Math.round(seconds - m * 60)
  return m > 0 ? `${m} min ${s} s` : `${s} s`
}

const MARKER = '<!-- bench runs below, newest first -->'
const SECTION = `## Wharf vs reference registry (\`npm run bench\`)

Wharf side by side with the reference registry (Debian \`docker-registry\`, distribution 2.8), on the same machine,
in the same run. Produced by \`npm run bench\` (\`bench/run.ts\`); every run prepends its section below.

How to read: each scenario starts both servers fresh (own loopback port, fresh temp storage) and runs the
rounds alternating reference, Wharf, reference, Wharf, …. A cell is the median over rounds with (min..max).
"Wharf/ref" is the ratio of medians (for times, lower is better). "Server CPU per op" is the server process's
utime+stime during the round divided by the operations in it (from /proc/PID/stat); "Bench CPU" is the
load generator's own CPU in the round as a share of one core (the machine has 2 cores, shared by server
and load generator). "Background CPU" is what every other process on the machine used meanwhile: a run with
more than a few percent there is distorted. Every answer is checked (status codes, digests, pulled bytes
hashed, listings complete); a failed check fails the scenario.

Scenarios shaped like what users do: \`mixed\` sends 500 manifest GETs/s on a clock over 64 connections
(open loop: a read's latency counts from its scheduled time, so queueing shows; a read no connection was
free to send before the end counts with its wait and not as achieved) while 16 clients push small images
(config, 4 KiB layer, manifest) as fast as they can: images/s, push p99 per image, read p99, reads
achieved/s, errors. \`cold-pull\` is \`docker pull\` of one platform of a 2-platform index on a client with
nothing cached: the index by tag, the platform manifest, the config, then 20 layers (~100 MiB) three at a
time, every byte hashed; wall time per pull, one pull per platform each round. \`cache-import\` is a BuildKit
\`--cache-from type=registry\` read: the cache index, its cache config, then HEAD and GET of 200 blobs of
1-64 KiB, 16 at a time; wall time per import. \`scale-tags\` ends by restarting each server on the storage it
filled (no re-fill) and timing, from the spawn, the first 200 to GET /v2/ and then to a manifest GET by tag,
polled every 5 ms on fresh connections; its server CPU is the new process's until then. Targets compare
Wharf with the reference, with itself (chunked vs monolithic push) or with the machine limits measured in
the same run (n/a with \`--no-machine\`).

Note: the reference registry 2.8 ignores \`n\`/\`last\` on tags/list and returns every tag in one unsorted page;
the bench follows Link headers where given and checks completeness on both.

${MARKER}
`

export function prependToBenchmarks(file: string, run: string): void {
  let content = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n'
  if (!content.includes(MARKER)) {
    // the comparison section goes first, right below the title; other benchmarks' sections stay below it
    const title = /^# .*\n/m.exec(content)
    const at = title ? title.index + title[0].length : 0
    content = `${content.slice(0, at)}\n${SECTION}\n${content.slice(at).replace(/^\n*/, '')}`
  }
  const at = content.indexOf(MARKER) + MARKER.length
  content = `${content.slice(0, at)}\n\n${run.trim()}\n${content.slice(at).replace(/^\n*/, '\n')}`
  writeFileSync(file, content.replace(/\n*$/, '\n'))
}
