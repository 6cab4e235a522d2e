import type { RepoName } from '../oci/names.js'
import { segmentsFromEnd } from './v2-path.js'

/** Where the JSON API of the UI (repositories, tags, manifests, import, export) lives. */
export const REPOSITORIES_API_PREFIX = '/_wharf/v1/repositories'

/**
 * The endpoint a path under /_wharf/v1/repositories addresses. Names may contain slashes, so the
 * endpoint is read from the end, as in /v2/ (segmentsFromEnd):
 *   GET  /_wharf/v1/repositories                                   repositories (filtered, paged)
 *   GET  /_wharf/v1/repositories/<name>/tags                        tags with kind, platforms, size
 *   GET  /_wharf/v1/repositories/<name>/manifests/<digest>          an image, index or artifact in detail
 *   GET  /_wharf/v1/repositories/<name>/delete-preview?tag=|digest= what a deletion takes with it
 *   POST /_wharf/v1/repositories/<name>/import                      an image archive in
 *   GET  /_wharf/v1/repositories/<name>/export?reference=&format=   an image archive out
 * A malformed name throws NAME_INVALID.
 */
export type RepositoriesApiRoute =
  | { readonly kind: 'repositories' }
  | { readonly kind: 'tags'; readonly name: RepoName }
  | { readonly kind: 'manifest'; readonly name: RepoName; readonly digest: string }
  | { readonly kind: 'delete-preview'; readonly name: RepoName }
  | { readonly kind: 'import'; readonly name: RepoName }
  | { readonly kind: 'export'; readonly name: RepoName }
  | { readonly kind: 'unknown' }

export function parseRepositoriesApiPath(rawPath: string): RepositoriesApiRoute {
  if (rawPath === REPOSITORIES_API_PREFIX || rawPath === `${REPOSITORIES_API_PREFIX}/`) return { kind: 'repositories' }
  if (!rawPath.startsWith(`${REPOSITORIES_API_PREFIX}/`)) return { kind: 'unknown' }
  const { count, at, nameBefore } = segmentsFromEnd(rawPath.slice(REPOSITORIES_API_PREFIX.length + 1))
  if (count >= 3 && at(-2) === 'manifests' && at(-1) !== '') return { kind: 'manifest', name: nameBefore(-2), digest: at(-1)! }
  if (count >= 2) {
    const last = at(-1)
    if (last === 'tags' || last === 'delete-preview' || last === 'import' || last === 'export') return { kind: last, name: nameBefore(-1) }
  }
  return { kind: 'unknown' }
}
