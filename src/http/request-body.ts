import type { IncomingMessage } from 'node:http'
import { RegistryError } from '../errors/registry-error.js'

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

/** Reads a small body (a manifest) whole, refusing more than `limit` bytes with 413. */
export async function readLimitedBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (): RegistryError => new RegistryError('SIZE_INVALID', {
    message: `manifest exceeds the limit of ${limit} bytes`, status: 413, detail: { limit },
  })
  const declared = contentLength(request)
  if (declared !== undefined && declared > limit) throw tooLarge()
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of request) {
    total += (chunk as Buffer).length
    if (total > limit) throw tooLarge()
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks, total)
}
