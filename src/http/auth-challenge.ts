import { formatScope, needScope, type Need } from '../access/scope.js'

/** Where clients are sent for a token. */
export interface ChallengeSettings {
  /** The token endpoint; by default `<scheme>://<Host of the request>/token`. */
  readonly realm?: string
  readonly service: string
}

/** Wharf's own token endpoint, or the trusted external issuer's when `auth.trust` is set. */
export function challengeSettingsFrom(auth: {
  readonly token: { readonly realm?: string; readonly service: string }
  readonly trust?: { readonly realm: string; readonly service: string }
}): ChallengeSettings {
  if (auth.trust !== undefined) return { realm: auth.trust.realm, service: auth.trust.service }
  return { ...(auth.token.realm !== undefined ? { realm: auth.token.realm } : {}), service: auth.token.service }
}

/** A Host header as it may appear inside a quoted string (host, port, IPv6 brackets); anything else is not echoed. */
const SAFE_HOST = /^[A-Za-z0-9.\-:[\]]{1,255}$/

/**
 * `Bearer realm="…",service="…",scope="…"[,error="…"]`, the Docker token protocol's challenge.
 * The scope is everything the route needs (several scopes space separated, as registry:2 sends).
 */
export function bearerChallenge(settings: ChallengeSettings, request: { readonly scheme: 'http' | 'https'; readonly host: string | undefined },
  needs: readonly Need[], error?: 'invalid_token' | 'insufficient_scope'): string {
  const host = request.host !== undefined && SAFE_HOST.test(request.host) ? request.host : 'localhost'
  const realm = settings.realm ?? `${request.scheme}://${host}/token`
  const parts = [`realm="${quoted(realm)}"`, `service="${quoted(settings.service)}"`]
  const scope = needScope(needs).map(formatScope).join(' ')
  if (scope !== '') parts.push(`scope="${quoted(scope)}"`)
  if (error !== undefined) parts.push(`error="${error}"`)
  return `Bearer ${parts.join(',')}`
}

function quoted(value: string): string {
  return value.replace(/["\\]/g, '\\$&')
}
