/**
 * What a caller may be granted, in the words of the Docker token protocol: a scope names a
 * resource and actions, `repository:team/app:pull,push`, `registry:catalog:*`.
 */
export type RepositoryAction = 'pull' | 'push' | 'delete'
/** `admin` covers `/_wharf/` and everything else that is not the distribution API. */
export type Action = RepositoryAction | 'admin'

export const REPOSITORY_ACTIONS: readonly RepositoryAction[] = ['pull', 'push', 'delete']

/** One entry of a token's `access` claim, exactly as registry:2 tokens carry it. */
export interface Grant {
  readonly type: string
  /** A repository name; in a robot token's scopes, a repository glob (as in `retention`). */
  readonly name: string
  /** `*` stands for every action of the type. */
  readonly actions: readonly string[]
}

/** A resource an access decision is about. The admin API is `registry:admin`, the catalog `registry:catalog`. */
export type Resource =
  | { readonly type: 'repository'; readonly name: string }
  | { readonly type: 'registry'; readonly name: 'catalog' | 'admin' }

/** What one request needs: every pair must be allowed. */
export interface Need {
  readonly resource: Resource
  readonly action: Action | '*'
}

/**
 * Parses a scope as clients send it (`repository:host:5000/app:pull,push`: the name may contain
 * `:`, so type is before the first colon and actions after the last). Undefined when malformed.
 */
export function parseScope(scope: string): Grant | undefined {
  const first = scope.indexOf(':')
  const last = scope.lastIndexOf(':')
  if (first <= 0 || last <= first + 1) return undefined
  const type = scope.slice(0, first)
  const name = scope.slice(first + 1, last)
  const actions = scope.slice(last + 1).split(',').filter((a) => a !== '')
  if (!/^[a-z0-9]+(\([a-z0-9]+\))?$/.test(type)) return undefined
  return { type: type.replace(/\(.*\)$/, ''), name, actions }
}

/** The scope string of a grant: `repository:team/app:pull,push`. */
export function formatScope(grant: Grant): string {
  return `${grant.type}:${grant.name}:${grant.actions.join(',')}`
}

/** The scope a need is asked for in a challenge. */
export function needScope(needs: readonly Need[]): Grant[] {
  const byResource = new Map<string, { type: string; name: string; actions: string[] }>()
  for (const need of needs) {
    const key = `${need.resource.type}:${need.resource.name}`
    const entry = byResource.get(key) ?? { type: need.resource.type, name: need.resource.name, actions: [] }
    if (!entry.actions.includes(need.action)) entry.actions.push(need.action)
    byResource.set(key, entry)
  }
  return [...byResource.values()]
}
