import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Caller } from '../access/caller.js'
import type { Authenticator, TokenService } from '../auth/parts.js'
import { ANONYMOUS } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import { credentialsOf } from './request-context.js'

/**
 * The web UI's login session: a cookie holding a refresh-style JWT from the token service
 * (signed with the registry's keys, verified statelessly on any node, its subject looked up again
 * at every request so a removed user's session ends at once). It is issued for its own audience
 * (`<service>:ui-session`), so /token never takes it as a refresh token, nor /v2/ as a bearer token.
 *
 * CSRF: a request authenticated by the cookie that changes anything must (1) come from this
 * origin — `Sec-Fetch-Site: same-origin`, or else an `Origin` equal to the request's own — and
 * (2) carry the CSRF token, a SHA-256 of the session token, in the X-Wharf-CSRF header or the
 * `_csrf` form field. The token needs no server state: only a page of this origin that got it from
 * the server knows it (the cookie itself is HttpOnly), and it changes with every login.
 */

export const SESSION_COOKIE = 'wharf_session'
export const CSRF_HEADER = 'x-wharf-csrf'
export const CSRF_FIELD = '_csrf'

export class Sessions {
  constructor(private readonly tokens: TokenService, private readonly service: string) {}

  private get audience(): string {
    return `${this.service}:ui-session`
  }

  issue(caller: Caller): Promise<string> {
    return this.tokens.issueRefresh(caller, this.audience)
  }

  /** The session's caller; undefined for a forged, expired or stale one (its user gone). */
  verify(token: string): Promise<Caller | undefined> {
    return this.tokens.verifyRefresh(token, this.audience)
  }
}

export function csrfTokenOf(session: string): string {
  return createHash('sha256').update('wharf-csrf\0').update(session).digest('base64url')
}

/** A cookie's value from the Cookie header; undefined when absent. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export function sessionCookie(token: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`
}

export interface SessionCaller {
  readonly caller: Caller
  /** The session token when the cookie named the caller (mutations then need the CSRF checks). */
  readonly session?: string
}

/**
 * Who the request is from: its Authorization header or client certificate first (as on /v2/);
 * else, when `acceptCookie`, a valid session cookie; else anonymous. A stale cookie counts as none.
 */
export async function callerWithSession(request: FastifyRequest, authenticator: Authenticator, sessions: Sessions | undefined, acceptCookie: boolean): Promise<SessionCaller> {
  const credentials = credentialsOf(request)
  const presented = (credentials.authorization ?? '').trim() !== '' || credentials.certificateName !== undefined
  if (presented || sessions === undefined || !acceptCookie) return { caller: await authenticator.authenticate(credentials) }
  const token = cookieValue(request.headers.cookie, SESSION_COOKIE)
  if (token === undefined || token === '') return { caller: ANONYMOUS }
  const caller = await sessions.verify(token)
  return caller === undefined ? { caller: ANONYMOUS } : { caller, session: token }
}

/** Whether the browser says the request comes from a page of this origin. */
export function isSameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site']
  if (site !== undefined) return site === 'same-origin'
  const origin = request.headers.origin
  const host = request.headers.host
  return origin !== undefined && host !== undefined && origin === `${request.protocol}://${host}`
}

function csrfRefused(message: string): RegistryError {
  return new RegistryError('DENIED', { message, detail: { csrf: true } })
}

/** Refuses (403) a cookie-authenticated change that is not same-origin or lacks the session's CSRF token. */
export function requireCsrf(request: FastifyRequest, session: string, formToken?: string): void {
  if (!isSameOrigin(request)) throw csrfRefused('cross-site request refused')
  const header = request.headers[CSRF_HEADER]
  const given = typeof header === 'string' ? header : formToken
  const expected = Buffer.from(csrfTokenOf(session))
  if (given === undefined || Buffer.byteLength(given) !== expected.byteLength || !timingSafeEqual(Buffer.from(given), expected)) {
    throw csrfRefused('missing or wrong CSRF token')
  }
}

export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])
