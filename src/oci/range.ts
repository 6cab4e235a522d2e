/** An inclusive byte range, as HTTP writes it. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

const CONTENT_RANGE = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/

/**
 * Parses the Content-Range of an upload chunk: "<start>-<end>" per the distribution-spec,
 * also "bytes <start>-<end>/<total>" as some clients send. Undefined when malformed.
 */
export function parseContentRange(header: string): ByteRange | undefined {
  const match = CONTENT_RANGE.exec(header.trim())
  if (match === null) return undefined
  const start = Number(match[1])
  const end = Number(match[2])
  if (end < start) return undefined
  return { start, end }
}

export type RangeRequest =
  | { readonly kind: 'none' }
  | { readonly kind: 'range'; readonly range: ByteRange }
  | { readonly kind: 'unsatisfiable' }

const RANGE = /^bytes=(\d{0,15})-(\d{0,15})$/

/**
 * Interprets a Range header for a body of `size` bytes (RFC 9110 14.2). Multiple ranges and
 * unknown units are ignored (the whole body is served), as the RFC allows.
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'none' }
  const match = RANGE.exec(header.trim())
  if (match === null) return { kind: 'none' }
  const [, first = '', last = ''] = match
  if (first === '' && last === '') return { kind: 'none' }
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'range', range: { start: Math.max(0, size - suffix), end: size - 1 } }
  }
  const start = Number(first)
  if (start >= size) return { kind: 'unsatisfiable' }
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (end < start) return { kind: 'none' }
  return { kind: 'range', range: { start, end } }
}

/** The Range header of an upload session: "0-<offset-1>", and "0-0" before any byte. */
export function formatUploadRange(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`
}
