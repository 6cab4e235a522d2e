/**
 * RFC 9110 §13.1.2 If-None-Match on GET and HEAD: true when the client's copy is current, so the
 * answer is 304 Not Modified. "*" matches any existing representation; otherwise any entity tag of
 * the list matches by weak comparison (W/ ignored). An unquoted digest also matches, as the
 * reference registry accepts it.
 */
export function ifNoneMatchHolds(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false
  const opaque = etag.replace(/^W\//, '')
  const bare = opaque.replace(/^"(.*)"$/, '$1')
  for (const entry of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const candidate = entry.trim().replace(/^W\//, '')
    if (candidate === '*' || candidate === opaque || candidate === bare) return true
  }
  return false
}
