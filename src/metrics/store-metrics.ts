import type { Registry } from 'prom-client'
import type { MetadataMaintenance, MetadataStore, RepositoryStorage } from '../metadata/metadata-store.js'
import { HistogramSeries } from './histogram.js'
import { registerRendered, type RenderedValues } from './scraped.js'

/**
 * Repositories shown one by one (the largest by bytes); the others are summed under OTHER_REPOSITORIES.
 * Each one is two series: a few hundred keeps a scrape small and Prometheus' memory bounded on a
 * registry with many thousands of repositories, while the ones that matter for capacity stay visible.
 */
export const TOP_REPOSITORIES = 100
/** Not a valid repository name (names start with a letter or digit), so it cannot collide with one. */
export const OTHER_REPOSITORIES = '_other'
/** How long one storage query answers scrapes: scrapes every few seconds (several Prometheus servers) cost one query. */
export const STORAGE_TTL_MS = 5000

const COMMIT_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

type Store = MetadataStore & Pick<MetadataMaintenance, 'repositoryStorage'>

export interface StoreMetricsOptions {
  readonly topRepositories?: number
  readonly storageTtlMs?: number
  /** Told when the storage query fails (the scrape then leaves those series out). */
  readonly onError?: (err: unknown) => void
}

/**
 * What is stored, read at scrape time from the metadata (one query on the store's maintenance
 * reader thread, off the serving thread, reused for STORAGE_TTL_MS):
 *   wharf_repository_blobs{repository}, wharf_repository_blob_bytes{repository}
 *   wharf_repositories, wharf_storage_blobs, wharf_storage_blob_bytes (distinct blobs)
 * and the metadata writer: wharf_metadata_writes_queued{state}, wharf_metadata_commit_duration_seconds,
 * wharf_metadata_committed_writes_total, wharf_metadata_write_duration_seconds.
 * Returns the function that stops observing the writer.
 */
export function registerStoreMetrics(registry: Registry, store: Store, options: StoreMetricsOptions = {}): () => void {
  const top = options.topRepositories ?? TOP_REPOSITORIES
  const ttlMs = options.storageTtlMs ?? STORAGE_TTL_MS
  let cached: { at: number; storage: Promise<RepositoryStorage | undefined> } | undefined
  const storage = (): Promise<RepositoryStorage | undefined> => {
    const now = Date.now()
    if (cached === undefined || now - cached.at >= ttlMs) {
      cached = { at: now, storage: store.repositoryStorage(top).catch((err: unknown) => { options.onError?.(err); cached = undefined; return undefined }) }
    }
    return cached.storage
  }
  const metric = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => RenderedValues | Promise<RenderedValues>): void => registerRendered(registry, name, help, type, values)
  const perRepository = (field: 'blobs' | 'bytes') => async (): Promise<RenderedValues> => {
    const s = await storage()
    if (s === undefined) return []
    const values: RenderedValues = s.top.map((r) => ({ value: r[field], labels: { repository: r.name } }))
    if (s.rest.repositories > 0) values.push({ value: s.rest[field], labels: { repository: OTHER_REPOSITORIES } })
    return values
  }
  const total = (read: (s: RepositoryStorage) => number) => async (): Promise<RenderedValues> => {
    const s = await storage()
    return s === undefined ? [] : [{ value: read(s), labels: {} }]
  }
  metric('wharf_repository_blobs', `Blobs linked into each repository (the ${top} largest by bytes; the others summed as repository="${OTHER_REPOSITORIES}").`, 'gauge', perRepository('blobs'))
  metric('wharf_repository_blob_bytes', `Bytes of the blobs linked into each repository (a blob shared by several repositories counts in each; the ${top} largest, the others as repository="${OTHER_REPOSITORIES}").`, 'gauge', perRepository('bytes'))
  metric('wharf_repositories', 'Repositories.', 'gauge', total((s) => s.repositories))
  metric('wharf_storage_blobs', 'Distinct blobs stored.', 'gauge', total((s) => s.blobs.count))
  metric('wharf_storage_blob_bytes', 'Bytes of the distinct blobs stored.', 'gauge', total((s) => s.blobs.bytes))

  if (store.writerQueue === undefined || store.observeWriter === undefined) return () => undefined
  const queue = store.writerQueue.bind(store)
  metric('wharf_metadata_writes_queued', 'Metadata writes queued: posted to the writer and not yet committed (state="posted"), or waiting for room to be posted (state="waiting").', 'gauge', () => {
    const q = queue()
    return [{ value: q.posted, labels: { state: 'posted' } }, { value: q.waiting, labels: { state: 'waiting' } }]
  })
  const commits = new HistogramSeries(COMMIT_BUCKETS)
  const answered = new HistogramSeries(COMMIT_BUCKETS)
  let committedWrites = 0
  metric('wharf_metadata_commit_duration_seconds', 'Time the metadata writer spent on one transaction (a batch of writes, group commit), its fsync included.', 'histogram',
    () => commits.samples('wharf_metadata_commit_duration_seconds', {}))
  metric('wharf_metadata_committed_writes_total', 'Metadata writes committed (several per transaction when they arrive together).', 'counter', () => [{ value: committedWrites, labels: {} }])
  metric('wharf_metadata_write_duration_seconds', 'Time from a metadata write being asked for to its answer: the wait in the queue and its commit.', 'histogram',
    () => answered.samples('wharf_metadata_write_duration_seconds', {}))
  return store.observeWriter({
    committed: (writes, seconds) => { commits.observe(seconds); committedWrites += writes },
    answered: (seconds) => answered.observe(seconds),
  })
}
