import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Caller } from '../access/caller.js'
import type { Need } from '../access/scope.js'
import type { AccessPolicy } from '../access/policy.js'
import type { Authenticator } from '../auth/parts.js'
import type { RequestContext } from '../context/request-context.js'
import { isRegistryError } from '../errors/registry-error.js'
import type { Html } from '../ui/html.js'
import { messagePage } from '../ui/layout.js'
import { queryString } from '../ui/links.js'
import type { Viewer } from '../ui/viewer.js'
import { readLimitedBody } from './request-body.js'
import { requestContext } from './request-context.js'
import { callerWithSession, csrfTokenOf, isSameOrigin, requireCsrf, type Sessions } from './session.js'
import { RegistryError } from '../errors/registry-error.js'

/** What every UI route needs: who asks (with the session cookie), what they may do, how pages are sent. */
export interface UiAccess {
  readonly policy: AccessPolicy
  readonly authenticator: Authenticator
  /** Absent: no login (access control off, or no token service to sign sessions). */
  readonly sessions?: Sessions
}

/** Pages run nothing inline and load nothing from elsewhere; nobody frames them. */
export const UI_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

export interface UiRequest {
  readonly ctx: RequestContext
  readonly viewer: Viewer
  readonly caller: Caller
  readonly session?: string
}

const ADMIN: Need = { resource: { type: 'registry', name: 'admin' }, action: '*' }

export function isAnonymous(caller: Caller): boolean {
  return caller.kind === 'anonymous'
}

export async function uiRequest(request: FastifyRequest, reply: FastifyReply, access: UiAccess): Promise<UiRequest> {
  const { caller, session } = await callerWithSession(request, access.authenticator, access.sessions, true)
  const admin = allowed(access.policy, caller, [ADMIN])
  const user = caller.kind === 'user' || caller.kind === 'robot' ? caller.name : caller.kind === 'bearer' ? caller.name : undefined
  const accessControl = access.policy.enabled && access.sessions !== undefined
  const viewer: Viewer = {
    accessControl,
    admin,
    mayImport: !access.policy.enabled || !isAnonymous(caller),
    host: request.headers.host ?? 'localhost',
    ...(user !== undefined ? { user } : {}),
    ...(session !== undefined ? { csrf: csrfTokenOf(session) } : {}),
  }
  return { ctx: requestContext(request, reply, caller), viewer, caller, ...(session !== undefined ? { session } : {}) }
}

export function allowed(policy: AccessPolicy, caller: Caller, needs: readonly Need[]): boolean {
  try {
    policy.authorize(caller, needs)
    return true
  } catch {
    return false
  }
}

export function sendHtml(reply: FastifyReply, status: number, page: Html): FastifyReply {
  return reply.code(status)
    .header('Content-Type', 'text/html; charset=utf-8')
    .header('Cache-Control', 'no-cache')
    .header('Content-Security-Policy', UI_CSP)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'same-origin')
    .send(page.text)
}

/** The path and query the request asked for, as a login's `next`. */
function here(request: FastifyRequest): string {
  return request.raw.url ?? '/'
}

/**
 * A refusal or a miss as a page: anonymous callers refused are sent to log in; a known one sees
 * 403; unknown names and digests 404. Anything else is the app's (a 500, logged).
 */
export function sendUiError(request: FastifyRequest, reply: FastifyReply, ui: UiRequest, err: unknown): FastifyReply {
  if (!isRegistryError(err)) throw err
  if ((err.detail as { csrf?: unknown } | undefined)?.csrf === true) return sendHtml(reply, 403, messagePage(ui.viewer, 'Refused', err.message))
  if ((err.code === 'UNAUTHORIZED' || err.code === 'DENIED') && isAnonymous(ui.caller) && ui.viewer.accessControl) {
    return reply.code(303).header('Location', `/login${queryString({ next: here(request) })}`).header('Cache-Control', 'no-cache').send()
  }
  if (err.code === 'UNAUTHORIZED' || err.code === 'DENIED') return sendHtml(reply, 403, messagePage(ui.viewer, 'Not allowed', err.message))
  if (err.status === 404 || err.code === 'NAME_INVALID' || err.code === 'DIGEST_INVALID' || err.code === 'TAG_INVALID') {
    return sendHtml(reply, 404, messagePage(ui.viewer, 'Not found', err.message))
  }
  if (err.status < 500) return sendHtml(reply, err.status, messagePage(ui.viewer, 'Refused', err.message))
  throw err
}

/**
 * A form the UI posts to itself (application/x-www-form-urlencoded, small): only from this
 * origin; with a session, only with its CSRF token (session.ts says why both).
 */
export async function readUiForm(request: FastifyRequest, ui: UiRequest | undefined): Promise<URLSearchParams> {
  if (!isSameOrigin(request)) throw new RegistryError('DENIED', { message: 'cross-site request refused', detail: { csrf: true } })
  const form = new URLSearchParams((await readLimitedBody(request.raw, 16 * 1024)).toString('utf8'))
  if (ui?.session !== undefined) requireCsrf(request, ui.session, form.get('_csrf') ?? undefined)
  return form
}

/** A local path to go to after a login: never another origin (`//host`, `/\host`, a scheme). */
export function localPath(next: string | null | undefined): string {
  if (next === null || next === undefined || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/'
  return next
}
