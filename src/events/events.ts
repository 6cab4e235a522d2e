import type { Caller, RequestContext, RequestOrigin } from '../context/request-context.js'

/** Totals of a garbage collection that changed the store. */
export interface CollectionSummary {
  readonly tagsRemoved: number
  readonly manifestsRemoved: number
  readonly repositoriesRemoved: number
  readonly linksRemoved: number
  readonly blobsRemoved: number
  readonly bytesFreed: number
  readonly uploadsPurged: number
  readonly orphanFilesRemoved: number
  readonly durationMs: number
}

/**
 * What changed, published once the change is committed. `tag.moved` is a tag that points at a
 * different manifest than before (or did not exist); a manifest put that leaves a tag where it was
 * moves nothing. Deleting a manifest by digest deletes its tags with it (one `manifest.deleted`).
 */
export type EventPayload =
  | { readonly type: 'repository.created'; readonly repo: string }
  | { readonly type: 'blob.pushed'; readonly repo: string; readonly digest: string; readonly size: number }
  | { readonly type: 'blob.mounted'; readonly repo: string; readonly digest: string; readonly size: number; readonly from?: string }
  | { readonly type: 'blob.deleted'; readonly repo: string; readonly digest: string }
  | {
    readonly type: 'manifest.pushed'; readonly repo: string; readonly digest: string; readonly mediaType: string; readonly size: number
    readonly tags: readonly string[]; readonly subject?: string
  }
  | { readonly type: 'manifest.deleted'; readonly repo: string; readonly digest: string }
  | { readonly type: 'tag.moved'; readonly repo: string; readonly tag: string; readonly digest: string; readonly previous?: string }
  | { readonly type: 'tag.deleted'; readonly repo: string; readonly tag: string; readonly digest?: string }
  | { readonly type: 'collection.finished'; readonly summary: CollectionSummary }
  /** A manifest's body was served (GET; a HEAD is no pull), by tag when `tag` is set. */
  | { readonly type: 'manifest.pulled'; readonly repo: string; readonly digest: string; readonly mediaType: string; readonly size: number; readonly tag?: string }
  /** A blob's bytes were served (GET, whole or a range). */
  | { readonly type: 'blob.pulled'; readonly repo: string; readonly digest: string; readonly size: number }

/** An event as subscribers see it: the payload with the request that caused it. */
export type RegistryEvent = EventPayload & {
  readonly requestId: string
  readonly caller: Caller
  /** The HTTP request that caused it; absent for background work (a collection). */
  readonly origin?: RequestOrigin
  /** When it was published (the clock's milliseconds). */
  readonly at: number
}

export type EventListener = (event: RegistryEvent) => void | Promise<void>

/** Where the registry and the collector publish, after each commit. Publishing never waits and never fails. */
export interface EventSink {
  publish(ctx: RequestContext, payload: EventPayload): void
}

export type EventType = EventPayload['type']

export interface SubscribeOptions {
  /**
   * Only events of these types reach the listener (default: all). Events no subscriber wants are
   * never built: a subscriber of collections alone costs a pull nothing.
   */
  readonly types?: readonly EventType[]
}

/** One bus per process; webhooks, metrics or a UI subscribe to it. */
export interface EventBus extends EventSink {
  /** Returns the unsubscribe function. */
  subscribe(listener: EventListener, options?: SubscribeOptions): () => void
}
