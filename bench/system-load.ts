import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

/**
 * CPU used by the whole machine, so that the runner can tell how much CPU *other* processes
 * (anything but the servers under test and this load generator) took during a measurement.
 * Another build or test suite running at the same time makes every number meaningless.
 */

const CLOCK_TICKS = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { return 100 }
})()

/** Busy CPU seconds of all cores since boot (user+nice+system+irq+softirq+steal). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)
  return busy / CLOCK_TICKS
}

export function benchProcessCpuSeconds(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/** CPU of other processes over `ms`, as % of one core (this process excluded). */
export async function sampleOtherCpu(ms: number): Promise<number> {
  const busy0 = machineBusySeconds()
  const own0 = benchProcessCpuSeconds()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const other = (machineBusySeconds() - busy0) - (benchProcessCpuSeconds() - own0)
  return Math.max(0, other) * 100 / (ms / 1000)
}

/** Waits (at most `maxMs`) until other processes use less than `thresholdPct` of a core; returns the last sample. */
export async function waitForQuiet(thresholdPct: number, maxMs: number, log: (message: string) => void, sampleMs = 2000): Promise<number> {
  const deadline = Date.now() + maxMs
  let sample = await sampleOtherCpu(sampleMs)
  while (sample > thresholdPct && Date.now() < deadline) {
    log(`machine busy: other processes use ${sample.toFixed(0)}% of a core; waiting for quiet (up to ${Math.round((deadline - Date.now()) / 1000)} s)`)
    await new Promise((resolve) => setTimeout(resolve, 10_000))
    sample = await sampleOtherCpu(sampleMs)
  }
  return sample
}
