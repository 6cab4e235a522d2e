import { RegistryError } from '../errors/registry-error.js'

/** Bounds the blob bodies streaming in at once, per client address and in total. */
export class UploadLimiter {
  private readonly perClient: number
  private readonly total: number
  private readonly byClient = new Map<string, number>()
  private active = 0

  constructor(perClient: number, total: number) {
    this.perClient = perClient
    this.total = total
  }

  /** Counts one upload for `client`; returns its release. Throws TOOMANYREQUESTS (429) past a limit. */
  acquire(client: string): () => void {
    const current = this.byClient.get(client) ?? 0
    if (current >= this.perClient || this.active >= this.total) {
      throw new RegistryError('TOOMANYREQUESTS', {
        message: current >= this.perClient ? 'too many concurrent uploads from this client' : 'too many concurrent uploads',
        detail: { limit: current >= this.perClient ? this.perClient : this.total },
      })
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
