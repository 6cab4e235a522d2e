import { existsSync, readFileSync, writeFileSync } from 'node:fs'
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
  wallSeconds: number
  otherCpuAtStartPct?: number
  limits?: MachineLimits
  readonly phases: PhaseRecord[]
  readonly scenarios: ScenarioRecord[]
}

export interface TargetDef {
  readonly label: string
  readonly phaseId: string
  readonly metric: string
  /** ratio-min: W/R >= v; ratio-max: W/R <= v; speedup-min: R/W >= v; abs-max: Wharf <= v; rss-max: Wharf peak RSS <= v MiB. */
  readonly kind: 'ratio-min' | 'ratio-max' | 'speedup-min' | 'abs-max' | 'rss-max'
  readonly value: number
}

export const TARGETS: readonly TargetDef[] = [
  { label: 'push >= 3x', phaseId: 'push', metric: 'mbps', kind: 'ratio-min', value: 3 },
  { label: 'chunked push >= 2x', phaseId: 'chunked', metric: 'mbps', kind: 'ratio-min', value: 2 },
  { label: 'small blobs >= 5x', phaseId: 'small-blobs', metric: 'rate', kind: 'ratio-min', value: 5 },
  { label: 'pull >= 1.3x', phaseId: 'pull', metric: 'mbps', kind: 'ratio-min', value: 1.3 },
  { label: 'manifest PUT >= 5x', phaseId: 'manifest-put', metric: 'rate', kind: 'ratio-min', value: 5 },
  { label: 'HEAD+GET rate >= 10x', phaseId: 'head-get', metric: 'rate', kind: 'ratio-min', value: 10 },
  { label: 'HEAD+GET p99 <= 20 ms', phaseId: 'head-get', metric: 'p99', kind: 'abs-max', value: 20 },
  { label: 'tag listing <= reference time', phaseId: 'tag-list', metric: 'ms', kind: 'ratio-max', value: 1 },
  { label: 'catalog >= 15x faster', phaseId: 'catalog', metric: 'ms', kind: 'speedup-min', value: 15 },
  { label: 'mixed: images/s >= 5x', phaseId: 'mixed', metric: 'images', kind: 'ratio-min', value: 5 },
  { label: 'mixed: pulls/s >= 5x', phaseId: 'mixed', metric: 'pulls', kind: 'ratio-min', value: 5 },
  { label: 'mixed: zero errors', phaseId: 'mixed', metric: 'errors', kind: 'abs-max', value: 0 },
  { label: 'peak RSS <= 150 MiB', phaseId: '', metric: '', kind: 'rss-max', value: 150 },
]

const MiB = 1024 * 1024

function medianOf(record: ServerPhaseRecord | undefined, metric: string): number {
  if (record === undefined || record.rounds.length === 0) return Number.NaN
  return median(record.rounds.map((r) => r.metrics[metric] ?? Number.NaN))
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
  for (const target of TARGETS) {
    if (target.kind === 'rss-max') {
      const peak = peakRss(run, 'wharf') / MiB
      results.push({ label: target.label, value: Number.isFinite(peak) ? `${peak.toFixed(0)} MiB` : 'n/a', met: Number.isFinite(peak) ? peak <= target.value : undefined })
      continue
    }
    const phase = run.phases.find((p) => p.phaseId === target.phaseId)
    if (phase === undefined) continue
    const refRecord = phase.servers.reference
    const wharfRecord = phase.servers.wharf
    const ref = medianOf(refRecord, target.metric)
    const wharf = medianOf(wharfRecord, target.metric)
    const failed = wharfRecord?.error !== undefined
    let value: number
    let met: boolean | undefined
    let text: string
    switch (target.kind) {
      case 'ratio-min':
      case 'ratio-max':
        value = wharf / ref
        text = Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a'
        met = Number.isFinite(value) ? (target.kind === 'ratio-min' ? value >= target.value : value <= target.value) : undefined
        break
      case 'speedup-min':
        value = ref / wharf
        text = Number.isFinite(value) ? `${value.toFixed(1)}x faster` : 'n/a'
        met = Number.isFinite(value) ? value >= target.value : undefined
        break
      case 'abs-max':
        value = target.metric === 'errors' && wharfRecord ? Math.max(...wharfRecord.rounds.map((r) => r.metrics.errors ?? 0), 0) : wharf
        text = Number.isFinite(value) ? `${formatNumber(value)}` : 'n/a'
        met = Number.isFinite(value) ? value <= target.value : undefined
        break
    }
    if (failed) { met = false; text += ' (check failed)' }
    results.push({ label: target.label, value: text, met })
  }
  return results
}

export function renderRun(run: RunRecord): string {
  const lines: string[] = []
  const iso = run.date.toISOString().replace('T', ' ').slice(0, 16)
  lines.push(`### ${iso} UTC — commit ${run.commit}${run.quick ? ' (quick smoke run)' : ''}`)
  lines.push('')
  lines.push(`- Machine: ${run.machine}; Node ${run.nodeVersion}`)
  lines.push(`- Reference: ${run.referenceVersion} (filesystem storage, delete enabled, access log off)`)
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
    lines.push('Targets (Wharf/reference):')
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
