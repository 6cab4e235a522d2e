import { createHmac, randomBytes } from 'node:crypto'
import type { Caller } from '../access/caller.js'
import { RegistryError, isRegistryError } from '../errors/registry-error.js'
import { ANONYMOUS } from '../context/request-context.js'
import type { Authenticator, Credentials, LoginThrottle, PasswordFile, RobotTokenStore, TokenService } from './parts.js'

export interface CredentialAuthenticatorParts {
  readonly passwords: PasswordFile
  readonly robots: RobotTokenStore
  readonly throttle: LoginThrottle
  /** Verifies bearer tokens; without it every bearer token is refused. */
  readonly tokens?: TokenService
  /** How long a successful Basic check is remembered (bcrypt costs ~100 ms; clients send Basic with every request). Default 60 s. */
  readonly cacheTtlMs?: number
  /** Successful checks remembered at most. Default 1000. */
  readonly cacheEntries?: number
  /** Milliseconds now; injectable for tests. */
  readonly now?: () => number
}

/** Robot secrets look like this (`wharf token create`); anything else is a password. */
const ROBOT_SECRET_PREFIX = 'wharf_'

/** Usernames longer than this are refused before any work (they would only fill the throttle's tables). */
const MAX_USERNAME = 256

/**
 * Who a request is from: Basic credentials (an htpasswd user, or a robot: username = its name,
 * password = its secret), a bearer token, or a client certificate's name; anonymous when nothing
 * was presented. Failed Basic logins are throttled per address and per user name.
 */
export class CredentialAuthenticator implements Authenticator {
  private readonly parts: CredentialAuthenticatorParts
  private readonly cacheTtlMs: number
  private readonly cacheEntries: number
  private readonly now: () => number
  /** Keyed by an HMAC (a per-process random key) of user and password: the cache never holds a password or a cheap hash of one. */
  private readonly cache = new Map<string, { readonly caller: Caller; readonly expiresAt: number; readonly standing: string }>()
  private readonly cacheKey = randomBytes(32)

  constructor(parts: CredentialAuthenticatorParts) {
    this.parts = parts
    this.cacheTtlMs = parts.cacheTtlMs ?? 60_000
    this.cacheEntries = parts.cacheEntries ?? 1000
    this.now = parts.now ?? Date.now
  }

  async authenticate(credentials: Credentials): Promise<Caller> {
    const authorization = credentials.authorization?.trim()
    if (authorization === undefined || authorization === '') {
      if (credentials.certificateName !== undefined && credentials.certificateName !== '') {
        return { kind: 'user', name: credentials.certificateName, via: 'certificate' }
      }
      return ANONYMOUS
    }
    const space = authorization.indexOf(' ')
    const scheme = (space === -1 ? authorization : authorization.slice(0, space)).toLowerCase()
    const value = space === -1 ? '' : authorization.slice(space + 1).trim()
    if (scheme === 'basic') return this.basic(value, credentials.address)
    if (scheme === 'bearer') return this.bearer(value)
    throw new RegistryError('UNAUTHORIZED', { message: 'unsupported authorization scheme: use Basic or Bearer' })
  }

  private async basic(value: string, address: string): Promise<Caller> {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon <= 0 || colon > MAX_USERNAME) throw new RegistryError('UNAUTHORIZED', { message: 'malformed Basic credentials' })
    const user = decoded.slice(0, colon)
    const password = decoded.slice(colon + 1)
    // The throttle comes before the remembered successes: else a guesser stopped by it would still
    // learn which guess is right while the owner's login is remembered.
    const retryAfterSeconds = this.parts.throttle.retryAfterSeconds(address, user)
    if (retryAfterSeconds !== undefined) {
      throw new RegistryError('TOOMANYREQUESTS', { message: 'too many failed logins: try again later', detail: { retryAfterSeconds } })
    }
    const key = createHmac('sha256', this.cacheKey).update(user).update('\0').update(password).digest('base64')
    const cached = this.cache.get(key)
    if (cached !== undefined && cached.expiresAt > this.now()) {
      // Remembered while what was checked stands (cheap look-ups, no bcrypt): not past a removed
      // user, a changed password, a revoked robot or one made again under the same name.
      const now = await this.standingOf(cached.caller.kind === 'robot' ? 'robot' : 'user', user)
      if (now !== undefined && now.standing === cached.standing) return now.caller
    }
    if (cached !== undefined) this.cache.delete(key)
    // Read before the check, so that a change during it makes the remembered standing stale, never newer.
    const standing = { user: await this.standingOf('user', user), robot: await this.standingOf('robot', user) }
    const caller = await this.check(user, password)
    if (caller === undefined) {
      this.parts.throttle.failed(address, user)
      throw new RegistryError('UNAUTHORIZED', { message: 'wrong user name or password' })
    }
    this.parts.throttle.succeeded(address, user)
    const checked = caller.kind === 'robot' ? standing.robot : standing.user
    if (checked !== undefined) this.remember(key, caller, checked.standing)
    return caller
  }

  /**
   * What a successful check of `name` rests on, as it is now: a user's password hash (or just
   * that the user exists, for a password file that does not tell its hashes), a robot's creation
   * time; undefined when there is no such user or robot.
   */
  private async standingOf(kind: 'user' | 'robot', name: string): Promise<{ caller: Caller; standing: string } | undefined> {
    if (kind === 'robot') {
      const robot = await this.parts.robots.get(name)
      return robot === undefined ? undefined : { caller: { kind: 'robot', name: robot.name, scopes: robot.scopes }, standing: `robot ${robot.createdAt}` }
    }
    const passwords = this.parts.passwords
    const hash = passwords.hashOf !== undefined ? await passwords.hashOf(name) : await passwords.has(name) ? 'present' : undefined
    return hash === undefined ? undefined : { caller: { kind: 'user', name, via: 'password' }, standing: `user ${hash}` }
  }

  private async check(user: string, password: string): Promise<Caller | undefined> {
    if (password.startsWith(ROBOT_SECRET_PREFIX)) {
      const robot = await this.parts.robots.verify(user, password)
      if (robot !== undefined) return { kind: 'robot', name: robot.name, scopes: robot.scopes }
    }
    if (await this.parts.passwords.verify(user, password)) return { kind: 'user', name: user, via: 'password' }
    return undefined
  }

  private remember(key: string, caller: Caller, standing: string): void {
    if (this.cache.size >= this.cacheEntries) {
      // Insertion order: the oldest entry goes first.
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
    this.cache.set(key, { caller, expiresAt: this.now() + this.cacheTtlMs, standing })
  }

  private async bearer(token: string): Promise<Caller> {
    if (this.parts.tokens === undefined || token === '') throw invalidToken('bearer tokens are not accepted here')
    let caller: Caller
    try {
      caller = await this.parts.tokens.verify(token)
    } catch (err) {
      if (isRegistryError(err) && err.code === 'UNAUTHORIZED') throw invalidToken(err.message, err)
      throw err
    }
    if (caller.kind !== 'bearer' || caller.subject === undefined) return caller
    // The subject as it is now: a removed user's or revoked robot's tokens stop working, and a robot's current scopes apply.
    const subject = await this.current(caller.subject)
    if (subject === undefined) throw invalidToken('the token\'s subject no longer exists')
    return { ...caller, subject }
  }

  private async current(subject: Caller): Promise<Caller | undefined> {
    switch (subject.kind) {
      case 'user':
        return subject.via === 'certificate' || await this.parts.passwords.has(subject.name) ? subject : undefined
      case 'robot': {
        const robot = await this.parts.robots.get(subject.name)
        return robot === undefined ? undefined : { kind: 'robot', name: robot.name, scopes: robot.scopes }
      }
      default:
        return subject
    }
  }
}

function invalidToken(message: string, cause?: unknown): RegistryError {
  return new RegistryError('UNAUTHORIZED', { message, detail: { invalidToken: true }, ...(cause !== undefined ? { cause } : {}) })
}

/** Without an `auth` section nobody is asked who they are: every caller is anonymous (and the open policy allows everything). */
export const OPEN_AUTHENTICATOR: Authenticator = { authenticate: async () => ANONYMOUS }
