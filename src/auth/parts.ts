import type { Grant } from '../access/scope.js'
import type { Caller } from '../access/caller.js'

/**
 * The parts access control is made of, each behind a small interface so that several backends
 * (a file today, the shared database of several nodes later) can provide it.
 */

/** The htpasswd file of users (bcrypt entries), reloaded when it changes. */
export interface PasswordFile {
  /** Constant-time for a known user; an unknown user costs one bcrypt comparison too. */
  verify(user: string, password: string): Promise<boolean>
  has(user: string): Promise<boolean>
  /** The user's stored hash: a password remembered after a check counts only while it is unchanged. */
  hashOf?(user: string): Promise<string | undefined>
}

/** A robot token as stored: the secret only as a hash. */
export interface Robot {
  readonly name: string
  readonly scopes: readonly Grant[]
  /** Milliseconds since the epoch; null: never. */
  readonly expiresAt: number | null
  readonly createdAt: number
}

export interface RobotTokenStore {
  /** The robot whose secret this is, if it is current (known, not revoked, not expired). */
  verify(name: string, secret: string): Promise<Robot | undefined>
  /** The robot by name, if current. */
  get(name: string): Promise<Robot | undefined>
}

/** Failed logins per client address and per user name. */
export interface LoginThrottle {
  /** Seconds to wait before trying again, or undefined when a login may be tried now. */
  retryAfterSeconds(address: string, user: string): number | undefined
  failed(address: string, user: string): void
  succeeded(address: string, user: string): void
}

/** Who a request is from, given what it presented. */
export interface Credentials {
  readonly authorization: string | undefined
  /** Common name of a client certificate the TLS layer verified against `http.tls.clientCA`. */
  readonly certificateName: string | undefined
  readonly address: string
}

export interface Authenticator {
  /**
   * The caller, ANONYMOUS when nothing was presented. Throws RegistryError UNAUTHORIZED for wrong
   * or forged credentials (with `invalidToken: true` in the error's detail for a bearer token)
   * and TOOMANYREQUESTS (with `retryAfterSeconds`) while logins from that address or for that user are throttled.
   */
  authenticate(credentials: Credentials): Promise<Caller>
}

/** Issues and verifies the bearer tokens of the Docker token protocol. */
export interface TokenService {
  /** A signed access token for `subject` carrying exactly `access`. */
  issue(subject: Caller, access: readonly Grant[], service: string): Promise<{ token: string; expiresIn: number; issuedAt: Date }>
  /** A refresh token for `subject` (OAuth2 offline access). */
  issueRefresh(subject: Caller, service: string): Promise<string>
  /** The subject of a refresh token, if it is valid and its subject still exists. */
  verifyRefresh(token: string, service: string): Promise<Caller | undefined>
  /** A bearer caller; throws RegistryError UNAUTHORIZED (invalid_token) for anything not valid. */
  verify(token: string): Promise<Caller>
}
