import { PerformanceObserver } from 'node:perf_hooks'
import v8 from 'node:v8'

/** New space (both semi-spaces) a server keeps at most, by default: see capYoungGeneration. */
export const DEFAULT_NEW_SPACE_MB = 8

function newSpaceBytes(): number {
  return v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0
}

/**
 * Keeps this thread's young generation near `newSpaceMb` (V8 grows it to 32 MiB under allocation-heavy
 * load, most of a server's peak RSS above its idle size). --max-semi-space-size counts only when the
 * isolate starts, too late from here, but the growth factor is read at each resize: after each
 * garbage collection new space may double only while doubling stays within the cap. A burst of
 * collections within one tick can still overshoot once. Returns a function that stops it.
 */
export function capYoungGeneration(newSpaceMb = DEFAULT_NEW_SPACE_MB): () => void {
  const cap = newSpaceMb * 1024 * 1024
  let growing: boolean | undefined
  const check = (): void => {
    const grow = newSpaceBytes() * 2 <= cap
    if (grow === growing) return
    growing = grow
    v8.setFlagsFromString(`--semi-space-growth-factor=${grow ? 2 : 1}`)
  }
  check()
  const observer = new PerformanceObserver(check)
  observer.observe({ entryTypes: ['gc'] })
  return () => {
    observer.disconnect()
    v8.setFlagsFromString('--semi-space-growth-factor=2')
  }
}
