import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import bcrypt from 'bcryptjs'
import t from 'tap'
import type { Caller } from '../../src/access/caller.js'
import { CredentialAuthenticator, OPEN_AUTHENTICATOR } from '../../src/auth/authenticator.js'
import type { Credentials, PasswordFile, TokenService } from '../../src/auth/parts.js'
import { RegistryError } from '../../src/errors/registry-error.js'
import { HtpasswdFile } from '../../src/auth/htpasswd.js'
import { InMemoryLoginThrottle } from '../../src/auth/login-throttle.js'
import { RobotTokenFile } from '../../src/auth/robot-tokens.js'

let dir = ''
t.before(async () => { dir = await mkdtemp(path.join(tmpdir(), 'wharf-authn-')) })
t.teardown(() => rm(dir, { recursive: true, force: true }))

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
const from = (authorization?: string, address = '10.0.0.1', certificateName?: string): Credentials => ({ authorization, certificateName, address })

/** A token service holding issued tokens in memory: `valid-<n>` verifies to the n-th caller given. */
class MemoryTokens implements TokenService {
  constructor(private readonly callers: readonly Caller[]) {}
  async issue(): Promise<never> { throw new Error('not used') }
  async issueRefresh(): Promise<never> { throw new Error('not used') }
  async verifyRefresh(): Promise<undefined> { return undefined }
  async verify(token: string): Promise<Caller> {
    const caller = this.callers[Number(token.replace(/^valid-/, ''))]
    if (!token.startsWith('valid-') || caller === undefined) throw new RegistryError('UNAUTHORIZED', { message: 'bad signature' })
    return caller
  }
}

/** The real htpasswd file; without `hashes`, as a password file that does not tell them (only whether a user exists). */
function passwordFile(htpasswd: string, hashes: boolean): PasswordFile {
  const file = new HtpasswdFile(htpasswd, { checkIntervalMs: 0 })
  return hashes ? file : { verify: (user, password) => file.verify(user, password), has: (user) => file.has(user) }
}

/** The authenticator over the real password file, robot tokens file and throttle (3 failures in 60 s); `ciSecret` is robot ci's. */
async function setup(options: { now?: () => number; tokens?: TokenService; hashes?: boolean } = {}): Promise<{ authn: CredentialAuthenticator; htpasswd: string; robots: RobotTokenFile; ciSecret: string }> {
  const htpasswd = path.join(dir, `htpasswd-${Math.random()}`)
  await writeFile(htpasswd, `alice:${bcrypt.hashSync('wonderland', 4)}\nbob:${bcrypt.hashSync('builder', 4).replace(/^\$2b\$/, '$2y$')}\n`)
  const robots = RobotTokenFile.inDirectory(path.join(dir, `robots-${Math.random()}`), { checkIntervalMs: 0 })
  const { secret: ciSecret } = await robots.create('ci', ['repository:team/*:pull'], null)
  const now = options.now ?? Date.now
  const authn = new CredentialAuthenticator({
    passwords: passwordFile(htpasswd, options.hashes ?? true), robots, throttle: new InMemoryLoginThrottle({ failures: 3, windowSeconds: 60, clock: { now } }),
    now, cacheTtlMs: 1000, ...(options.tokens !== undefined ? { tokens: options.tokens } : {}),
  })
  return { authn, htpasswd, robots, ciSecret }
}

async function outcome(promise: Promise<Caller>): Promise<unknown> {
  try {
    return await promise
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err
    return { code: err.code, detail: err.detail }
  }
}

t.test('nothing presented is anonymous; a verified client certificate is its user', async (t) => {
  const { authn } = await setup()
  t.same(await authn.authenticate(from()), { kind: 'anonymous' })
  t.same(await authn.authenticate(from('')), { kind: 'anonymous' })
  t.same(await authn.authenticate(from(undefined, '1.2.3.4', 'carol')), { kind: 'user', name: 'carol', via: 'certificate' })
  t.same(await OPEN_AUTHENTICATOR.authenticate(from(basic('alice', 'wrong'))), { kind: 'anonymous' }, 'open: credentials are not even looked at')
})

t.test('Basic: htpasswd users ($2y$ from Apache too) and robots; wrong ones are 401', async (t) => {
  const { authn, ciSecret } = await setup()
  t.same(await authn.authenticate(from(basic('alice', 'wonderland'))), { kind: 'user', name: 'alice', via: 'password' })
  t.same(await authn.authenticate(from(basic('bob', 'builder'))), { kind: 'user', name: 'bob', via: 'password' })
  t.match(await authn.authenticate(from(basic('ci', ciSecret))), { kind: 'robot', name: 'ci', scopes: [{ type: 'repository', name: 'team/*' }] })
  t.match(await outcome(authn.authenticate(from(basic('alice', 'wrong')))), { code: 'UNAUTHORIZED' })
  t.match(await outcome(authn.authenticate(from(basic('nobody', 'x')))), { code: 'UNAUTHORIZED' })
  t.match(await outcome(authn.authenticate(from(basic('ci', 'wharf_wrong')))), { code: 'UNAUTHORIZED' })
  t.match(await outcome(authn.authenticate(from('Basic !!!notbase64'))), { code: 'UNAUTHORIZED' }, 'malformed')
  t.match(await outcome(authn.authenticate(from('Digest username="alice"'))), { code: 'UNAUTHORIZED' }, 'another scheme')
})

t.test('failed logins are throttled per address and per user, with the seconds to wait', async (t) => {
  const { authn } = await setup()
  for (let i = 0; i < 3; i++) t.match(await outcome(authn.authenticate(from(basic('alice', `guess${i}`), '10.9.9.9'))), { code: 'UNAUTHORIZED' })
  t.match(await outcome(authn.authenticate(from(basic('alice', 'wonderland'), '10.9.9.9'))), { code: 'TOOMANYREQUESTS', detail: { retryAfterSeconds: Number } }, 'the address is throttled, even with the right password')
  t.match(await outcome(authn.authenticate(from(basic('alice', 'wonderland'), '10.8.8.8'))), { code: 'TOOMANYREQUESTS' }, 'and so is the user from elsewhere')
  t.same(await authn.authenticate(from(basic('bob', 'builder'), '10.8.8.8')), { kind: 'user', name: 'bob', via: 'password' }, 'another user from another address is not')
})

t.test('a successful check is remembered for a short time only, and not past a removal', async (t) => {
  let now = 1_000_000
  // A password file that does not tell its hashes: a changed password is not noticed before the cache time.
  const { authn, htpasswd, robots, ciSecret } = await setup({ now: () => now, hashes: false })
  t.same(await authn.authenticate(from(basic('alice', 'wonderland'))), { kind: 'user', name: 'alice', via: 'password' })
  // Another hash of another password: the file no longer proves 'wonderland', the cache still does.
  await writeFile(htpasswd, `alice:${bcrypt.hashSync('changed', 4)}\n`)
  t.same(await authn.authenticate(from(basic('alice', 'wonderland'))), { kind: 'user', name: 'alice', via: 'password' }, 'remembered')
  t.match(await outcome(authn.authenticate(from(basic('alice', 'other')))), { code: 'UNAUTHORIZED' }, 'only for that password')
  now += 1001
  t.match(await outcome(authn.authenticate(from(basic('alice', 'wonderland')))), { code: 'UNAUTHORIZED' }, 'checked again after the cache time')

  t.same(await authn.authenticate(from(basic('alice', 'changed'))), { kind: 'user', name: 'alice', via: 'password' })
  await writeFile(htpasswd, '')
  t.match(await outcome(authn.authenticate(from(basic('alice', 'changed')))), { code: 'UNAUTHORIZED' }, 'a removed user is not remembered')
  t.match(await authn.authenticate(from(basic('ci', ciSecret), '10.5.5.5')), { kind: 'robot', name: 'ci' }, 'remembered from now on')
  await robots.revoke('ci')
  // From another address: this one has failed three times by now (and is throttled).
  t.match(await outcome(authn.authenticate(from(basic('ci', ciSecret), '10.5.5.5'))), { code: 'UNAUTHORIZED' }, 'nor a revoked robot')
})

t.test('a changed password, or a robot made again under its name, ends what was remembered at once', async (t) => {
  const { authn, htpasswd, robots, ciSecret } = await setup()
  t.same(await authn.authenticate(from(basic('alice', 'wonderland'))), { kind: 'user', name: 'alice', via: 'password' }, 'remembered from now on')
  t.match(await authn.authenticate(from(basic('ci', ciSecret))), { kind: 'robot', name: 'ci' }, 'remembered from now on')
  await writeFile(htpasswd, `alice:${bcrypt.hashSync('changed', 4)}\n`)
  t.match(await outcome(authn.authenticate(from(basic('alice', 'wonderland')))), { code: 'UNAUTHORIZED' }, 'the old password')
  t.same(await authn.authenticate(from(basic('alice', 'changed'))), { kind: 'user', name: 'alice', via: 'password' }, 'the new one')
  await robots.revoke('ci')
  await new Promise((resolve) => setTimeout(resolve, 5))
  const { secret } = await robots.create('ci', ['repository:team/*:pull,push'], null)
  t.match(await outcome(authn.authenticate(from(basic('ci', ciSecret), '10.4.4.4'))), { code: 'UNAUTHORIZED' }, 'the old robot\'s secret')
  t.match(await authn.authenticate(from(basic('ci', secret), '10.4.4.4')), { kind: 'robot', name: 'ci', scopes: [{ name: 'team/*', actions: ['pull', 'push'] }] }, 'the new robot\'s')
})

t.test('a remembered success does not pass the throttle: a guesser cannot confirm the password with it', async (t) => {
  const { authn } = await setup()
  t.same(await authn.authenticate(from(basic('alice', 'wonderland'), '10.7.7.7')), { kind: 'user', name: 'alice', via: 'password' }, 'remembered from now on')
  for (let i = 0; i < 3; i++) t.match(await outcome(authn.authenticate(from(basic('alice', `guess${i}`), '10.6.6.6'))), { code: 'UNAUTHORIZED' })
  t.match(await outcome(authn.authenticate(from(basic('alice', 'wonderland'), '10.6.6.6'))), { code: 'TOOMANYREQUESTS' }, 'the right password from the guessing address')
})

t.test('Bearer: the token service verifies; the subject is resolved again (removed users and revoked robots fail, robots get their current scopes)', async (t) => {
  const stale = { kind: 'robot' as const, name: 'ci', scopes: [{ type: 'repository', name: 'everything/**', actions: ['*'] }] }
  const tokens = new MemoryTokens([
    { kind: 'bearer', subject: { kind: 'user', name: 'alice', via: 'password' }, name: 'user:alice', access: [] },
    { kind: 'bearer', subject: { kind: 'user', name: 'gone', via: 'password' }, name: 'user:gone', access: [] },
    { kind: 'bearer', subject: stale, name: 'robot:ci', access: [] },
    { kind: 'bearer', subject: undefined, name: 'external', access: [] },
    { kind: 'bearer', subject: { kind: 'robot', name: 'revoked', scopes: [] }, name: 'robot:revoked', access: [] },
  ])
  const { authn } = await setup({ tokens })
  t.match(await authn.authenticate(from('Bearer valid-0')), { kind: 'bearer', subject: { kind: 'user', name: 'alice' } })
  t.match(await outcome(authn.authenticate(from('Bearer valid-1'))), { code: 'UNAUTHORIZED', detail: { invalidToken: true } }, 'a removed user')
  t.match(await authn.authenticate(from('Bearer valid-2')), { kind: 'bearer', subject: { kind: 'robot', name: 'ci', scopes: [{ name: 'team/*' }] } }, 'current scopes')
  t.match(await authn.authenticate(from('Bearer valid-3')), { kind: 'bearer', name: 'external' })
  t.match(await outcome(authn.authenticate(from('Bearer valid-4'))), { code: 'UNAUTHORIZED', detail: { invalidToken: true } }, 'a revoked robot')
  t.match(await outcome(authn.authenticate(from('Bearer forged'))), { code: 'UNAUTHORIZED', detail: { invalidToken: true } }, 'what the service refuses')
  const { authn: without } = await setup()
  t.match(await outcome(without.authenticate(from('Bearer valid-0'))), { code: 'UNAUTHORIZED', detail: { invalidToken: true } }, 'no token service: no bearer tokens')
})
