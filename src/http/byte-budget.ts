/**
 * Bounds the bytes held at once by work that must hold them whole (manifest bodies being read,
 * parsed and stored). Requests wait their turn in arrival order instead of being refused: clients
 * push the manifests of an image concurrently and do not all retry a 429 on a manifest PUT.
 * One request larger than the whole budget runs alone.
 */
export class ByteBudget {
  private readonly capacity: number
  private used = 0
  private readonly waiting: Array<{ readonly bytes: number; readonly grant: () => void }> = []

  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity)
  }

  /** Runs `work` once `bytes` fit in the budget, holding them until it settles. */
  async run<T>(bytes: number, work: () => Promise<T>): Promise<T> {
    const held = Math.min(bytes, this.capacity)
    if (this.waiting.length > 0 || this.used + held > this.capacity) {
      await new Promise<void>((resolve) => { this.waiting.push({ bytes: held, grant: resolve }) })
    } else {
      this.used += held
    }
    try {
      return await work()
    } finally {
      this.used -= held
      this.grantWaiting()
    }
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.bytes <= this.capacity) {
      const next = this.waiting.shift()!
      this.used += next.bytes
      next.grant()
    }
  }
}
