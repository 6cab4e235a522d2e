/**
 * The Docker token protocol against a real server over HTTP: forged and stale tokens are refused
 * with `error="invalid_token"`, key rotation and retirement, nodes sharing keys, the /token
 * endpoint (GET with and without Basic, the OAuth2 password and refresh grants, offline tokens)
 * and an external issuer trusted by its PEM key or JWKS (auth.trust). Every server is a real
 * `wharf serve` with the real parts: users in its htpasswd file, robots made and revoked with
 * `wharf token create|revoke`, keys rotated with `wharf auth rotate-key|retire-key`; forged tokens
 * are signed with the key files the server wrote.
 */
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { base64url, decodeJwt, decodeProtectedHeader, exportJWK, type JWTPayload } from 'jose'
import t, { type Test } from 'tap'
import { readSigningKeys } from '../../src/auth/signing-keys.js'
import { request, tempDir, waitFor, type CliResult, type HttpResponse } from '../support/index.js'
import { basic, claims, serverKey, sign, startAuthServer, type AuthServer } from './auth-server.js'

const PASSWORDS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' }
const RULES = [
  { repositories: '**', users: ['alice'], actions: ['pull', 'push', 'delete'] },
  { repositories: 'team/*', users: ['bob'], actions: ['pull'] },
  { repositories: '**', users: ['carol'], actions: ['pull'] },
]
const ANONYMOUS_RULES = [{ repositories: 'public/*', actions: ['pull'] }]

interface TokenServer extends AuthServer {
  /** The `service` the server's challenges name (the trusted issuer's when auth.trust is set). */
  readonly service: string
}

/** A real `wharf serve` with alice, bob and carol in its htpasswd file and their rules; `auth` adds to (or replaces) the auth section. */
async function startTokenServer(t: Test, options: { anonymous?: boolean; auth?: Record<string, unknown> } = {}): Promise<TokenServer> {
  const server = await startAuthServer(t, {
    users: PASSWORDS,
    auth: { rules: RULES, ...(options.anonymous === true ? { anonymous: ANONYMOUS_RULES } : {}), ...options.auth },
  })
  const trust = options.auth?.trust as { service?: string } | undefined
  return Object.assign(server, { service: trust?.service ?? 'wharf' })
}

function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

interface TokenAnswer { token: string; access_token: string; expires_in: number; issued_at: string; refresh_token?: string }

async function getToken(server: TokenServer, query: string, authorization?: string): Promise<HttpResponse> {
  return server.tokenResponse(query, authorization)
}

async function postToken(server: TokenServer, form: Record<string, string>): Promise<HttpResponse> {
  return request(server.url, '/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  })
}

async function tokenFor(t: Test, server: TokenServer, query: string, authorization?: string): Promise<TokenAnswer> {
  const res = await getToken(server, query, authorization)
  t.equal(res.status, 200, res.describe())
  return res.json<TokenAnswer>()
}

/** The server's newest private key (the file it wrote): forged tokens are signed with the real key unless the case is about the key. */
async function realKey(server: TokenServer): Promise<{ kid: string; privateKey: KeyObject; publicKey: KeyObject }> {
  return serverKey(server.keysDirectory)
}

function unsigned(payload: JWTPayload, header: Record<string, unknown>): string {
  const part = (value: unknown): string => base64url.encode(JSON.stringify(value))
  return `${part(header)}.${part(payload)}.`
}

async function assertInvalidToken(t: Test, server: TokenServer, token: string, what: string): Promise<void> {
  const res = await request(server.url, '/v2/', { headers: bearer(token) })
  t.equal(res.status, 401, `${what}: 401 (${res.describe()})`)
  const challenge = res.header('www-authenticate') ?? ''
  t.match(challenge, new RegExp(`^Bearer realm="[^"]+/token",service="${server.service}"`), `${what}: a Bearer challenge`)
  t.match(challenge, /error="invalid_token"/, `${what}: error="invalid_token"`)
  t.equal(res.json<{ errors: Array<{ code: string }> }>().errors[0]?.code, 'UNAUTHORIZED', `${what}: the spec's UNAUTHORIZED`)
}

async function assertAccepted(t: Test, server: TokenServer, token: string, what: string): Promise<void> {
  const res = await request(server.url, '/v2/', { headers: bearer(token) })
  t.equal(res.status, 200, `${what}: accepted (${res.describe()})`)
}

/** `wharf <args>` against the server's config and storage, its exit code checked. */
async function cli(t: Test, server: TokenServer, ...args: string[]): Promise<CliResult> {
  const run = await server.cli(args)
  t.equal(run.code, 0, `wharf ${args.join(' ')}: ${run.stderr}`)
  return run
}

/** Waits until the server refuses `token` at /v2/ (it sees CLI edits of its files within about a second). */
async function untilRefused(server: TokenServer, token: string, what: string): Promise<void> {
  await waitFor(what, async () => (await request(server.url, '/v2/', { headers: bearer(token) })).status === 401, 5000, 100)
}

t.test('forged, stale and misused tokens are refused at /v2/ with error="invalid_token"', async (t) => {
  const server = await startTokenServer(t, { anonymous: true })
  const ciSecret = await server.createRobot('ci', 'repository:team/*:pull,push')
  const { kid, privateKey, publicKey } = await realKey(server)
  const es256 = { alg: 'ES256', typ: 'JWT', kid }
  const now = Math.floor(Date.now() / 1000)
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey

  // The control: the forging helper with the real key and right claims makes a token that works,
  // so each refusal below is for the one thing its case changes.
  await assertAccepted(t, server, await sign(claims(), privateKey, es256), 'a token signed with the real key and right claims')
  await assertAccepted(t, server, await sign(claims({ nbf: now + 10 }), privateKey, es256), 'valid 10 s from now (within the clock skew)')
  await assertAccepted(t, server, await sign(claims({ iat: now - 600, nbf: now - 600, exp: now - 10 }), privateKey, es256), 'expired 10 s ago (within the clock skew)')

  const refresh = (await tokenFor(t, server, 'service=wharf&offline_token=true', basic('alice', 'alice-pw'))).refresh_token
  t.ok(refresh, 'a refresh token to misuse')
  const carols = (await tokenFor(t, server, 'service=wharf', basic('carol', 'carol-pw'))).token
  const robots = (await tokenFor(t, server, 'service=wharf&scope=repository:team/app:pull', basic('ci', ciSecret))).token
  await assertAccepted(t, server, carols, 'carol\'s token before carol is removed')
  await assertAccepted(t, server, robots, 'the robot\'s token before it is revoked')
  await cli(t, server, 'user', 'rm', 'carol')
  await cli(t, server, 'token', 'revoke', 'ci')
  await untilRefused(server, carols, 'carol\'s token refused')
  await untilRefused(server, robots, 'the robot\'s token refused')

  const valid = await sign(claims(), privateKey, es256)
  const [h, p] = valid.split('.')
  const tampered = `${h}.${base64url.encode(JSON.stringify(claims({ access: [{ type: 'repository', name: 'x', actions: ['*'] }] })))}.${valid.split('.')[2]}`
  const cases: Array<[string, string]> = [
    ['expired (beyond the clock skew)', await sign(claims({ iat: now - 600, nbf: now - 600, exp: now - 120 }), privateKey, es256)],
    ['not valid before a time in the future', await sign(claims({ nbf: now + 120 }), privateKey, es256)],
    ['for another audience', await sign(claims({ aud: 'another-registry' }), privateKey, es256)],
    ['from another issuer', await sign(claims({ iss: 'someone-else' }), privateKey, es256)],
    ['signed with another key under our kid', await sign(claims(), otherKey, es256)],
    ['alg none', unsigned(claims(), { alg: 'none', typ: 'JWT', kid })],
    ['HS256 keyed with our public key\'s bytes', await sign(claims(), new TextEncoder().encode(publicKey.export({ type: 'spki', format: 'pem' }) as string), { alg: 'HS256', typ: 'JWT', kid })],
    ['RS256 with a key of its own under our kid', await sign(claims(), rsaKey, { alg: 'RS256', typ: 'JWT', kid })],
    ['an unknown kid', await sign(claims(), otherKey, { ...es256, kid: 'no-such-key' })],
    ['no kid', await sign(claims(), privateKey, { alg: 'ES256', typ: 'JWT' })],
    ['a payload changed after signing', tampered],
    ['a refresh token used as an access token', refresh!],
    ['a token of a removed user', carols],
    ['a token of a revoked robot', robots],
    ['a subject that never existed', await sign(claims({ sub: 'user:mallory' }), privateKey, es256)],
    ['a malformed access claim', await sign(claims({ access: 'everything' }), privateKey, es256)],
    ['not a JWT at all', 'not-a-token'],
    ['a truncated token', `${h}.${p}`],
  ]
  for (const [what, token] of cases) await assertInvalidToken(t, server, token, what)

  const anonymous = await request(server.url, '/v2/')
  t.equal(anonymous.status, 401, 'no credentials at /v2/: 401')
  t.notMatch(anonymous.header('www-authenticate') ?? '', /error=/, 'a plain challenge, no error')
})

t.test('a valid token works, and grants only its access claim', async (t) => {
  const server = await startTokenServer(t, { anonymous: true })
  const { token } = await tokenFor(t, server, 'service=wharf&scope=repository:team/app:pull', basic('alice', 'alice-pw'))
  await assertAccepted(t, server, token, 'alice\'s token')
  const allowed = await request(server.url, '/v2/team/app/tags/list', { headers: bearer(token) })
  t.equal(allowed.status, 404, `pull on team/app passes access control (the repository is just empty): ${allowed.describe()}`)
  t.equal(allowed.json<{ errors: Array<{ code: string }> }>().errors[0]?.code, 'NAME_UNKNOWN')
  const other = await request(server.url, '/v2/team/other/tags/list', { headers: bearer(token) })
  t.equal(other.status, 401, 'another repository is not in the token')
  t.match(other.header('www-authenticate') ?? '', /error="insufficient_scope"/)
})

t.test('keys rotate and retire while the server runs', async (t) => {
  const server = await startTokenServer(t)
  const first = await tokenFor(t, server, 'service=wharf', basic('alice', 'alice-pw'))
  const oldKid = decodeProtectedHeader(first.token).kid
  const files = (await readSigningKeys(server.keysDirectory))
  t.equal(files.length, 1, 'the first start made one key')
  t.equal((await import('node:fs')).statSync(files[0]!.file).mode & 0o777, 0o600, 'the key file is readable by its owner only')

  const rotated = await cli(t, server, 'auth', 'rotate-key')
  const newKid = rotated.stdout.trim()
  t.not(newKid, oldKid, 'rotate-key printed a new kid')
  t.equal((await readSigningKeys(server.keysDirectory)).length, 2, 'two keys now')

  // The new key signs once other nodes have had time to see it (about two seconds).
  let second: TokenAnswer | undefined
  await waitFor('tokens signed with the new key', async () => {
    second = await tokenFor(t, server, 'service=wharf', basic('alice', 'alice-pw'))
    return decodeProtectedHeader(second.token).kid === newKid
  }, 8000, 250)
  await assertAccepted(t, server, first.token, 'a token of the old key after the rotation')
  await assertAccepted(t, server, second!.token, 'a token of the new key')

  const retired = await cli(t, server, 'auth', 'retire-key', '--keep', '1')
  t.equal(retired.stdout.trim(), oldKid, 'retire-key printed the old kid')
  t.equal((await readSigningKeys(server.keysDirectory)).map((k) => k.kid).join(), newKid, 'only the new key is left')
  await waitFor('the old key\'s token refused', async () => (await request(server.url, '/v2/', { headers: bearer(first.token) })).status === 401, 5000, 200)
  await assertInvalidToken(t, server, first.token, 'a token of the retired key')
  await assertAccepted(t, server, second!.token, 'a token of the new key after the retirement')

  const never = await cli(t, server, 'auth', 'retire-key', '--keep', '1')
  t.equal(never.stdout.trim(), '', 'the newest key is never retired')
  const listing = await cli(t, server, 'auth', 'keys')
  t.match(listing.stdout, new RegExp(`^${newKid}  \\S+  signs$`, 'm'), 'keys lists the key that signs')
  const bad = await server.cli(['auth', 'retire-key'])
  t.equal(bad.code, 2, 'retire-key without --keep or --older-than is a usage error')
})

t.test('nodes sharing the keys directory accept each other\'s tokens, including a key one of them just made', async (t) => {
  // Separate storages, one auth directory (auth.directory): the keys and robots are shared.
  const shared = await tempDir('shared-auth')
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(shared, { recursive: true, force: true })))
  const a = await startTokenServer(t, { auth: { directory: shared } })
  const b = await startTokenServer(t, { auth: { directory: shared } })
  t.not(a.storage, b.storage, 'two storages')
  t.equal(a.keysDirectory, b.keysDirectory, 'one keys directory')
  t.equal((await readSigningKeys(shared + '/keys')).length, 1, 'the second node used the key the first made')
  await assertAccepted(t, b, (await tokenFor(t, a, 'service=wharf', basic('alice', 'alice-pw'))).token, 'a\'s token on b')
  await assertAccepted(t, a, (await tokenFor(t, b, 'service=wharf', basic('alice', 'alice-pw'))).token, 'b\'s token on a')
  const rotated = await cli(t, a, 'auth', 'rotate-key')
  const newKid = rotated.stdout.trim()
  let token = ''
  await waitFor('a signs with the new key', async () => {
    token = (await tokenFor(t, a, 'service=wharf', basic('alice', 'alice-pw'))).token
    return decodeProtectedHeader(token).kid === newKid
  }, 8000, 100)
  await assertAccepted(t, b, token, 'b accepts the new key\'s token at once')
})

t.test('GET /token: Basic, anonymous, offline tokens, refusals', async (t) => {
  const server = await startTokenServer(t, { anonymous: true, auth: { throttle: { failures: 3, windowSeconds: 60 } } })

  const res = await getToken(server, 'service=wharf&scope=repository:team/app:pull,push&scope=repository:team/app:delete&account=whoever', basic('alice', 'alice-pw'))
  t.equal(res.status, 200, res.describe())
  t.equal(res.header('cache-control'), 'no-store', 'tokens are not cached on the way')
  const answer = res.json<TokenAnswer>()
  t.equal(answer.access_token, answer.token, 'token and access_token are the same')
  t.equal(answer.expires_in, 300)
  t.ok(Math.abs(Date.parse(answer.issued_at) - Date.now()) < 5000, 'issued_at is now (RFC 3339)')
  t.notOk('refresh_token' in answer, 'no refresh token unless asked for')
  const header = decodeProtectedHeader(answer.token)
  t.equal(header.alg, 'ES256')
  t.equal(header.kid, (await realKey(server)).kid)
  const payload = decodeJwt(answer.token)
  t.equal(payload.iss, 'wharf')
  t.equal(payload.sub, 'user:alice')
  t.equal(payload.aud, 'wharf')
  t.equal(payload.exp! - payload.iat!, 300)
  t.ok(typeof payload.jti === 'string' && payload.nbf !== undefined)
  t.same(payload.access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] }], 'repeated scopes of one repository merge')

  const bobs = decodeJwt((await tokenFor(t, server, 'service=wharf&scope=repository:team/app:pull,push&scope=repository:secret/x:pull', basic('bob', 'bob-pw'))).token)
  t.same(bobs.access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }], 'what bob may not have is left out, not refused')

  const anonymous = await tokenFor(t, server, 'service=wharf&scope=repository:public/app:pull,push&scope=repository:team/app:pull&offline_token=true')
  const anonymousClaims = decodeJwt(anonymous.token)
  t.equal(anonymousClaims.sub, 'anonymous', 'no credentials: the anonymous subject')
  t.same(anonymousClaims.access, [{ type: 'repository', name: 'public/app', actions: ['pull'] }], 'the anonymous rules decide')
  t.notOk('refresh_token' in anonymous, 'no refresh token for anonymous')
  await assertAccepted(t, server, anonymous.token, 'an anonymous token at /v2/')

  const offline = await tokenFor(t, server, 'service=wharf&offline_token=true', basic('alice', 'alice-pw'))
  t.ok(offline.refresh_token, 'offline_token=true: a refresh token too')
  t.equal(decodeJwt(offline.refresh_token!).sub, 'user:alice')

  const wrongService = await getToken(server, 'service=another', basic('alice', 'alice-pw'))
  t.equal(wrongService.status, 400, 'a service this endpoint does not issue for: 400')
  const malformed = await getToken(server, 'service=wharf&scope=nonsense', basic('alice', 'alice-pw'))
  t.equal(malformed.status, 400, 'a malformed scope: 400')
  const withBearer = await getToken(server, 'service=wharf', `Bearer ${answer.token}`)
  t.equal(withBearer.status, 401, 'a token is not exchanged for another: the endpoint takes Basic credentials')

  for (let i = 0; i < 3; i++) {
    const wrong = await getToken(server, 'service=wharf', basic('alice', 'wrong'))
    t.equal(wrong.status, 401, 'a wrong password: 401')
    t.equal(wrong.json<{ errors: Array<{ code: string }> }>().errors[0]?.code, 'UNAUTHORIZED', 'as the spec\'s JSON')
    t.match(wrong.header('www-authenticate') ?? '', /^Basic realm=/, 'with a Basic challenge')
  }
  // alice's password was checked (and remembered) above: a remembered success must not let a guesser confirm it.
  const throttled = await getToken(server, 'service=wharf', basic('alice', 'alice-pw'))
  t.equal(throttled.status, 429, 'after too many failures: 429, even for the right (remembered) password')
  t.equal(throttled.json<{ errors: Array<{ code: string }> }>().errors[0]?.code, 'TOOMANYREQUESTS')
  const retryAfter = Number(throttled.header('retry-after'))
  t.ok(retryAfter >= 50 && retryAfter <= 60, `Retry-After: the rest of the 60 s window (${throttled.header('retry-after')})`)
})

t.test('POST /token: password and refresh-token grants', async (t) => {
  const server = await startTokenServer(t)
  const ciSecret = await server.createRobot('ci', 'repository:team/*:pull,push')

  const password = await postToken(server, { grant_type: 'password', username: 'alice', password: 'alice-pw', service: 'wharf', scope: 'repository:team/app:pull repository:team/b:push', client_id: 'docker' })
  t.equal(password.status, 200, password.describe())
  const answer = password.json<TokenAnswer>()
  t.same(decodeJwt(answer.token).access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }, { type: 'repository', name: 'team/b', actions: ['push'] }], 'space-separated scopes')
  t.notOk('refresh_token' in answer, 'no refresh token without access_type=offline')

  const offline = (await postToken(server, { grant_type: 'password', username: 'alice', password: 'alice-pw', service: 'wharf', client_id: 'docker', access_type: 'offline' })).json<TokenAnswer>()
  t.ok(offline.refresh_token, 'access_type=offline: a refresh token')

  const refreshed = await postToken(server, { grant_type: 'refresh_token', refresh_token: offline.refresh_token!, service: 'wharf', scope: 'repository:team/c:pull', client_id: 'docker' })
  t.equal(refreshed.status, 200, refreshed.describe())
  const refreshedClaims = decodeJwt(refreshed.json<TokenAnswer>().token)
  t.equal(refreshedClaims.sub, 'user:alice', 'the refresh token\'s subject')
  t.same(refreshedClaims.access, [{ type: 'repository', name: 'team/c', actions: ['pull'] }], 'new scopes')
  await assertAccepted(t, server, refreshed.json<TokenAnswer>().token, 'the refreshed token')

  const robot = await postToken(server, { grant_type: 'password', username: 'ci', password: ciSecret, service: 'wharf', scope: 'repository:team/app:pull,push,delete repository:other/x:pull', client_id: 'ci', access_type: 'offline' })
  t.equal(robot.status, 200, robot.describe())
  t.equal(decodeJwt(robot.json<TokenAnswer>().token).sub, 'robot:ci')
  t.same(decodeJwt(robot.json<TokenAnswer>().token).access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }], 'a robot gets exactly its scopes')
  const robotRefresh = robot.json<TokenAnswer>().refresh_token!
  t.equal((await postToken(server, { grant_type: 'refresh_token', refresh_token: robotRefresh, service: 'wharf' })).status, 200, 'the robot\'s refresh token works')
  await cli(t, server, 'token', 'revoke', 'ci')
  const refreshStatus = (refreshToken: string) => async (): Promise<boolean> => (await postToken(server, { grant_type: 'refresh_token', refresh_token: refreshToken, service: 'wharf' })).status === 401
  await waitFor('the revoked robot\'s refresh token refused', refreshStatus(robotRefresh), 5000, 100)
  t.equal((await postToken(server, { grant_type: 'refresh_token', refresh_token: robotRefresh, service: 'wharf' })).status, 401, 'not once it is revoked')

  const carolRefresh = (await postToken(server, { grant_type: 'password', username: 'carol', password: 'carol-pw', service: 'wharf', access_type: 'offline' })).json<TokenAnswer>().refresh_token!
  await cli(t, server, 'user', 'rm', 'carol')
  await waitFor('the removed user\'s refresh token refused', refreshStatus(carolRefresh), 5000, 100)
  t.equal((await postToken(server, { grant_type: 'refresh_token', refresh_token: carolRefresh, service: 'wharf' })).status, 401, 'a removed user\'s refresh token: 401')

  const access = (await postToken(server, { grant_type: 'password', username: 'alice', password: 'alice-pw', service: 'wharf' })).json<TokenAnswer>().token
  t.equal((await postToken(server, { grant_type: 'refresh_token', refresh_token: access, service: 'wharf' })).status, 401, 'an access token is no refresh token')
  t.equal((await postToken(server, { grant_type: 'refresh_token', refresh_token: 'garbage', service: 'wharf' })).status, 401, 'garbage: 401')
  t.equal((await postToken(server, { grant_type: 'refresh_token', refresh_token: offline.refresh_token!, service: 'another' })).status, 400, 'another service: 400')
  const wrong = await postToken(server, { grant_type: 'password', username: 'alice', password: 'nope', service: 'wharf' })
  t.equal(wrong.status, 401, 'a wrong password: 401')
  t.equal(wrong.json<{ errors: Array<{ code: string }> }>().errors[0]?.code, 'UNAUTHORIZED')
  t.equal((await postToken(server, { grant_type: 'client_credentials', service: 'wharf' })).status, 400, 'an unsupported grant: 400')
  const json = await request(server.url, '/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(json.status, 400, 'not a form: 400')
})

/** An external issuer's token, signed with `key`. */
async function externalToken(key: KeyObject, alg: string, overrides: JWTPayload = {}, kid?: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const payload: JWTPayload = { iss: 'corp-auth', sub: 'jdoe', aud: 'registry.corp', iat: now, nbf: now, exp: now + 300, access: [{ type: 'repository', name: 'corp/app', actions: ['pull'] }], ...overrides }
  return sign(payload, key, { alg, typ: 'JWT', ...(kid !== undefined ? { kid } : {}) })
}

async function checkExternal(t: Test, server: TokenServer, key: KeyObject, alg: string, publicPem: string, kid?: string): Promise<void> {
  const token = await externalToken(key, alg, {}, kid)
  await assertAccepted(t, server, token, 'the external issuer\'s token')
  const allowed = await request(server.url, '/v2/corp/app/tags/list', { headers: bearer(token) })
  t.equal(allowed.status, 404, `its access claim grants pull on corp/app: ${allowed.describe()}`)
  const other = await request(server.url, '/v2/corp/other/tags/list', { headers: bearer(token) })
  t.equal(other.status, 401, 'and nothing else')
  await assertInvalidToken(t, server, await externalToken(key, alg, { aud: 'wharf' }, kid), 'an external token for another audience')
  await assertInvalidToken(t, server, await externalToken(key, alg, { exp: Math.floor(Date.now() / 1000) - 120 }, kid), 'an expired external token')
  await assertInvalidToken(t, server, await externalToken(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'ES256', {}, kid), 'an external token signed with another key')
  await assertInvalidToken(t, server, await sign({ ...decodeJwt(token) }, new TextEncoder().encode(publicPem), { alg: 'HS256', typ: 'JWT', ...(kid !== undefined ? { kid } : {}) }), 'HS256 keyed with the issuer\'s public key')
  await assertInvalidToken(t, server, unsigned(decodeJwt(token), { alg: 'none', typ: 'JWT' }), 'an unsigned external token')
}

t.test('an external issuer is trusted by its public key in a PEM file', async (t) => {
  const dir = await tempDir('trust')
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true, force: true })))
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }) as string
  // Another key first, so that the right one has to be found among several.
  const decoy = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }) as string
  const file = path.join(dir, 'issuer.pem')
  await writeFile(file, `${decoy}${publicPem}`)
  const server = await startTokenServer(t, { auth: { trust: { issuer: 'corp-auth', service: 'registry.corp', realm: 'https://auth.corp.example/token', publicKey: file } } })
  await checkExternal(t, server, privateKey, 'ES256', publicPem)
  await assertAccepted(t, server, (await tokenFor(t, server, 'service=wharf', basic('alice', 'alice-pw'))).token, 'Wharf\'s own tokens still work beside it')
})

t.test('an external issuer is trusted by a certificate in a PEM file', async (t) => {
  const dir = await tempDir('trust-cert')
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true, force: true })))
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=corp-auth'], { encoding: 'utf8' })
  t.equal(made.status, 0, `openssl made a certificate: ${made.stderr}`)
  const { createPrivateKey } = await import('node:crypto')
  const privateKey = createPrivateKey(await readFile(path.join(dir, 'key.pem')))
  const server = await startTokenServer(t, { auth: { trust: { issuer: 'corp-auth', service: 'registry.corp', realm: 'https://auth.corp.example/token', publicKey: path.join(dir, 'cert.pem') } } })
  await checkExternal(t, server, privateKey, 'RS256', await readFile(path.join(dir, 'cert.pem'), 'utf8'))
})

t.test('an external issuer is trusted by its JWKS', async (t) => {
  const dir = await tempDir('trust-jwks')
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true, force: true })))
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwks = { keys: [{ ...await exportJWK(rsa.publicKey), kid: 'rsa-1', alg: 'RS256', use: 'sig' }, { ...await exportJWK(ec.publicKey), kid: 'ec-1', alg: 'ES256', use: 'sig' }] }
  const file = path.join(dir, 'jwks.json')
  await writeFile(file, JSON.stringify(jwks))
  const server = await startTokenServer(t, { auth: { trust: { issuer: 'corp-auth', service: 'registry.corp', realm: 'https://auth.corp.example/token', jwks: file } } })
  await checkExternal(t, server, ec.privateKey, 'ES256', ec.publicKey.export({ type: 'spki', format: 'pem' }) as string, 'ec-1')
  await checkExternal(t, server, rsa.privateKey, 'RS256', rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string, 'rsa-1')
  await assertInvalidToken(t, server, await externalToken(ec.privateKey, 'ES256', {}, 'unknown-kid'), 'a kid the JWKS does not have')
})
