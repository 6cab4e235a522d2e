import { RegistryError } from '../errors/registry-error.js'
import { globToRegExp } from '../oci/glob.js'
import type { Caller } from './caller.js'
import type { AccessPolicy, AccessRules } from './policy.js'
import { REPOSITORY_ACTIONS, type Action, type Grant, type Need, type Resource } from './scope.js'

/** Without an `auth` section: everyone may do everything, as before access control existed. */
export class OpenPolicy implements AccessPolicy {
  readonly enabled = false
  allows(): boolean { return true }
  authorize(): void { /* everything is allowed */ }
  grantable(_subject: Caller, asked: readonly Grant[]): Grant[] {
    return asked.map((grant) => ({ type: grant.type, name: grant.name, actions: [...grant.actions] }))
  }
}

export const OPEN_POLICY: AccessPolicy = new OpenPolicy()

/** What a need asks of a caller: `*` on the catalog is listing it, on the admin API it is `admin`. */
type Wanted = Action | '*'

interface CompiledRule {
  readonly repositories: RegExp
  readonly actions: ReadonlySet<Action>
}

/**
 * The rules of `auth`: a user may do what the rules naming the user or one of its groups allow,
 * plus what anyone may do (`auth.anonymous`); a robot exactly what its scopes say; a bearer token
 * what its `access` claim grants and, when Wharf issued it, what its subject may do now.
 */
export class RulesPolicy implements AccessPolicy {
  readonly enabled = true
  private readonly anonymous: readonly CompiledRule[]
  /** User name → the rules naming the user directly or through a group (anonymous ones not included). */
  private readonly byUser = new Map<string, CompiledRule[]>()

  constructor(rules: AccessRules) {
    this.anonymous = rules.anonymous.map((rule) => compile(rule.repositories, rule.actions))
    for (const rule of rules.rules) {
      const compiled = compile(rule.repositories, rule.actions)
      const users = new Set(rule.users)
      for (const group of rule.groups) for (const member of rules.groups[group] ?? []) users.add(member)
      for (const user of users) {
        const list = this.byUser.get(user) ?? []
        list.push(compiled)
        this.byUser.set(user, list)
      }
    }
  }

  allows(caller: Caller, resource: Resource, action: Action): boolean {
    return this.permits(caller, resource, action)
  }

  authorize(caller: Caller, needs: readonly Need[]): void {
    const refused = needs.filter((need) => !this.permits(caller, need.resource, need.action))
    if (refused.length === 0) return
    const detail = refused.map((need) => ({ Type: need.resource.type, Name: need.resource.name, Action: need.action }))
    switch (caller.kind) {
      case 'anonymous':
        throw new RegistryError('UNAUTHORIZED', { detail })
      case 'bearer': {
        // A new token can help when the subject may do it (or, for an external issuer's token, might).
        const subject = caller.subject
        if (subject === undefined || needs.every((need) => this.permits(subject, need.resource, need.action))) {
          throw new RegistryError('UNAUTHORIZED', { message: 'the token does not grant the access this request needs', detail })
        }
        throw new RegistryError('DENIED', { detail })
      }
      default:
        throw new RegistryError('DENIED', { detail })
    }
  }

  grantable(subject: Caller, asked: readonly Grant[]): Grant[] {
    const granted: Grant[] = []
    for (const grant of asked) {
      const resource = resourceOf(grant)
      if (resource === undefined) continue
      let actions: string[]
      if (resource.type === 'repository') {
        const wanted = grant.actions.includes('*') ? REPOSITORY_ACTIONS : grant.actions
        actions = REPOSITORY_ACTIONS.filter((action) => wanted.includes(action) && this.permits(subject, resource, action))
      } else {
        // The catalog and the admin API are granted whole (`*`), as registry:2 token servers do.
        actions = this.permits(subject, resource, '*') ? ['*'] : []
      }
      if (actions.length > 0) granted.push({ type: grant.type, name: grant.name, actions })
    }
    return granted
  }

  private permits(caller: Caller, resource: Resource, wanted: Wanted): boolean {
    switch (caller.kind) {
      case 'system':
        return true
      case 'anonymous':
        return rulesAllow(this.anonymous, resource, wanted)
      case 'user':
        return rulesAllow(this.byUser.get(caller.name) ?? [], resource, wanted) || rulesAllow(this.anonymous, resource, wanted)
      case 'robot':
        // As for users, pulling something is enough to list the catalog (it shows only that).
        if (resource.type === 'registry' && resource.name === 'catalog' && caller.scopes.some((scope) => scope.type === 'repository' && (scope.actions.includes('pull') || scope.actions.includes('*')))) return true
        return grantsAllow(caller.scopes, resource, wanted, true)
      case 'bearer':
        return grantsAllow(caller.access, resource, wanted, false) && (caller.subject === undefined || this.permits(caller.subject, resource, wanted))
    }
  }
}

function compile(repositories: string, actions: readonly Action[]): CompiledRule {
  return { repositories: globToRegExp(repositories), actions: new Set(actions) }
}

/**
 * Rules are about repositories, the admin API (`admin` in any rule) and the catalog: whoever may
 * pull some repository may list the catalog, which shows only what the caller may pull.
 */
function rulesAllow(rules: readonly CompiledRule[], resource: Resource, wanted: Wanted): boolean {
  if (resource.type === 'repository') {
    if (wanted === '*') return REPOSITORY_ACTIONS.every((action) => rulesAllow(rules, resource, action))
    return rules.some((rule) => rule.actions.has(wanted) && rule.repositories.test(resource.name))
  }
  if (resource.name === 'admin') return rules.some((rule) => rule.actions.has('admin'))
  return rules.some((rule) => rule.actions.has('pull'))
}

/**
 * Whether grants (a token's `access` claim, exact names; a robot's scopes, globs) cover the
 * wanted action. `*` among a grant's actions covers every action.
 */
function grantsAllow(grants: readonly Grant[], resource: Resource, wanted: Wanted, globs: boolean): boolean {
  if (resource.type === 'repository' && wanted === '*') return REPOSITORY_ACTIONS.every((action) => grantsAllow(grants, resource, action, globs))
  return grants.some((grant) => {
    if (grant.type !== resource.type) return false
    const nameMatches = globs && resource.type === 'repository' ? compiledGlob(grant.name).test(resource.name) : grant.name === resource.name
    if (!nameMatches) return false
    if (grant.actions.includes('*')) return true
    // The catalog and the admin API have one action each: a grant of it in any words covers it.
    if (resource.type === 'registry') return resource.name === 'admin' ? grant.actions.includes('admin') : grant.actions.length > 0
    return wanted !== '*' && grant.actions.includes(wanted)
  })
}

/** A robot's scope globs, compiled once each (a catalog page checks hundreds of names against them). */
const compiledGlobs = new Map<string, RegExp>()
const COMPILED_GLOBS_MAX = 10_000

function compiledGlob(glob: string): RegExp {
  let compiled = compiledGlobs.get(glob)
  if (compiled === undefined) {
    if (compiledGlobs.size >= COMPILED_GLOBS_MAX) compiledGlobs.clear()
    compiled = globToRegExp(glob)
    compiledGlobs.set(glob, compiled)
  }
  return compiled
}

function resourceOf(grant: Grant): Resource | undefined {
  if (grant.type === 'repository') return { type: 'repository', name: grant.name }
  if (grant.type === 'registry' && (grant.name === 'catalog' || grant.name === 'admin')) return { type: 'registry', name: grant.name }
  return undefined
}
