import { setTimeout as delay } from 'node:timers/promises'

export function sleep(ms: number): Promise<void> {
  return delay(ms)
}

/**
 * Polls `probe` until it gives a value (anything but undefined or false) and resolves with it;
 * a probe that throws is tried again. After `timeoutMs` it throws, naming the last error.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 5000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError !== undefined ? `: ${String(lastError)}` : ''}`)
    await delay(intervalMs)
  }
}
