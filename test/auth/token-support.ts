/**
 * TEST-ONLY stand-ins for the parts other branches build (issue 11): a password file, a robot
 * store, an access policy, an authenticator and the /v2/ authentication hook. They are minimal but
 * real (no mocks: they decide as the design says), so that the token tests run against a real
 * server over HTTP before the real parts are merged. When they are, startTokenServer should start
 * `wharf serve` with an auth section instead, and these classes go.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import type { Test } from 'tap'
import type { Caller } from '../../src/access/caller.js'
import type { AccessPolicy } from '../../src/access/policy.js'
import type { Action, Grant, Need, Resource } from '../../src/access/scope.js'
import type { Authenticator, Credentials, PasswordFile, Robot, RobotTokenStore } from '../../src/auth/parts.js'
import { JwtTokenService, openTokenService } from '../../src/auth/token-service.js'
import type { TrustSettings } from '../../src/auth/trusted-issuer.js'
import { keysDirectory } from '../../src/cli/auth.js'
import { appOptionsFrom, compose } from '../../src/cli/composition.js'
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js'
import { ANONYMOUS } from '../../src/context/request-context.js'
import { RegistryError, toErrorBody } from '../../src/errors/registry-error.js'
import { buildApp } from '../../src/http/app.js'
import { globToRegExp } from '../../src/oci/glob.js'

export class TestPasswords implements PasswordFile {
  private readonly users = new Map<string, string>()
  add(user: string, password: string): void { this.users.set(user, password) }
  remove(user: string): void { this.users.delete(user) }
  async verify(user: string, password: string): Promise<boolean> { return this.users.get(user) === password }
  async has(user: string): Promise<boolean> { return this.users.has(user) }
}

export class TestRobots implements RobotTokenStore {
  private readonly robots = new Map<string, { robot: Robot; hash: string }>()
  create(name: string, scopes: readonly Grant[]): string {
    const secret = `wharf_${randomBytes(32).toString('base64url')}`
    this.robots.set(name, { robot: { name, scopes, expiresAt: null, createdAt: Date.now() }, hash: createHash('sha256').update(secret).digest('hex') })
    return secret
  }
  revoke(name: string): void { this.robots.delete(name) }
  async verify(name: string, secret: string): Promise<Robot | undefined> {
    const entry = this.robots.get(name)
    return entry !== undefined && entry.hash === createHash('sha256').update(secret).digest('hex') ? entry.robot : undefined
  }
  async get(name: string): Promise<Robot | undefined> { return this.robots.get(name)?.robot }
}

/** A user's rules: repository glob → actions. */
export type TestRules = Readonly<Record<string, ReadonlyArray<{ readonly repositories: string; readonly actions: readonly Action[] }>>>

function matches(scopes: ReadonlyArray<{ repositories: string; actions: readonly string[] }>, resource: Resource, action: Action): boolean {
  if (resource.type !== 'repository') return false
  return scopes.some((s) => globToRegExp(s.repositories).test(resource.name) && s.actions.includes(action))
}

/** The design's semantics, for repositories only: users by rules ∪ anonymous, robots by scopes, bearers by access ∩ subject. */
export class TestPolicy implements AccessPolicy {
  readonly enabled = true
  constructor(private readonly users: TestRules, private readonly anonymous: ReadonlyArray<{ repositories: string; actions: readonly Action[] }>) {}

  allows(caller: Caller, resource: Resource, action: Action): boolean {
    switch (caller.kind) {
      case 'system': return true
      case 'anonymous': return matches(this.anonymous, resource, action)
      case 'user': return matches(this.users[caller.name] ?? [], resource, action) || matches(this.anonymous, resource, action)
      case 'robot': return matches(caller.scopes.map((g) => ({ repositories: g.name, actions: g.actions })), resource, action)
      case 'bearer': {
        const granted = caller.access.some((g) => g.type === resource.type && g.name === resource.name && (g.actions.includes(action) || g.actions.includes('*')))
        return granted && (caller.subject === undefined || this.allows(caller.subject, resource, action))
      }
    }
  }

  authorize(caller: Caller, needs: readonly Need[]): void {
    for (const need of needs) {
      if (need.action === '*' || this.allows(caller, need.resource, need.action)) continue
      throw new RegistryError(caller.kind === 'anonymous' || caller.kind === 'bearer' ? 'UNAUTHORIZED' : 'DENIED')
    }
  }

  grantable(subject: Caller, asked: readonly Grant[]): Grant[] {
    const granted: Grant[] = []
    for (const grant of asked) {
      if (grant.type !== 'repository') continue
      const actions = grant.actions.filter((a) => this.allows(subject, { type: 'repository', name: grant.name }, a as Action))
      if (actions.length > 0) granted.push({ type: grant.type, name: grant.name, actions })
    }
    return granted
  }
}

/** Basic (users, then robots), Bearer (the token service); failures per address throttled after `failures`. */
export class TestAuthenticator implements Authenticator {
  private readonly failed = new Map<string, number>()
  constructor(private readonly passwords: TestPasswords, private readonly robots: TestRobots, private readonly tokens: JwtTokenService, private readonly failures = 5) {}

  async authenticate(credentials: Credentials): Promise<Caller> {
    const authorization = credentials.authorization
    if (authorization === undefined) return ANONYMOUS
    if (/^bearer /i.test(authorization)) return this.tokens.verify(authorization.slice(7).trim())
    if (!/^basic /i.test(authorization)) throw new RegistryError('UNAUTHORIZED')
    if ((this.failed.get(credentials.address) ?? 0) >= this.failures) {
      throw new RegistryError('TOOMANYREQUESTS', { detail: { retryAfterSeconds: 60 } })
    }
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    const user = decoded.slice(0, colon)
    const password = decoded.slice(colon + 1)
    if (colon > 0 && await this.passwords.verify(user, password)) return { kind: 'user', name: user, via: 'password' }
    const robot = colon > 0 ? await this.robots.verify(user, password) : undefined
    if (robot !== undefined) return { kind: 'robot', name: robot.name, scopes: robot.scopes }
    this.failed.set(credentials.address, (this.failed.get(credentials.address) ?? 0) + 1)
    throw new RegistryError('UNAUTHORIZED', { message: 'wrong username or password' })
  }
}

export interface TokenServer {
  readonly url: string
  readonly storage: string
  /** Where the signing keys are: `wharf auth rotate-key --storage <storage>` writes here too. */
  readonly keysDirectory: string
  readonly passwords: TestPasswords
  readonly robots: TestRobots
  readonly tokens: JwtTokenService
}

export interface TokenServerOptions {
  readonly users?: TestRules
  readonly anonymous?: ReadonlyArray<{ repositories: string; actions: readonly Action[] }>
  readonly trust?: TrustSettings
  /** A keys directory shared with another server (another node). */
  readonly keysDirectory?: string
  readonly failures?: number
}

const SERVICE = 'wharf'

/**
 * Wharf composed in this process with the token endpoint and, on /v2/, the authentication the
 * design asks for (a stand-in for the real wiring): a bad token → 401 `error="invalid_token"`,
 * /v2/ needs a caller, tag lists need pull.
 */
export async function startTokenServer(t: Test, options: TokenServerOptions = {}): Promise<TokenServer> {
  const storage = await mkdtemp(path.join(tmpdir(), 'wharf-tokens-'))
  const logger = pino({ level: 'silent' })
  const config: Config = { ...DEFAULT_CONFIG, storage: { path: storage }, log: { level: 'error', requests: false } }
  const keys = options.keysDirectory ?? keysDirectory(config)
  const passwords = new TestPasswords()
  const robots = new TestRobots()
  const tokens = await openTokenService({
    keysDirectory: keys,
    settings: { service: SERVICE, issuer: 'wharf', expiresSeconds: 300, refreshExpiresSeconds: 3600 },
    passwords, robots, ...(options.trust !== undefined ? { trust: options.trust } : {}),
  })
  const policy = new TestPolicy(options.users ?? {}, options.anonymous ?? [])
  const authenticator = new TestAuthenticator(passwords, robots, tokens, options.failures)
  const wharf = await compose(config, { logger: () => logger })
  const app = buildApp(wharf.registry, { ...appOptionsFrom(config, logger), access: { authenticator, policy, challenge: { service: SERVICE }, tokens: { tokens, service: SERVICE } } })
  let url = ''
  app.addHook('onRequest', async (request, reply) => {
    const pathname = (request.raw.url ?? '/').split('?')[0]!
    if (!pathname.startsWith('/v2')) return
    const challenge = (extra: string): string => `Bearer realm="${url}/token",service="${SERVICE}"${extra}`
    let caller: Caller
    try {
      caller = await authenticator.authenticate({ authorization: request.headers.authorization, certificateName: undefined, address: request.ip })
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err
      const invalid = (err.detail as { invalidToken?: boolean } | undefined)?.invalidToken === true
      if (err.status === 401) reply.header('WWW-Authenticate', challenge(invalid ? ',error="invalid_token"' : ''))
      return reply.code(err.status).send(toErrorBody(err))
    }
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(pathname)
    const needed = tags !== null ? { resource: { type: 'repository' as const, name: tags[1]! }, action: 'pull' as const } : undefined
    if (needed === undefined ? caller.kind === 'anonymous' : !policy.allows(caller, needed.resource, needed.action)) {
      const scope = needed !== undefined ? `,scope="repository:${needed.resource.name}:pull"` : ''
      const error = new RegistryError(caller.kind === 'user' || caller.kind === 'robot' ? 'DENIED' : 'UNAUTHORIZED')
      if (error.status === 401) reply.header('WWW-Authenticate', challenge(`${scope}${caller.kind === 'bearer' ? ',error="insufficient_scope"' : ''}`))
      return reply.code(error.status).send(toErrorBody(error))
    }
    return undefined
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  t.teardown(async () => {
    await app.close()
    await wharf.close()
    await rm(storage, { recursive: true, force: true })
  })
  return { url, storage, keysDirectory: keys, passwords, robots, tokens }
}
