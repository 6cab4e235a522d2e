import type { IncomingMessage } from 'node:http'
import { RegistryError } from '../errors/registry-error.js'
import { untilAborted } from '../storage/abortable-source.js'

export interface MinimumRate {
  /** 0 turns the check off. */
  readonly bytesPerSecond: number
  /** The window the rate is measured over; a body slower than the minimum for a whole window goes. */
  readonly graceMs: number
}

/**
 * Holds a request body to a minimum rate, so that a slot (an upload, a manifest's memory) costs
 * the client something: a body slower than `bytesPerSecond` over the last `graceMs` is aborted
 * through `signal` (408, the connection closes; what was written stays). Only time spent waiting
 * for the client counts, never time the server spends writing, so a slow disk cuts nobody off.
 */
export class BodyRateGuard {
  /** Made on first use of `signal` (dear per request; a manifest read never asks for it). */
  private controller: AbortController | undefined
  /** The 408 once the body was cut off. */
  private cutOffReason: RegistryError | undefined
  private cutOffListener: ((reason: RegistryError) => void) | undefined
  private readonly rate: MinimumRate
  private bytes = 0
  private waitedMs = 0
  private waitingSince: number | undefined
  /** (waited, bytes) once per tick, covering at least the last window. */
  private readonly samples: Array<{ readonly waitedMs: number; readonly bytes: number }> = [{ waitedMs: 0, bytes: 0 }]
  private readonly timer: NodeJS.Timeout | undefined

  constructor(rate: MinimumRate) {
    this.rate = rate
    if (rate.bytesPerSecond > 0 && rate.graceMs > 0) {
      this.timer = setInterval(() => this.check(), Math.min(1000, Math.max(50, rate.graceMs / 4)))
      this.timer.unref()
    }
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.cutOffReason !== undefined) this.controller.abort(this.cutOffReason)
    }
    return this.controller.signal
  }

  /** The 408 when the body was cut off, else undefined. */
  get cutOff(): RegistryError | undefined {
    return this.cutOffReason
  }

  /** Calls `listener` when the body is cut off (one listener at a time); returns its removal. */
  whenCutOff(listener: (reason: RegistryError) => void): () => void {
    this.cutOffListener = listener
    return () => { if (this.cutOffListener === listener) this.cutOffListener = undefined }
  }

  /** Body bytes read so far. */
  get bytesRead(): number {
    return this.bytes
  }

  /** `source`, counted: bytes, and the time spent waiting for each next chunk. */
  async *measure(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    this.startWaiting()
    try {
      for await (const chunk of source) {
        this.received(chunk.byteLength)
        yield chunk
        this.startWaiting()
      }
    } finally {
      this.stopWaiting()
    }
  }

  /** Waiting for the client's next bytes from now on. */
  startWaiting(): void {
    this.waitingSince = performance.now()
  }

  /** `bytes` arrived: the wait for them ends. */
  received(bytes: number): void {
    this.stopWaiting()
    this.bytes += bytes
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
  }

  stopWaiting(): void {
    if (this.waitingSince !== undefined) this.waitedMs += performance.now() - this.waitingSince
    this.waitingSince = undefined
  }

  private check(): void {
    const waited = this.waitedMs + (this.waitingSince !== undefined ? performance.now() - this.waitingSince : 0)
    this.samples.push({ waitedMs: waited, bytes: this.bytes })
    while (this.samples.length > 1 && this.samples[1]!.waitedMs <= waited - this.rate.graceMs) this.samples.shift()
    const first = this.samples[0]!
    const window = waited - first.waitedMs
    if (window < this.rate.graceMs) return
    if ((this.bytes - first.bytes) * 1000 < this.rate.bytesPerSecond * window) {
      this.stop()
      this.cutOffReason = new RegistryError('BLOB_UPLOAD_INVALID', {
        status: 408,
        message: `request body slower than ${this.rate.bytesPerSecond} bytes per second`,
        detail: { minBytesPerSecond: this.rate.bytesPerSecond, windowSeconds: this.rate.graceMs / 1000 },
      })
      this.controller?.abort(this.cutOffReason)
      this.cutOffListener?.(this.cutOffReason)
    }
  }
}

const guards = new WeakMap<IncomingMessage, BodyRateGuard>()

/**
 * Puts `request`'s body under a minimum rate until the response closes; see requestBody. Returns
 * the signal aborted (with the 408) when the body is cut off, made when first asked for.
 */
export function guardBodyRate(request: IncomingMessage, rate: MinimumRate, closed: { once(event: 'close', listener: () => void): unknown }): () => AbortSignal {
  const guard = new BodyRateGuard(rate)
  guards.set(request, guard)
  closed.once('close', () => guard.stop())
  return () => guard.signal
}

/** Bytes of `request`'s body read so far through requestBody (every upload and manifest body is guarded); 0 for others. */
export function bodyBytesRead(request: IncomingMessage): number {
  return guards.get(request)?.bytesRead ?? 0
}

/**
 * The body to read: when guarded, counted against the minimum rate and ending at once (with the
 * 408) when cut off, even while it waits for a client that sends nothing (the signal guardBodyRate
 * returned, part of the request context's, says so too).
 */
export function requestBody(request: IncomingMessage): AsyncIterable<Uint8Array> {
  const guard = guards.get(request)
  return guard === undefined ? request : untilAborted(guard.measure(request), guard.signal)
}

/**
 * Reads `request`'s whole body into `onChunk` as requestBody does (counted against the minimum
 * rate when guarded; failing with the 408 at once when cut off), but with stream events rather than
 * async iterators, which cost more than a small body (a manifest) itself. On failure the request is
 * left paused: the error handler reads and drops what remains (lingering-close.ts).
 */
export function readWholeBody(request: IncomingMessage, onChunk: (chunk: Buffer) => void): Promise<void> {
  const guard = guards.get(request)
  return new Promise<void>((resolve, reject) => {
    if (guard?.cutOff !== undefined) { reject(guard.cutOff); return }
    if (request.readableEnded) { resolve(); return }
    if (request.destroyed) { reject(prematureClose()); return }
    const settle = (err?: unknown): void => {
      request.off('data', onData).off('end', onEnd).off('error', settle).off('close', onClose)
      stopListening?.()
      guard?.stopWaiting()
      if (err === undefined) { resolve(); return }
      request.pause()
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      guard?.received(chunk.byteLength)
      try {
        onChunk(chunk)
      } catch (err) {
        settle(err)
        return
      }
      guard?.startWaiting()
    }
    const onEnd = (): void => settle()
    // As an async iterator does: a stream closed before its end is a premature close.
    const onClose = (): void => settle(prematureClose())
    const stopListening = guard?.whenCutOff(settle)
    guard?.startWaiting()
    request.on('data', onData).on('end', onEnd).on('error', settle).on('close', onClose)
  })
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
}
