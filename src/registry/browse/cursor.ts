import { RegistryError } from '../../errors/registry-error.js'

/**
 * Opaque page cursors: base64url of a small JSON position (the last row of the page before), so
 * clients never build them and the position can change shape without breaking links.
 */
export function encodeCursor(position: Readonly<Record<string, string | number>>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url')
}

/** The position a cursor holds, checked field by field by `read`; a cursor this API did not give is a 400. */
export function decodeCursor<T>(cursor: string, read: (value: Record<string, unknown>) => T | undefined): T {
  let value: unknown
  try {
    value = cursor.length <= 2048 ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) : undefined
  } catch {
    value = undefined
  }
  const position = typeof value === 'object' && value !== null && !Array.isArray(value) ? read(value as Record<string, unknown>) : undefined
  if (position === undefined) throw invalidCursor()
  return position
}

export function invalidCursor(): RegistryError {
  return new RegistryError('PAGINATION_NUMBER_INVALID', { message: 'invalid cursor: pass the `next` of a previous page as it was given' })
}

/** Page sizes of the JSON API. */
export const DEFAULT_PAGE_SIZE = 50
export const MAX_PAGE_SIZE = 1000

/** The page size asked for, clamped to MAX_PAGE_SIZE; 0 asks for nothing and is refused. */
export function pageSize(n: number | undefined): number {
  if (n === undefined) return DEFAULT_PAGE_SIZE
  if (!Number.isSafeInteger(n) || n < 1) throw new RegistryError('PAGINATION_NUMBER_INVALID', { message: `n must be an integer from 1 to ${MAX_PAGE_SIZE}`, detail: { n } })
  return Math.min(n, MAX_PAGE_SIZE)
}
