/**
 * What processes serving one store must agree on: who may touch a blob or an upload session
 * right now, which process collects garbage or delivers webhooks, and when cached manifests went
 * stale. InProcessCoordination serves one process (the storage lock keeps others off its data
 * directory); IpcCoordination serves the workers of `wharf serve --workers N` on one machine
 * (their primary holds the locks); PostgresCoordination serves several nodes on one database and bucket.
 */
export interface Coordination extends CacheInvalidation {
  /** Runs `work` holding `key`; work for the same key waits its turn. */
  lock<T>(key: string, work: () => Promise<T>): Promise<T>
  /**
   * Runs `work` holding every key. Keys are taken in one global order, so this never waits in a
   * cycle with `lock` or another `lockAll`.
   */
  lockAll<T>(keys: readonly string[], work: () => Promise<T>): Promise<T>
  /** Runs `work` holding `key` unless someone holds or waits for it; undefined then (without running it). */
  tryLock<T>(key: string, work: () => Promise<T>): Promise<T | undefined>
  /**
   * Takes the named lease (at most one holder at a time, e.g. the garbage collector); undefined
   * when someone holds it. A distributed implementation renews it while held.
   */
  lease(name: string): Promise<Lease | undefined>
  /** Releases what it holds (leases, connections); after the registry closed. */
  close(): Promise<void>
}

export interface Lease {
  /**
   * Aborted (with why) when the lease is lost before release, e.g. its holder's database session
   * broke: another process may hold it now, so the holder stops its work.
   */
  readonly lost: AbortSignal
  /** Gives the lease back; calling it again does nothing. */
  release(): Promise<void>
}

/**
 * Manifest caches of every process must drop what a write changed. `invalidate` runs the local
 * listeners before it returns (the writer's own next read must not see stale data); a distributed
 * implementation also tells the other nodes.
 */
export interface CacheInvalidation {
  /**
   * The manifests of `repo` (of every repository when undefined) may have changed. A promise, when
   * returned, settles once the other processes dropped them too (IpcCoordination: every worker
   * answered, or a deadline passed), so that a writer that awaits it answers its client only when
   * no process can serve the old manifest; it never rejects.
   */
  invalidate(repo: string | undefined): void | Promise<void>
  /** Calls `listener` on every invalidation; returns the unsubscribe function. */
  onInvalidate(listener: (repo: string | undefined) => void): () => void
}

/** Lock keys, one namespace per kind of thing locked. */
export const LockKeys = {
  /** Held while a blob is committed, linked (mounted) or removed by garbage collection. */
  blob: (digest: string): string => `blob:${digest}`,
  /** Held while an upload session's file changes (chunks, completion, cancel, purge). */
  upload: (id: string): string => `upload:${id}`,
} as const

/** The lease of the garbage collector: one collection at a time per store. */
export const GC_LEASE = 'gc'

/** The lease of an endpoint's webhook dispatcher: one node delivers its queue, in order. */
export const notificationLease = (endpoint: string): string => `notifications:${endpoint}`
