import { randomBytes } from 'node:crypto'
import { SignJWT, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose'
import type { Caller } from '../access/caller.js'
import type { Grant } from '../access/scope.js'
import { ANONYMOUS } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import type { PasswordFile, RobotTokenStore, TokenService } from './parts.js'
import { SigningKeys } from './signing-keys.js'
import { invalidToken, joseFailure } from './token-errors.js'
import { loadTrustedIssuer, type TrustSettings, type TrustedIssuer } from './trusted-issuer.js'

/**
 * Wharf's bearer tokens (the Docker token protocol): ES256 JWTs signed with the newest key of
 * `<auth dir>/keys/`, verified offline with any key there. A token's subject is looked up again at
 * every request, so a removed user's or revoked robot's tokens stop working at once. Tokens of a
 * trusted external issuer are verified with its public keys; their `access` claim alone decides.
 */

/** What `auth.token` configures (the same shape). */
export interface TokenSettings {
  /** `aud` of access and refresh tokens. */
  readonly service: string
  /** `iss`. */
  readonly issuer: string
  readonly expiresSeconds: number
  readonly refreshExpiresSeconds: number
}

export interface TokenServiceParts {
  readonly keys: SigningKeys
  readonly settings: TokenSettings
  readonly passwords: PasswordFile
  readonly robots: RobotTokenStore
  /** An external issuer whose tokens are accepted too (`auth.trust`). */
  readonly trust?: TrustedIssuer
  /** Tolerated difference between clocks for `exp` and `nbf` (default 30 s). */
  readonly clockSkewSeconds?: number
  readonly now?: () => number
}

/** The `typ` of an access token (as registry:2's token servers write it). */
const ACCESS_TYP = 'JWT'
/** A refresh token carries a typ and a claim of its own, so neither kind passes for the other. */
const REFRESH_TYP = 'wharf-refresh+jwt'
const REFRESH_USE = 'refresh'
const ALGORITHM = 'ES256'

/** The `sub` claim of a caller a token may be issued to. */
export function subjectClaim(subject: Caller): string {
  switch (subject.kind) {
    case 'anonymous': return 'anonymous'
    case 'user': return `user:${subject.name}`
    case 'robot': return `robot:${subject.name}`
    default: throw new Error(`no token is issued to a ${subject.kind} caller`)
  }
}

/** Whether a refresh token may be issued: to a user who logged in with a password, or a robot (whose existence can be checked again). */
export function refreshable(subject: Caller): boolean {
  return (subject.kind === 'user' && subject.via === 'password') || subject.kind === 'robot'
}

/** The `access` claim, checked for shape: a list of {type, name, actions}. */
export function accessClaim(value: unknown): Grant[] | undefined {
  if (value === undefined) return []
  if (!Array.isArray(value)) return undefined
  const grants: Grant[] = []
  for (const entry of value as unknown[]) {
    if (typeof entry !== 'object' || entry === null) return undefined
    const { type, name, actions } = entry as Record<string, unknown>
    if (typeof type !== 'string' || typeof name !== 'string' || !Array.isArray(actions) || actions.some((a) => typeof a !== 'string')) return undefined
    grants.push({ type, name, actions: actions as string[] })
  }
  return grants
}

export class JwtTokenService implements TokenService {
  private readonly skew: number
  private readonly now: () => number

  constructor(private readonly parts: TokenServiceParts) {
    this.skew = parts.clockSkewSeconds ?? 30
    this.now = parts.now ?? Date.now
  }

  async issue(subject: Caller, access: readonly Grant[], service: string): Promise<{ token: string; expiresIn: number; issuedAt: Date }> {
    const { expiresSeconds } = this.parts.settings
    const issuedAt = new Date(Math.floor(this.now() / 1000) * 1000)
    const claims: JWTPayload = { access: access.map((g) => ({ type: g.type, name: g.name, actions: [...g.actions] })) }
    // A certificate user cannot be looked up in the password file: the claim says so.
    if (subject.kind === 'user' && subject.via === 'certificate') claims.via = 'certificate'
    const token = await this.sign(claims, subject, service, ACCESS_TYP, issuedAt, expiresSeconds)
    return { token, expiresIn: expiresSeconds, issuedAt }
  }

  async issueRefresh(subject: Caller, service: string): Promise<string> {
    if (!refreshable(subject)) throw new Error(`no refresh token is issued to a ${subject.kind} caller not logged in with a password`)
    const issuedAt = new Date(Math.floor(this.now() / 1000) * 1000)
    return this.sign({ token_use: REFRESH_USE }, subject, service, REFRESH_TYP, issuedAt, this.parts.settings.refreshExpiresSeconds)
  }

  async verifyRefresh(token: string, service: string): Promise<Caller | undefined> {
    try {
      const payload = await this.verifyOwn(token, REFRESH_TYP, service)
      if (payload.token_use !== REFRESH_USE) return undefined
      const subject = await this.resolve(payload)
      return subject !== undefined && refreshable(subject) ? subject : undefined
    } catch (err) {
      if (err instanceof RegistryError) return undefined
      throw err
    }
  }

  async verify(token: string): Promise<Caller> {
    const unverified = decodeUnverified(token)
    const { settings, trust } = this.parts
    if (unverified.iss === settings.issuer) {
      const payload = await this.verifyOwn(token, ACCESS_TYP, settings.service)
      if (payload.token_use !== undefined) throw invalidToken('not an access token')
      const access = accessClaim(payload.access)
      if (access === undefined) throw invalidToken('malformed access claim')
      const subject = await this.resolve(payload)
      if (subject === undefined) throw invalidToken('its subject no longer exists')
      return { kind: 'bearer', subject, name: payload.sub!, access }
    }
    if (trust !== undefined && unverified.iss === trust.issuer) {
      const payload = await trust.verify(token, this.options(trust.issuer, trust.service))
      if (payload.token_use !== undefined) throw invalidToken('not an access token')
      const access = accessClaim(payload.access)
      if (access === undefined) throw invalidToken('malformed access claim')
      return { kind: 'bearer', subject: undefined, name: `${trust.issuer}:${payload.sub ?? ''}`, access }
    }
    throw invalidToken('unknown issuer')
  }

  private async sign(claims: JWTPayload, subject: Caller, service: string, typ: string, issuedAt: Date, lifetimeSeconds: number): Promise<string> {
    const key = await this.parts.keys.signing()
    const iat = issuedAt.getTime() / 1000
    return new SignJWT(claims)
      .setProtectedHeader({ alg: ALGORITHM, typ, kid: key.kid })
      .setIssuer(this.parts.settings.issuer)
      .setSubject(subjectClaim(subject))
      .setAudience(service)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + lifetimeSeconds)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(key.privateKey)
  }

  private options(issuer: string, audience: string): JWTVerifyOptions {
    return { issuer, audience, clockTolerance: this.skew, currentDate: new Date(this.now()), requiredClaims: ['exp'] }
  }

  /** Verifies a token Wharf signed: ES256 only, a known kid, the expected typ, iss, aud and times. */
  private async verifyOwn(token: string, typ: string, service: string): Promise<JWTPayload> {
    const header = decodeHeader(token)
    if (header.alg !== ALGORITHM) throw invalidToken(`algorithm ${String(header.alg)} is not accepted`)
    if (typeof header.kid !== 'string') throw invalidToken('no key id')
    const key = await this.parts.keys.verifying(header.kid)
    if (key === undefined) throw invalidToken('unknown key id')
    try {
      const { payload } = await jwtVerify(token, key, {
        ...this.options(this.parts.settings.issuer, service),
        algorithms: [ALGORITHM],
        typ,
        requiredClaims: ['exp', 'nbf', 'iat', 'sub', 'jti'],
      })
      return payload
    } catch (err) {
      throw joseFailure(err)
    }
  }

  /** The caller a token of ours was issued to, if it still exists. */
  private async resolve(payload: JWTPayload): Promise<Caller | undefined> {
    const sub = payload.sub ?? ''
    if (sub === 'anonymous') return ANONYMOUS
    if (sub.startsWith('user:')) {
      const name = sub.slice('user:'.length)
      // A certificate user is not in the password file; the certificate was checked when the token was issued.
      if (payload.via === 'certificate') return { kind: 'user', name, via: 'certificate' }
      return await this.parts.passwords.has(name) ? { kind: 'user', name, via: 'password' } : undefined
    }
    if (sub.startsWith('robot:')) {
      const robot = await this.parts.robots.get(sub.slice('robot:'.length))
      // A robot made again under the same name is not the one the token was issued to.
      if (robot === undefined || Math.floor(robot.createdAt / 1000) > (payload.iat ?? 0)) return undefined
      return { kind: 'robot', name: robot.name, scopes: robot.scopes }
    }
    return undefined
  }
}

function decodeHeader(token: string): ReturnType<typeof decodeProtectedHeader> {
  try {
    return decodeProtectedHeader(token)
  } catch (err) {
    throw invalidToken('malformed', err)
  }
}

function decodeUnverified(token: string): JWTPayload {
  try {
    return decodeJwt(token)
  } catch (err) {
    throw invalidToken('malformed', err)
  }
}

/**
 * The token service of a server: opens `<keysDirectory>` (generating the first key on first
 * start) and reads the trusted issuer's keys, if any.
 */
export async function openTokenService(options: {
  readonly keysDirectory: string
  readonly settings: TokenSettings
  readonly trust?: TrustSettings
  readonly passwords: PasswordFile
  readonly robots: RobotTokenStore
  readonly warn?: (message: string) => void
}): Promise<JwtTokenService> {
  const keys = await SigningKeys.open(options.keysDirectory, options.warn !== undefined ? { warn: options.warn } : {})
  const trust = options.trust !== undefined ? await loadTrustedIssuer(options.trust) : undefined
  return new JwtTokenService({ keys, settings: options.settings, passwords: options.passwords, robots: options.robots, ...(trust !== undefined ? { trust } : {}) })
}
