import type { Caller } from './caller.js'
import type { Action, Grant, Need, RepositoryAction, Resource } from './scope.js'

/** Who may do what where: `repositories` is a glob (as in `retention`); a rule applies to the users and groups it names. */
export interface AccessRule {
  readonly repositories: string
  readonly users: readonly string[]
  readonly groups: readonly string[]
  readonly actions: readonly Action[]
}

/** What anyone may do without logging in. */
export interface AnonymousRule {
  readonly repositories: string
  readonly actions: readonly RepositoryAction[]
}

export interface AccessRules {
  readonly rules: readonly AccessRule[]
  readonly anonymous: readonly AnonymousRule[]
  /** Group name → user names. */
  readonly groups: Readonly<Record<string, readonly string[]>>
}

/**
 * The one place access is decided. Without an `auth` section the policy is open: everyone may
 * do everything, as before access control existed.
 */
export interface AccessPolicy {
  readonly enabled: boolean
  allows(caller: Caller, resource: Resource, action: Action): boolean
  /**
   * Throws the spec's UNAUTHORIZED (401: nobody logged in, or a token that lacks the scope) or
   * DENIED (403: a known caller whose rules forbid it), naming what was needed in `detail`.
   */
  authorize(caller: Caller, needs: readonly Need[]): void
  /** Of the scopes a client asks a token for, what `subject`'s rules allow (the token's `access` claim). */
  grantable(subject: Caller, asked: readonly Grant[]): Grant[]
}
