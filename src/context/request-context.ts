import type { Caller } from '../access/caller.js'
import { randomUUID } from 'node:crypto'

export type { Caller }

export const ANONYMOUS: Caller = Object.freeze({ kind: 'anonymous' })

/** Where a request came from, as events report it (registry:2's `request` fields). */
export interface RequestOrigin {
  /** The client's address. */
  readonly address: string
  /** The Host the client asked for. */
  readonly host?: string
  readonly method: string
  readonly userAgent?: string
}

/** What every registry operation receives first: who asks, when to give up, and how logs name the request. */
export interface RequestContext {
  readonly caller: Caller
  /** Aborted when the client's connection closes before the answer (or when a job is stopped). */
  readonly signal: AbortSignal
  /** Appears in log lines, events and the X-Request-Id header. */
  readonly requestId: string
  /** The HTTP request behind it; absent for background work. */
  readonly origin?: RequestOrigin
}

export function systemCaller(job: string): Caller {
  return Object.freeze({ kind: 'system', job })
}

/** A context for background work: caller system, a fresh request id, an optional stop signal. */
export function systemContext(job: string, signal: AbortSignal = new AbortController().signal): RequestContext {
  return { caller: systemCaller(job), signal, requestId: `${job}-${randomUUID()}` }
}
