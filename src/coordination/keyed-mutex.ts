/** Serialises async work per key; keys with no waiter hold no memory. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>()

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const current = new Promise<void>((resolve) => { release = resolve })
    const tail = previous.then(() => current)
    this.tails.set(key, tail)
    await previous
    try {
      return await work()
    } finally {
      release()
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }

  /**
   * Runs `work` holding every key. Keys are taken in sorted order; code that holds one key at a
   * time never waits in a cycle with this.
   */
  async runAll<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort()
    const take = (i: number): Promise<T> => (i === sorted.length ? work() : this.run(sorted[i]!, () => take(i + 1)))
    return take(0)
  }

  /** Runs `work` holding `key` unless some work holds or waits for it; undefined then. */
  async tryRun<T>(key: string, work: () => Promise<T>): Promise<T | undefined> {
    if (this.tails.has(key)) return undefined
    return this.run(key, work)
  }

  /** True while some work holds or waits for `key`. */
  isBusy(key: string): boolean {
    return this.tails.has(key)
  }
}
