import type { ManifestRecord } from './metadata-store.js'

export interface CachedManifest {
  readonly record: ManifestRecord
  readonly body: Buffer
}

/**
 * Recently read manifests by repository and reference, bounded by total body bytes (oldest out
 * first). Correct only while every change goes through the one process that owns the cache: the
 * store invalidates a repository when a write that can change what its references resolve to
 * completes, and fills happen synchronously right after a read, so a fill never follows the
 * invalidation of a newer write.
 */
export class ManifestCache {
  private readonly maxBytes: number
  private readonly entries = new Map<string, CachedManifest>()
  private readonly keysByRepo = new Map<string, Set<string>>()
  private bytes = 0

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes
  }

  private static key(repo: string, reference: string): string {
    return `${repo}\u0000${reference}`
  }

  get(repo: string, reference: string): CachedManifest | undefined {
    return this.entries.get(ManifestCache.key(repo, reference))
  }

  set(repo: string, reference: string, value: CachedManifest): void {
    if (value.body.length > this.maxBytes / 16) return
    const key = ManifestCache.key(repo, reference)
    this.delete(key)
    this.entries.set(key, value)
    this.bytes += value.body.length
    let keys = this.keysByRepo.get(repo)
    if (keys === undefined) this.keysByRepo.set(repo, keys = new Set())
    keys.add(key)
    for (const [oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break
      this.delete(oldest)
    }
  }

  invalidateRepository(repo: string): void {
    for (const key of this.keysByRepo.get(repo) ?? []) this.delete(key)
    this.keysByRepo.delete(repo)
  }

  clear(): void {
    this.entries.clear()
    this.keysByRepo.clear()
    this.bytes = 0
  }

  private delete(key: string): void {
    const entry = this.entries.get(key)
    if (entry === undefined) return
    this.entries.delete(key)
    this.bytes -= entry.body.length
    this.keysByRepo.get(key.slice(0, key.indexOf('\u0000')))?.delete(key)
  }
}
