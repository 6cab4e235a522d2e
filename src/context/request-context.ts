import type { Caller } from '../access/caller.js'
import { randomUUID } from 'node:crypto'

export type { Caller }

export const ANONYMOUS: Caller = Object.freeze({ kind: 'anonymous' })

/** What every registry operation receives first: who asks, when to give up, and how logs name the request. */
export interface RequestContext {
  readonly caller: Caller
  /** Aborted when the client's connection closes before the answer (or when a job is stopped). */
  readonly signal: AbortSignal
  /** Appears in log lines, events and the X-Request-Id header. */
  readonly requestId: string
}

export function systemCaller(job: string): Caller {
  return Object.freeze({ kind: 'system', job })
}

/** A context for background work: caller system, a fresh request id, an optional stop signal. */
export function systemContext(job: string, signal: AbortSignal = new AbortController().signal): RequestContext {
  return { caller: systemCaller(job), signal, requestId: `${job}-${randomUUID()}` }
}
