import type { Coordination, Lease } from './coordination.js'
import { KeyedMutex } from './keyed-mutex.js'

/** Coordination within one process: in-memory locks, leases and synchronous invalidation listeners. */
export class InProcessCoordination implements Coordination {
  private readonly locks = new KeyedMutex()
  private readonly leases = new Set<string>()
  private readonly listeners = new Set<(repo: string | undefined) => void>()

  lock<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.locks.run(key, work)
  }

  lockAll<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    return this.locks.runAll(keys, work)
  }

  tryLock<T>(key: string, work: () => Promise<T>): Promise<T | undefined> {
    return this.locks.tryRun(key, work)
  }

  async lease(name: string): Promise<Lease | undefined> {
    if (this.leases.has(name)) return undefined
    this.leases.add(name)
    let held = true
    return {
      get held() { return held },
      release: async () => {
        if (!held) return
        held = false
        this.leases.delete(name)
      },
    }
  }

  invalidate(repo: string | undefined): void {
    for (const listener of this.listeners) listener(repo)
  }

  onInvalidate(listener: (repo: string | undefined) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Nothing to release: every lock and lease lives in this process's memory. */
  async close(): Promise<void> {}
}
