import { systemClock, type Clock } from '../context/clock.js'
import type { LoginThrottle } from './parts.js'

export interface LoginThrottleOptions {
  /** Failed logins within the window, from one address or for one user name, before logins wait. */
  readonly failures: number
  readonly windowSeconds: number
  readonly clock?: Clock
  /** Addresses and user names tracked at most (memory bound); the least recently failed go first. */
  readonly maxEntries?: number
}

/**
 * Failed logins counted in a sliding window, per client address and per user name separately:
 * guessing many passwords for one user from many addresses, or many users' passwords from one
 * address, is slowed down either way. In memory, per process.
 */
export class InMemoryLoginThrottle implements LoginThrottle {
  /** Key (`a:<address>` or `u:<user>`) → times of its latest failures, oldest first, at most `failures` of them. */
  private readonly failuresOf = new Map<string, number[]>()
  private readonly clock: Clock
  private readonly windowMs: number
  private readonly maxEntries: number

  constructor(private readonly options: LoginThrottleOptions) {
    if (!Number.isSafeInteger(options.failures) || options.failures < 1) throw new RangeError('failures must be a positive integer')
    this.clock = options.clock ?? systemClock
    this.windowMs = options.windowSeconds * 1000
    this.maxEntries = options.maxEntries ?? 100_000
  }

  retryAfterSeconds(address: string, user: string): number | undefined {
    const now = this.clock.now()
    let waitMs = 0
    for (const key of this.keys(address, user)) {
      const times = this.recent(key, now)
      // Over the limit: wait until the oldest failure counted leaves the window.
      if (times !== undefined && times.length >= this.options.failures) waitMs = Math.max(waitMs, times[0]! + this.windowMs - now)
    }
    return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : undefined
  }

  failed(address: string, user: string): void {
    const now = this.clock.now()
    for (const key of this.keys(address, user)) {
      const times = this.recent(key, now) ?? []
      times.push(now)
      // Only the latest `failures` matter: the oldest of them says when a login may be tried again.
      if (times.length > this.options.failures) times.splice(0, times.length - this.options.failures)
      // Re-inserted, so the map's order is least recently failed first.
      this.failuresOf.delete(key)
      this.failuresOf.set(key, times)
    }
    this.shrink(now)
  }

  succeeded(_address: string, user: string): void {
    // The user has proven the password; the address keeps its count (it may be guessing others').
    if (user !== '') this.failuresOf.delete(`u:${user}`)
  }

  /** How many addresses and user names are tracked (for tests of the memory bound). */
  get size(): number {
    return this.failuresOf.size
  }

  private keys(address: string, user: string): string[] {
    return user === '' ? [`a:${address}`] : [`a:${address}`, `u:${user}`]
  }

  /** The failures of `key` still in the window; the entry is dropped when none is. */
  private recent(key: string, now: number): number[] | undefined {
    const times = this.failuresOf.get(key)
    if (times === undefined) return undefined
    const firstInWindow = times.findIndex((time) => time > now - this.windowMs)
    if (firstInWindow === -1) { this.failuresOf.delete(key); return undefined }
    if (firstInWindow > 0) times.splice(0, firstInWindow)
    return times
  }

  /**
   * Drops entries whose failures all left the window, and the least recently failed beyond the
   * bound. The map is in order of latest failure, so those come first and the loop stops early.
   */
  private shrink(now: number): void {
    for (const [key, times] of this.failuresOf) {
      const stale = times[times.length - 1]! <= now - this.windowMs
      if (!stale && this.failuresOf.size <= this.maxEntries) break
      this.failuresOf.delete(key)
    }
  }
}
