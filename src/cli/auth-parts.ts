import type { AuthConfig } from '../config/auth-config.js'
import type { LoginThrottle, PasswordFile, RobotTokenStore, TokenService } from '../auth/parts.js'

/** The file-backed parts access control is built from (src/auth/parts.ts); the composition root adds the policy and the authenticator. */
export interface AuthParts {
  readonly passwordFile: PasswordFile
  readonly robots: RobotTokenStore
  readonly throttle: LoginThrottle
  /** Verifies bearer tokens; without it only Basic credentials and client certificates log in. */
  readonly tokens?: TokenService
  /** Releases what the parts hold (file watchers, timers); called when Wharf closes. */
  readonly close?: () => Promise<void>
}

/** Builds the parts for `auth`, whose files live in `directory` (`auth.directory`, default `<storage>/auth`). */
export type AuthPartsFactory = (auth: AuthConfig, directory: string) => AuthParts | Promise<AuthParts>

/**
 * The default parts: the htpasswd file, robots.json, the login throttle and the token service.
 * (Their implementations are built on other branches; until they are wired in here, a server with
 * an `auth` section needs them passed through ComposeOptions.authParts.)
 */
export const defaultAuthParts: AuthPartsFactory = () => {
  throw new Error('access control (auth) is not available in this build: htpasswd, robot token and token service implementations are not wired in')
}
