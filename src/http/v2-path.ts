import { RegistryError } from '../errors/registry-error.js'
import { parseRepoName, type RepoName } from '../oci/names.js'

/** The endpoint a /v2/ path addresses; names may contain slashes, so paths are matched from the end. */
export type V2Route =
  | { readonly kind: 'base' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'tags'; readonly name: RepoName }
  | { readonly kind: 'manifest'; readonly name: RepoName; readonly reference: string }
  | { readonly kind: 'blob'; readonly name: RepoName; readonly digest: string }
  | { readonly kind: 'uploads'; readonly name: RepoName }
  | { readonly kind: 'upload'; readonly name: RepoName; readonly id: string }
  | { readonly kind: 'referrers'; readonly name: RepoName; readonly digest: string }
  | { readonly kind: 'unknown' }

/**
 * Parses the raw (still percent-encoded) path of a request under /v2/. A name that does not match
 * the distribution-spec grammar (which excludes "%", "..", "//" and upper case) is NAME_INVALID;
 * a path of no endpoint's shape is 'unknown'.
 */
export function parseV2Path(rawPath: string): V2Route {
  if (rawPath === '/v2' || rawPath === '/v2/') return { kind: 'base' }
  if (!rawPath.startsWith('/v2/')) return { kind: 'unknown' }
  const { count, at, nameBefore } = segmentsFromEnd(rawPath.slice(4))
  if (count === 1 && at(-1) === '_catalog') return { kind: 'catalog' }
  if (count >= 3 && at(-2) === 'tags' && at(-1) === 'list') return { kind: 'tags', name: nameBefore(-2) }
  if (count >= 3 && at(-2) === 'manifests' && at(-1) !== '') return { kind: 'manifest', name: nameBefore(-2), reference: at(-1)! }
  if (count >= 4 && at(-3) === 'blobs' && at(-2) === 'uploads') {
    return at(-1) === '' ? { kind: 'uploads', name: nameBefore(-3) } : { kind: 'upload', name: nameBefore(-3), id: at(-1)! }
  }
  if (count >= 3 && at(-2) === 'blobs' && at(-1) === 'uploads') return { kind: 'uploads', name: nameBefore(-2) }
  if (count >= 3 && at(-2) === 'blobs' && at(-1) !== '') return { kind: 'blob', name: nameBefore(-2), digest: at(-1)! }
  if (count >= 3 && at(-2) === 'referrers' && at(-1) !== '') return { kind: 'referrers', name: nameBefore(-2), digest: at(-1)! }
  return { kind: 'unknown' }
}

/**
 * The segments of a path after its prefix, read from the end: names may contain slashes, so an
 * endpoint is its last segments and the name everything before them (NAME_INVALID if malformed).
 */
export function segmentsFromEnd(rest: string): { readonly count: number; at(i: number): string | undefined; nameBefore(end: number): RepoName } {
  const parts = rest.split('/')
  const count = parts.length
  return {
    count,
    at: (i) => parts[count + i],
    nameBefore: (end) => parseRepoName(parts.slice(0, count + end).join('/')),
  }
}

/** Path and query of a raw request URL, the query still encoded. */
export function splitUrl(rawUrl: string): { readonly path: string; readonly query: string } {
  const q = rawUrl.indexOf('?')
  return q === -1 ? { path: rawUrl, query: '' } : { path: rawUrl.slice(0, q), query: rawUrl.slice(q + 1) }
}

export function unknownRoute(): RegistryError {
  return new RegistryError('UNSUPPORTED', { message: 'unknown API endpoint', status: 404 })
}

/** Decodes a path segment that is not a name (reference, digest, session id); names stay raw. A malformed escape stays as it is. */
export function decodeSegment(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}
