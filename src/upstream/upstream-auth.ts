/**
 * How an upstream registry wants to be authenticated: the challenge of its 401 (RFC 7235), and
 * for the Docker token protocol the tokens its realm issues, cached per scope until they expire.
 */

export interface Challenge {
  /** Lower case: 'bearer' or 'basic'. */
  readonly scheme: string
  readonly params: Readonly<Record<string, string>>
}

/** Parses a WWW-Authenticate header (one challenge: the first). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined) return undefined
  const match = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header)
  if (match === null) return undefined
  const params: Record<string, string> = {}
  const pattern = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy
  const rest = match[2]!
  for (let m = pattern.exec(rest); m !== null && m[0] !== ''; m = pattern.exec(rest)) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!
  }
  return { scheme: match[1]!.toLowerCase(), params }
}

export interface Credentials {
  readonly username: string
  readonly password: string
}

export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`
}

/** Tokens are renewed this long before they expire, so one never runs out during a request. */
const EXPIRY_MARGIN_MS = 10_000
/** What the token protocol says to assume when a token answer gives no expires_in. */
const DEFAULT_TOKEN_SECONDS = 60

/** Bearer tokens per scope, until they expire. */
export class TokenCache {
  private readonly tokens = new Map<string, { readonly token: string; readonly expiresAt: number }>()

  get(scope: string, now: number): string | undefined {
    const entry = this.tokens.get(scope)
    if (entry === undefined) return undefined
    if (entry.expiresAt - EXPIRY_MARGIN_MS <= now) {
      this.tokens.delete(scope)
      return undefined
    }
    return entry.token
  }

  set(scope: string, token: string, expiresInSeconds: number | undefined, now: number): void {
    // Bounded: a cache of many repositories keeps the most recent scopes.
    if (this.tokens.size >= 1000) this.tokens.delete(this.tokens.keys().next().value!)
    this.tokens.set(scope, { token, expiresAt: now + (expiresInSeconds ?? DEFAULT_TOKEN_SECONDS) * 1000 })
  }

  clear(scope: string): void {
    this.tokens.delete(scope)
  }
}

/** The token answer of the Docker token protocol: `token` or (OAuth2) `access_token`. */
export function tokenFromAnswer(answer: unknown): { readonly token: string; readonly expiresIn?: number } | undefined {
  if (typeof answer !== 'object' || answer === null) return undefined
  const a = answer as { token?: unknown; access_token?: unknown; expires_in?: unknown }
  const token = typeof a.token === 'string' && a.token !== '' ? a.token : typeof a.access_token === 'string' && a.access_token !== '' ? a.access_token : undefined
  if (token === undefined) return undefined
  return { token, ...(typeof a.expires_in === 'number' && a.expires_in > 0 ? { expiresIn: a.expires_in } : {}) }
}
