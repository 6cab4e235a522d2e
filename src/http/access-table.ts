import type { Need, RepositoryAction } from '../access/scope.js'
import { parseRepoName } from '../oci/names.js'
import { parseV2Path, type V2Route } from './v2-path.js'
import { parseRepositoriesApiPath, REPOSITORIES_API_PREFIX, type RepositoriesApiRoute } from './wharf-api-path.js'

/** What a request needs before anything of it is read: the one table of who may call what. */
export interface RouteAccess {
  /** Every pair must be allowed. */
  readonly needs: readonly Need[]
  /**
   * With access control on, the caller must not be anonymous even though nothing is needed: the
   * /v2/ base, whose 401 is where clients learn how to log in (as registry:2 answers).
   */
  readonly login: boolean
  /**
   * What a 401's challenge asks a token for besides the needs: pull on a mount's `from`, which is
   * not required (without it the mount becomes an upload) but lets a client that asks for exactly
   * the challenge's scope mount, as registry:2's challenges do.
   */
  readonly alsoAsks?: readonly Need[]
}

/** The admin API (`/_wharf/`), outside /v2/. */
export const ADMIN_PATH_PREFIX = '/_wharf/'
/** Prometheus metrics on the registry's own port: an admin's, as they tell about every repository. */
export const METRICS_PATH = '/metrics'

const CATALOG: Need = { resource: { type: 'registry', name: 'catalog' }, action: '*' }
const ADMIN: Need = { resource: { type: 'registry', name: 'admin' }, action: '*' }

function repository(name: string, ...actions: RepositoryAction[]): Need[] {
  return actions.map((action) => ({ resource: { type: 'repository', name }, action }))
}

/**
 * Route → needs. Pushes need pull and push, as registry:2 asks (a client checks what exists before
 * it uploads); a method an endpoint does not have still needs pull, so that only callers who may
 * read a repository learn that it answers 405.
 */
export function accessOf(route: V2Route, method: string): RouteAccess {
  const read = method === 'GET' || method === 'HEAD'
  switch (route.kind) {
    case 'base':
      return { needs: [], login: true }
    case 'catalog':
      return { needs: [CATALOG], login: false }
    case 'unknown':
      return { needs: [], login: false }
    case 'tags':
    case 'referrers':
      return { needs: repository(route.name, 'pull'), login: false }
    case 'manifest':
    case 'blob':
      if (method === 'DELETE') return { needs: repository(route.name, 'delete'), login: false }
      if (route.kind === 'manifest' && method === 'PUT') return { needs: repository(route.name, 'pull', 'push'), login: false }
      return { needs: repository(route.name, 'pull'), login: false }
    case 'uploads':
      return { needs: repository(route.name, 'pull', 'push'), login: false }
    case 'upload':
      // A session's status and cancel change nothing in the repository but still belong to pushing.
      if (read || method === 'DELETE') return { needs: repository(route.name, 'push'), login: false }
      return { needs: repository(route.name, 'pull', 'push'), login: false }
  }
}

/**
 * A pull with `?ns=<prefix>` (the distribution-spec's proxying section, containerd's mirrors) of a
 * configured proxy prefix is a pull of `<prefix>/<name>`: the route names the local repository,
 * so that is what the request needs `pull` on. Other requests are as they are (a registry MAY
 * ignore `ns`).
 */
export function scopedByNamespace(route: V2Route, method: string, ns: string | null, isNamespace: (ns: string) => boolean): V2Route {
  if (ns === null || (method !== 'GET' && method !== 'HEAD') || !isNamespace(ns)) return route
  if (route.kind !== 'manifest' && route.kind !== 'blob' && route.kind !== 'tags' && route.kind !== 'referrers') return route
  if (route.name.startsWith(`${ns}/`)) return route
  return { ...route, name: parseRepoName(`${ns}/${route.name}`) }
}

/**
 * What a request to `path` needs; undefined for paths outside /v2/, the admin API and /metrics (the
 * token endpoint checks its own credentials). `isNamespace` says which `ns` values are proxy prefixes.
 */
export function accessOfPath(method: string, path: string, query: string, isNamespace: (ns: string) => boolean = () => false): (RouteAccess & { readonly route?: V2Route }) | undefined {
  if (path === '/v2' || path.startsWith('/v2/')) {
    const route = scopedByNamespace(parseV2Path(path), method, query === '' ? null : new URLSearchParams(query).get('ns'), isNamespace)
    const access = accessOf(route, method)
    const from = route.kind === 'uploads' && method === 'POST' ? new URLSearchParams(query).get('from') : null
    if (from !== null && from !== '' && new URLSearchParams(query).has('mount')) return { ...access, alsoAsks: repository(from, 'pull'), route }
    return { ...access, route }
  }
  if (path === REPOSITORIES_API_PREFIX || path.startsWith(`${REPOSITORIES_API_PREFIX}/`)) return accessOfRepositoriesApi(parseRepositoriesApiPath(path))
  if (path.startsWith(ADMIN_PATH_PREFIX) || path === METRICS_PATH) return { needs: [ADMIN], login: false }
  return undefined
}

/**
 * The UI's JSON API reads as /v2/ does: what a caller sees of a repository needs pull on it; the
 * repository list needs nothing and shows only what the caller may pull (as the catalog filters).
 * An import is a push; an export a pull.
 */
export function accessOfRepositoriesApi(route: RepositoriesApiRoute): RouteAccess {
  switch (route.kind) {
    case 'repositories':
    case 'unknown':
      return { needs: [], login: false }
    case 'import':
      return { needs: repository(route.name, 'pull', 'push'), login: false }
    case 'tags':
    case 'manifest':
    case 'delete-preview':
    case 'export':
      return { needs: repository(route.name, 'pull'), login: false }
  }
}
