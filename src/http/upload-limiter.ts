import { RegistryError } from '../errors/registry-error.js'

/**
 * Bounds the blob bodies streaming in at once, per client address and in total. The last quarter
 * of the total is kept for clients that hold few uploads (under a quarter of their own limit), so
 * a handful of addresses at their limit (slow clients trickling bytes, say) cannot take every
 * slot and lock everyone else out until they finish.
 */
export class UploadLimiter {
  private readonly perClient: number
  private readonly total: number
  /** Slots only clients holding fewer than `lightClient` uploads may take. */
  private readonly reserved: number
  private readonly lightClient: number
  private readonly byClient = new Map<string, number>()
  private active = 0

  constructor(perClient: number, total: number) {
    this.perClient = perClient
    this.total = total
    this.reserved = Math.floor(total / 4)
    this.lightClient = Math.max(1, Math.floor(perClient / 4))
  }

  /** Uploads holding a slot now (bodies streaming in). */
  get inProgress(): number {
    return this.active
  }

  /** Counts one upload for `client`; returns its release. Throws TOOMANYREQUESTS (429) past a limit. */
  acquire(client: string): () => void {
    const current = this.byClient.get(client) ?? 0
    if (current >= this.perClient) throw tooMany('too many concurrent uploads from this client', this.perClient)
    if (this.active >= this.total) throw tooMany('too many concurrent uploads', this.total)
    if (this.active >= this.total - this.reserved && current >= this.lightClient) {
      throw tooMany('too many concurrent uploads from this client while the server is busy; the rest is kept for other clients', this.lightClient)
    }
    this.byClient.set(client, current + 1)
    this.active++
    let released = false
    return () => {
      if (released) return
      released = true
      this.active--
      const left = (this.byClient.get(client) ?? 1) - 1
      if (left === 0) this.byClient.delete(client)
      else this.byClient.set(client, left)
    }
  }
}

function tooMany(message: string, limit: number): RegistryError {
  return new RegistryError('TOOMANYREQUESTS', { message, detail: { limit } })
}
