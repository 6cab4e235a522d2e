import { createHmac, randomUUID } from 'node:crypto'
import type { Caller } from '../context/request-context.js'
import type { EventType, RegistryEvent } from '../events/events.js'

/** registry:2's envelope media type: receivers written for it check this Content-Type. */
export const ENVELOPE_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json'

/** The signature header, `sha256=<hex HMAC-SHA256 of the exact body>` (GitHub's scheme), when the endpoint has a secret. */
export const SIGNATURE_HEADER = 'X-Wharf-Signature-256'

/** What an endpoint may receive, in registry:2's words. */
export type EnvelopeAction = 'push' | 'pull' | 'delete' | 'mount'

/** Blobs have no media type of their own in the registry; registry:2 reports this one. */
const BLOB_MEDIA_TYPE = 'application/octet-stream'

/**
 * One event as registry:2 serializes it (distribution's notifications.Event): empty fields are
 * left out, as Go's `omitempty` does.
 */
export interface EnvelopeEvent {
  readonly id: string
  readonly timestamp: string
  readonly action: EnvelopeAction
  readonly target: {
    readonly mediaType?: string
    readonly size?: number
    readonly digest?: string
    readonly length?: number
    readonly repository: string
    readonly fromRepository?: string
    readonly url?: string
    readonly tag?: string
  }
  readonly request: { readonly id: string; readonly addr?: string; readonly host?: string; readonly method?: string; readonly useragent?: string }
  readonly actor: { readonly name?: string }
  readonly source: { readonly addr: string; readonly instanceID: string }
}

/** This registry as events name it: registry:2's `source` (hostname:port, an id per process start) and the scheme of target URLs. */
export interface EventSource {
  readonly addr: string
  readonly instanceID: string
  readonly scheme: 'http' | 'https'
}

/** Whom registry:2's `actor.name` names: the authenticated user or robot; nobody for anonymous callers and background work. */
function actorName(caller: Caller): string | undefined {
  switch (caller.kind) {
    case 'user':
    case 'robot':
    case 'bearer':
      return caller.name
    default:
      return undefined
  }
}

/** The Wharf event types that become each registry:2 action (the inverse of actionOf). */
export const EVENT_TYPES_OF_ACTION: Readonly<Record<EnvelopeAction, readonly EventType[]>> = {
  push: ['manifest.pushed', 'blob.pushed'],
  mount: ['blob.mounted'],
  delete: ['manifest.deleted', 'tag.deleted', 'blob.deleted'],
  pull: ['manifest.pulled', 'blob.pulled'],
}

/** The registry:2 action a Wharf event becomes; undefined for those not sent. */
export function actionOf(type: RegistryEvent['type']): EnvelopeAction | undefined {
  switch (type) {
    case 'manifest.pushed':
    case 'blob.pushed':
      return 'push'
    case 'blob.mounted':
      return 'mount'
    case 'manifest.deleted':
    case 'tag.deleted':
    case 'blob.deleted':
      return 'delete'
    case 'manifest.pulled':
    case 'blob.pulled':
      return 'pull'
    default:
      return undefined
  }
}

/**
 * The registry:2 events for one Wharf event, in order (none for what registry:2 has no action for).
 * - manifest.pushed: one `push` per tag it was pushed with (one without a tag when untagged);
 * - blob.pushed: `push` of a blob; blob.mounted: `mount`, with `fromRepository` when known;
 * - manifest.deleted, tag.deleted, blob.deleted: `delete` (garbage collection's too: a receiver
 *   keeping an index must learn what is gone; a scheduled collection's have only a request id);
 * - manifest.pulled, blob.pulled: `pull`;
 * - repository.created, tag.moved (a manifest push already says it), collection.finished: nothing.
 */
export function toEnvelopeEvents(event: RegistryEvent, source: EventSource): EnvelopeEvent[] {
  const origin = event.origin
  const base = (action: EnvelopeAction, target: EnvelopeEvent['target']): EnvelopeEvent => {
    const name = actorName(event.caller)
    return {
      id: randomUUID(),
      timestamp: new Date(event.at).toISOString(),
      action,
      target,
      request: {
        id: event.requestId,
        ...(origin !== undefined ? {
          addr: origin.address,
          ...(origin.host !== undefined ? { host: origin.host } : {}),
          method: origin.method,
          ...(origin.userAgent !== undefined ? { useragent: origin.userAgent } : {}),
        } : {}),
      },
      actor: name !== undefined ? { name } : {},
      source: { addr: source.addr, instanceID: source.instanceID },
    }
  }
  // registry:2 builds target URLs from the request's Host; background work has none.
  const urlOf = (repo: string, kind: 'manifests' | 'blobs', digest: string): { url?: string } =>
    origin?.host !== undefined ? { url: `${source.scheme}://${origin.host}/v2/${repo}/${kind}/${digest}` } : {}
  switch (event.type) {
    case 'manifest.pushed':
    case 'manifest.pulled': {
      const action = event.type === 'manifest.pushed' ? 'push' : 'pull'
      const target = { mediaType: event.mediaType, size: event.size, digest: event.digest, length: event.size, repository: event.repo, ...urlOf(event.repo, 'manifests', event.digest) }
      const tags = event.type === 'manifest.pushed' ? event.tags : event.tag !== undefined ? [event.tag] : []
      if (tags.length === 0) return [base(action, target)]
      return tags.map((tag) => base(action, { ...target, tag }))
    }
    case 'blob.pushed':
    case 'blob.pulled':
    case 'blob.mounted':
      return [base(event.type === 'blob.pushed' ? 'push' : event.type === 'blob.pulled' ? 'pull' : 'mount', {
        mediaType: BLOB_MEDIA_TYPE, size: event.size, digest: event.digest, length: event.size, repository: event.repo,
        ...(event.type === 'blob.mounted' && event.from !== undefined ? { fromRepository: event.from } : {}),
        ...urlOf(event.repo, 'blobs', event.digest),
      })]
    case 'manifest.deleted':
    case 'blob.deleted':
      return [base('delete', { digest: event.digest, repository: event.repo })]
    case 'tag.deleted':
      return [base('delete', { ...(event.digest !== undefined ? { digest: event.digest } : {}), repository: event.repo, tag: event.tag })]
    case 'repository.created':
    case 'tag.moved':
    case 'collection.finished':
      return []
  }
}

/** The envelope around events already serialized (each exactly as queued). */
export function envelopeBody(events: readonly string[]): string {
  return `{"events":[${events.join(',')}]}`
}

/** The signature header's value for `body`. */
export function signatureOf(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}
