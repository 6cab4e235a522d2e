/**
 * TEST-ONLY stand-ins for the file-backed auth parts (src/auth/parts.ts) that other branches
 * implement (htpasswd, robot tokens, login throttle): small but real, so that the access-control
 * tests run against a real `wharf serve`. The lead replaces them with the real ones at merge.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import bcrypt from 'bcryptjs'
import type { Caller } from '../../src/access/caller.js'
import type { Grant } from '../../src/access/scope.js'
import type { LoginThrottle, PasswordFile, Robot, RobotTokenStore, TokenService } from '../../src/auth/parts.js'
import { RegistryError } from '../../src/errors/registry-error.js'

/** An htpasswd file of bcrypt entries (`htpasswd -B`), read at every check. */
export class TestPasswordFile implements PasswordFile {
  private static readonly DUMMY = bcrypt.hashSync('no such user', 4)
  constructor(private readonly file: string) {}

  private entries(): Map<string, string> {
    const entries = new Map<string, string>()
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      const colon = line.indexOf(':')
      if (colon > 0) entries.set(line.slice(0, colon), line.slice(colon + 1).trim())
    }
    return entries
  }

  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.entries().get(user)
    // bcryptjs knows $2a$/$2b$; Apache writes $2y$, the same algorithm.
    const ok = await bcrypt.compare(password, (hash ?? TestPasswordFile.DUMMY).replace(/^\$2y\$/, '$2b$'))
    return hash !== undefined && ok
  }

  async has(user: string): Promise<boolean> {
    return this.entries().has(user)
  }
}

export interface TestRobotEntry extends Robot {
  /** sha256 hex of the secret. */
  readonly secretSha256: string
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Robots from a JSON file (a list of TestRobotEntry), read at every check. */
export class TestRobotStore implements RobotTokenStore {
  constructor(private readonly file: string) {}

  private robots(): TestRobotEntry[] {
    try { return JSON.parse(readFileSync(this.file, 'utf8')) as TestRobotEntry[] } catch { return [] }
  }

  async get(name: string): Promise<Robot | undefined> {
    const robot = this.robots().find((r) => r.name === name)
    return robot !== undefined && (robot.expiresAt === null || robot.expiresAt > Date.now()) ? robot : undefined
  }

  async verify(name: string, secret: string): Promise<Robot | undefined> {
    const robot = await this.get(name)
    if (robot === undefined) return undefined
    const expected = Buffer.from((robot as TestRobotEntry).secretSha256, 'hex')
    const actual = createHash('sha256').update(secret).digest()
    return expected.length === actual.length && timingSafeEqual(expected, actual) ? robot : undefined
  }
}

/** Failures per address and per user within a window; `failures` of them and the next try waits. */
export class TestThrottle implements LoginThrottle {
  private readonly failuresAt = new Map<string, number[]>()
  constructor(private readonly failures: number, private readonly windowSeconds: number, private readonly now: () => number = Date.now) {}

  private recent(key: string): number[] {
    const cutoff = this.now() - this.windowSeconds * 1000
    const times = (this.failuresAt.get(key) ?? []).filter((time) => time > cutoff)
    this.failuresAt.set(key, times)
    return times
  }

  retryAfterSeconds(address: string, user: string): number | undefined {
    for (const key of [`a:${address}`, `u:${user}`]) {
      const times = this.recent(key)
      if (times.length >= this.failures) return Math.max(1, Math.ceil((times[0]! + this.windowSeconds * 1000 - this.now()) / 1000))
    }
    return undefined
  }

  failed(address: string, user: string): void {
    for (const key of [`a:${address}`, `u:${user}`]) this.failuresAt.set(key, [...this.recent(key), this.now()])
  }

  succeeded(_address: string, user: string): void {
    this.failuresAt.delete(`u:${user}`)
  }
}

/**
 * Tokens `test.<base64url of {"sub", "access"}>`, taken at their word: a stand-in for the signed
 * tokens of the token service (another branch), so that bearer callers reach the server in the
 * access tests. `sub` is `user:<name>`, `robot:<name>`, `anonymous`, or `external:<name>` (a token
 * of a trusted external issuer: no subject). Anything else is refused as the real service would.
 */
export class TestTokens implements TokenService {
  async issue(): Promise<never> { throw new Error('test tokens are made by testToken()') }
  async issueRefresh(): Promise<never> { throw new Error('test tokens are made by testToken()') }
  async verifyRefresh(): Promise<undefined> { return undefined }

  async verify(token: string): Promise<Caller> {
    let claims: { sub?: unknown; access?: unknown }
    try {
      if (!token.startsWith('test.')) throw new Error('not a test token')
      claims = JSON.parse(Buffer.from(token.slice(5), 'base64url').toString('utf8')) as { sub?: unknown; access?: unknown }
    } catch {
      throw new RegistryError('UNAUTHORIZED', { message: 'invalid token' })
    }
    const sub = String(claims.sub)
    const access = (Array.isArray(claims.access) ? claims.access : []) as Grant[]
    const [kind, name = ''] = sub.split(/:(.*)/s)
    const subject: Caller | undefined = kind === 'user' ? { kind: 'user', name, via: 'password' }
      : kind === 'robot' ? { kind: 'robot', name, scopes: [] }
        : kind === 'anonymous' ? { kind: 'anonymous' }
          : undefined
    return { kind: 'bearer', subject, name: sub, access }
  }
}

export function testToken(sub: string, access: readonly Grant[]): string {
  return `test.${Buffer.from(JSON.stringify({ sub, access })).toString('base64url')}`
}
