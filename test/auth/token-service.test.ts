/** The token service's decisions that need a clock of their own or a subject made again: skew, lifetimes, re-created robots, certificate users. */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import t, { type Test } from 'tap'
import { SigningKeys } from '../../src/auth/signing-keys.js'
import { JwtTokenService } from '../../src/auth/token-service.js'
import { RegistryError } from '../../src/errors/registry-error.js'
import { tempDir } from '../support/index.js'
import { HtpasswdFile, removeHtpasswdUser, setHtpasswdPassword } from '../../src/auth/htpasswd.js'
import { RobotTokenFile } from '../../src/auth/robot-tokens.js'

const SETTINGS = { service: 'wharf', issuer: 'wharf', expiresSeconds: 300, refreshExpiresSeconds: 3600 }

/** The real password file and robot tokens file, over files in a temp directory, edited as the CLI edits them. */
interface Identities {
  readonly passwords: { add(user: string, password: string): Promise<unknown>; remove(user: string): Promise<unknown> }
  readonly robots: { create(name: string): Promise<unknown>; revoke(name: string): Promise<unknown> }
}

async function service(t: Test): Promise<{ tokens: JwtTokenService; clock: { now: number } } & Identities> {
  const dir = await tempDir('token-service')
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const clock = { now: Date.now() }
  const keys = await SigningKeys.open(path.join(dir, 'keys'), { now: () => clock.now })
  const htpasswd = path.join(dir, 'htpasswd')
  // Looked at on every check (checkIntervalMs 0): an edit counts at once.
  const passwordFile = new HtpasswdFile(htpasswd, { checkIntervalMs: 0 })
  const robotFile = RobotTokenFile.inDirectory(dir, { checkIntervalMs: 0 })
  const passwords = { add: (user: string, password: string) => setHtpasswdPassword(htpasswd, user, password, { cost: 4 }), remove: (user: string) => removeHtpasswdUser(htpasswd, user) }
  const robots = { create: (name: string) => robotFile.create(name, ['repository:team/*:pull'], null), revoke: (name: string) => robotFile.revoke(name) }
  return { tokens: new JwtTokenService({ keys, settings: SETTINGS, passwords: passwordFile, robots: robotFile, now: () => clock.now }), passwords, robots, clock }
}

async function refused(t: Test, promise: Promise<unknown>, what: string): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof RegistryError && err.code === 'UNAUTHORIZED' && (err.detail as { invalidToken?: boolean }).invalidToken === true, `${what}: UNAUTHORIZED, invalid_token (${String(err)})`)
}

t.test('expiry and not-before allow 30 s of clock skew, no more', async (t) => {
  const { tokens, passwords, clock } = await service(t)
  await passwords.add('alice', 'pw')
  const start = clock.now
  const { token, expiresIn } = await tokens.issue({ kind: 'user', name: 'alice', via: 'password' }, [], 'wharf')
  t.equal(expiresIn, 300)
  t.equal(decodeProtectedHeader(token).typ, 'JWT')
  clock.now = start - 25_000
  t.equal((await tokens.verify(token)).kind, 'bearer', 'a verifier 25 s behind accepts it')
  clock.now = start - 40_000
  await refused(t, tokens.verify(token), 'a verifier 40 s behind')
  clock.now = start + 300_000 + 25_000
  t.equal((await tokens.verify(token)).kind, 'bearer', '25 s after expiry: within the skew')
  clock.now = start + 300_000 + 40_000
  await refused(t, tokens.verify(token), '40 s after expiry')
})

t.test('the bearer caller: subject re-resolved, name, access', async (t) => {
  const { tokens, passwords } = await service(t)
  await passwords.add('alice', 'pw')
  const access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }]
  const caller = await tokens.verify((await tokens.issue({ kind: 'user', name: 'alice', via: 'password' }, access, 'wharf')).token)
  t.same(caller, { kind: 'bearer', subject: { kind: 'user', name: 'alice', via: 'password' }, name: 'user:alice', access })
  const anonymous = await tokens.verify((await tokens.issue({ kind: 'anonymous' }, [], 'wharf')).token)
  t.same(anonymous, { kind: 'bearer', subject: { kind: 'anonymous' }, name: 'anonymous', access: [] })
  // A client certificate's user is not in the password file: the token says how it was issued.
  const certified = await tokens.verify((await tokens.issue({ kind: 'user', name: 'cn-user', via: 'certificate' }, [], 'wharf')).token)
  t.same(certified.kind === 'bearer' ? certified.subject : undefined, { kind: 'user', name: 'cn-user', via: 'certificate' })
  await t.rejects(tokens.issueRefresh({ kind: 'user', name: 'cn-user', via: 'certificate' }, 'wharf'), 'no refresh token for a certificate user (nothing to check it against later)')
  await t.rejects(tokens.issueRefresh({ kind: 'anonymous' }, 'wharf'), 'nor for anonymous')
})

t.test('a robot made again under the same name does not inherit the old robot\'s tokens', async (t) => {
  const { tokens, robots, clock } = await service(t)
  await robots.create('ci')
  clock.now = Date.now()
  const subject = { kind: 'robot' as const, name: 'ci', scopes: [{ type: 'repository', name: 'team/*', actions: ['pull'] }] }
  const old = (await tokens.issue(subject, [], 'wharf')).token
  const oldRefresh = await tokens.issueRefresh(subject, 'wharf')
  t.equal((await tokens.verify(old)).kind, 'bearer', 'valid while the robot exists')
  await robots.revoke('ci')
  await refused(t, tokens.verify(old), 'once it is revoked')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  await robots.create('ci')
  clock.now = Date.now()
  await refused(t, tokens.verify(old), 'a new robot of the same name')
  t.equal(await tokens.verifyRefresh(oldRefresh, 'wharf'), undefined, 'nor its refresh token')
})

t.test('refresh tokens: their own typ and claim, the service checked, the subject re-resolved', async (t) => {
  const { tokens, passwords } = await service(t)
  await passwords.add('alice', 'pw')
  const refresh = await tokens.issueRefresh({ kind: 'user', name: 'alice', via: 'password' }, 'wharf')
  t.equal(decodeProtectedHeader(refresh).typ, 'wharf-refresh+jwt')
  t.equal(decodeJwt(refresh).token_use, 'refresh')
  t.equal(decodeJwt(refresh).exp! - decodeJwt(refresh).iat!, 3600, 'refreshExpiresSeconds')
  t.same(await tokens.verifyRefresh(refresh, 'wharf'), { kind: 'user', name: 'alice', via: 'password' })
  t.equal(await tokens.verifyRefresh(refresh, 'other'), undefined, 'another service')
  const access = (await tokens.issue({ kind: 'user', name: 'alice', via: 'password' }, [], 'wharf')).token
  t.equal(await tokens.verifyRefresh(access, 'wharf'), undefined, 'an access token is no refresh token')
  await refused(t, tokens.verify(refresh), 'a refresh token is no access token')
  await passwords.remove('alice')
  t.equal(await tokens.verifyRefresh(refresh, 'wharf'), undefined, 'a removed user')
})
