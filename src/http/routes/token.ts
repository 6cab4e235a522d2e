import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Caller } from '../../access/caller.js'
import type { AccessPolicy } from '../../access/policy.js'
import { parseScope, type Grant } from '../../access/scope.js'
import type { Authenticator, Credentials, TokenService } from '../../auth/parts.js'
import { refreshable } from '../../auth/token-service.js'
import { RegistryError } from '../../errors/registry-error.js'
import { sendJson } from '../json-reply.js'
import { Query } from '../query.js'
import { splitUrl } from '../v2-path.js'

export const TOKEN_PATH = '/token'

/** A form body larger than this is no token request. */
const FORM_MAX_BYTES = 16 * 1024

export interface TokenRouteDeps {
  readonly authenticator: Authenticator
  readonly tokens: TokenService
  readonly policy: AccessPolicy
  /** The service this endpoint issues tokens for (`auth.token.service`): `aud` of its tokens. */
  readonly service: string
  /** What a request presents; by default its Authorization header and address (no client certificate). */
  readonly credentials?: (request: FastifyRequest) => Credentials
}

/**
 * The token endpoint of the Docker token protocol, as registry:2's token servers answer it:
 *   GET  /token?service=S&scope=A&scope=B[&offline_token=true]   Basic credentials optional (none: anonymous)
 *   POST /token  (application/x-www-form-urlencoded) grant_type=password (username, password) or
 *                refresh_token (refresh_token); service, scope (space separated), client_id, access_type=offline
 * Answers {token, access_token, expires_in, issued_at, refresh_token?}. The token grants what the
 * subject's rules allow of what was asked (the rest is left out, not refused).
 */
export function registerTokenRoutes(app: FastifyInstance, deps: TokenRouteDeps): void {
  const credentialsOf = deps.credentials ?? ((request: FastifyRequest): Credentials => ({
    authorization: request.headers.authorization, certificateName: undefined, address: request.ip,
  }))

  app.get(TOKEN_PATH, async (request, reply) => challengeOnFailure(reply, deps.service, async () => {
    const query = new Query(splitUrl(request.raw.url ?? '/').query)
    const service = checkService(query.one('service'), deps.service)
    const asked = scopes(query.all('scope'))
    const credentials = credentialsOf(request)
    if (credentials.authorization !== undefined && !/^basic /i.test(credentials.authorization)) {
      throw wrongCredentials('the token endpoint takes Basic credentials')
    }
    const subject = await login(deps, credentials, reply)
    return answer(deps, reply, subject, asked, service, query.one('offline_token') === 'true')
  }))

  app.post(TOKEN_PATH, async (request, reply) => challengeOnFailure(reply, deps.service, async () => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== 'application/x-www-form-urlencoded') {
      throw new RegistryError('UNSUPPORTED', { status: 400, message: 'the token endpoint takes an application/x-www-form-urlencoded form' })
    }
    const form = new URLSearchParams((await readForm(request)).toString('utf8'))
    const service = checkService(form.get('service') ?? undefined, deps.service)
    const asked = scopes((form.get('scope') ?? '').split(' '))
    const offline = form.get('access_type') === 'offline'
    const grantType = form.get('grant_type')
    let subject: Caller
    if (grantType === 'password') {
      const username = form.get('username') ?? ''
      const password = form.get('password') ?? ''
      if (username === '') throw wrongCredentials('username and password are required')
      const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
      subject = await login(deps, { ...credentialsOf(request), authorization: basic }, reply)
      if (subject.kind === 'anonymous') throw wrongCredentials('wrong username or password')
    } else if (grantType === 'refresh_token') {
      const refreshed = await deps.tokens.verifyRefresh(form.get('refresh_token') ?? '', service)
      if (refreshed === undefined) throw wrongCredentials('invalid refresh token')
      subject = refreshed
    } else {
      throw new RegistryError('UNSUPPORTED', { status: 400, message: `unsupported grant_type "${grantType ?? ''}": password or refresh_token` })
    }
    return answer(deps, reply, subject, asked, service, offline)
  }))
}

/** A 401 of the token endpoint asks for Basic credentials (RFC 7235: every 401 carries a challenge). */
async function challengeOnFailure(reply: FastifyReply, service: string, handle: () => Promise<FastifyReply>): Promise<FastifyReply> {
  try {
    return await handle()
  } catch (err) {
    if (err instanceof RegistryError && err.status === 401) reply.header('WWW-Authenticate', `Basic realm="${service.replace(/["\\]/g, '')}"`)
    throw err
  }
}

async function answer(deps: TokenRouteDeps, reply: FastifyReply, subject: Caller, asked: Grant[], service: string, offline: boolean): Promise<FastifyReply> {
  const access = deps.policy.grantable(subject, asked)
  const issued = await deps.tokens.issue(subject, access, service)
  const body: Record<string, unknown> = {
    token: issued.token,
    access_token: issued.token,
    expires_in: issued.expiresIn,
    issued_at: issued.issuedAt.toISOString(),
  }
  if (offline && refreshable(subject)) body.refresh_token = await deps.tokens.issueRefresh(subject, service)
  // Tokens are credentials: nothing on the way may keep them (RFC 6749, 5.1).
  reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache')
  return sendJson(reply.code(200), body)
}

/** The subject of the presented credentials; a throttled login answers 429 with Retry-After. */
async function login(deps: TokenRouteDeps, credentials: Credentials, reply: FastifyReply): Promise<Caller> {
  let caller: Caller
  try {
    caller = await deps.authenticator.authenticate(credentials)
  } catch (err) {
    if (err instanceof RegistryError && err.code === 'TOOMANYREQUESTS') {
      const seconds = retryAfter(err)
      if (seconds !== undefined) reply.header('Retry-After', String(seconds))
    }
    if (err instanceof RegistryError && err.code === 'UNAUTHORIZED') throw wrongCredentials(err.message, err)
    throw err
  }
  if (caller.kind === 'bearer' || caller.kind === 'system') throw wrongCredentials('the token endpoint takes Basic credentials')
  return caller
}

function retryAfter(err: RegistryError): number | undefined {
  const own = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds
  const detail = (err.detail as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds
  const seconds = typeof own === 'number' ? own : detail
  return typeof seconds === 'number' && Number.isFinite(seconds) ? Math.max(1, Math.ceil(seconds)) : undefined
}

function wrongCredentials(message: string, cause?: unknown): RegistryError {
  return new RegistryError('UNAUTHORIZED', { message, cause })
}

/** This endpoint issues tokens for one service; registry:2's token servers refuse any other. */
function checkService(asked: string | undefined, service: string): string {
  if (asked === undefined || asked === '' || asked === service) return service
  throw new RegistryError('UNSUPPORTED', { status: 400, message: `unknown service "${asked.slice(0, 200)}": this token endpoint issues tokens for "${service}"` })
}

/** The scopes asked for (each parameter may also hold several, space separated), one grant per resource. */
export function scopes(values: readonly string[]): Grant[] {
  const byResource = new Map<string, { type: string; name: string; actions: string[] }>()
  for (const scope of values.flatMap((v) => v.split(' ')).filter((s) => s !== '')) {
    const grant = parseScope(scope)
    if (grant === undefined) throw new RegistryError('UNSUPPORTED', { status: 400, message: `malformed scope "${scope.slice(0, 200)}"` })
    const key = `${grant.type}:${grant.name}`
    const entry = byResource.get(key) ?? { type: grant.type, name: grant.name, actions: [] }
    for (const action of grant.actions) if (!entry.actions.includes(action)) entry.actions.push(action)
    byResource.set(key, entry)
  }
  return [...byResource.values()]
}

async function readForm(request: FastifyRequest): Promise<Buffer> {
  const parts: Buffer[] = []
  let total = 0
  for await (const chunk of request.raw as AsyncIterable<Buffer>) {
    total += chunk.byteLength
    if (total > FORM_MAX_BYTES) throw new RegistryError('SIZE_INVALID', { status: 413, message: `a token request form is at most ${FORM_MAX_BYTES} bytes` })
    parts.push(chunk)
  }
  return Buffer.concat(parts)
}
