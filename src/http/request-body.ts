import type { IncomingMessage } from 'node:http'
import { RegistryError } from '../errors/registry-error.js'
import { readWholeBody, requestBody } from './body-rate.js'
import type { ByteBudget } from './byte-budget.js'

/** True when the request carries a body (a non-zero Content-Length or chunked transfer). */
export function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length']
  if (length !== undefined) return length !== '0'
  return request.headers['transfer-encoding'] !== undefined
}

/** The declared Content-Length, or undefined when absent (chunked transfer). */
export function contentLength(request: IncomingMessage): number | undefined {
  const length = request.headers['content-length']
  if (length === undefined) return undefined
  const value = Number(length)
  if (!Number.isSafeInteger(value) || value < 0) throw new RegistryError('SIZE_INVALID', { message: 'invalid Content-Length' })
  return value
}

/**
 * A body over the limit, up to this size, is read and dropped before the 413: a client still
 * sending when the server answered and closed would see a reset instead of the answer (Node's
 * client does, 2 runs in 3). A larger or unknown-length one is refused at once, its connection closed.
 */
export const DRAIN_MAX_BYTES = 8 << 20

function tooLarge(limit: number): RegistryError {
  return new RegistryError('SIZE_INVALID', { message: `manifest exceeds the limit of ${limit} bytes`, status: 413, detail: { limit } })
}

/**
 * Reads a small body (a manifest) whole, refusing more than `limit` bytes with 413. With a
 * Content-Length the bytes land in one buffer of that size (no copies of chunks); the body is the
 * guarded one when the request is under a minimum rate (body-rate.ts).
 */
export async function readLimitedBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = contentLength(request)
  if (declared !== undefined && declared > limit) {
    if (declared <= DRAIN_MAX_BYTES) for await (const _chunk of requestBody(request)) { /* dropped */ }
    throw tooLarge(limit)
  }
  if (declared !== undefined) {
    const buffer = Buffer.allocUnsafe(declared)
    let offset = 0
    // Node's parser never delivers more than the Content-Length.
    await readWholeBody(request, (chunk) => {
      buffer.set(chunk, offset)
      offset += chunk.byteLength
    })
    return offset === declared ? buffer : buffer.subarray(0, offset)
  }
  const body = requestBody(request)
  const parts: Uint8Array[] = []
  let total = 0
  for await (const chunk of body) {
    total += chunk.byteLength
    if (total > limit) throw tooLarge(limit)
    parts.push(chunk)
  }
  return Buffer.concat(parts, total)
}

/**
 * Reads a manifest body (readLimitedBody) and runs `work` on it while its bytes count against
 * `budget`: what the process holds for manifests being read, parsed and stored at once is bounded.
 * A body refused for its declared size is refused without waiting for the budget.
 */
export async function withLimitedBody<T>(request: IncomingMessage, limit: number, budget: ByteBudget | undefined, work: (body: Buffer) => Promise<T>): Promise<T> {
  const declared = contentLength(request)
  if (budget === undefined || (declared !== undefined && declared > limit)) return work(await readLimitedBody(request, limit))
  return budget.run(declared ?? limit, async () => work(await readLimitedBody(request, limit)))
}
