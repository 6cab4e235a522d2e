import path from 'node:path'
import type { Logger } from 'pino'
import { HtpasswdFile } from '../auth/htpasswd.js'
import { InMemoryLoginThrottle } from '../auth/login-throttle.js'
import type { LoginThrottle, PasswordFile, RobotTokenStore, TokenService } from '../auth/parts.js'
import { RobotTokenFile } from '../auth/robot-tokens.js'
import { openTokenService } from '../auth/token-service.js'
import type { AuthConfig } from '../config/auth-config.js'
import { CommandFailure } from './failure.js'

/** The parts access control is built from (src/auth/parts.ts); the composition root adds the policy and the authenticator. */
export interface AuthParts {
  readonly passwordFile: PasswordFile
  readonly robots: RobotTokenStore
  readonly throttle: LoginThrottle
  /** Issues and verifies bearer tokens; without it only Basic credentials and client certificates log in. */
  readonly tokens?: TokenService
  /** Releases what the parts hold; called when Wharf closes. */
  readonly close?: () => Promise<void>
}

/** Builds the parts for `auth`, whose files live in `directory` (`auth.directory`, default `<storage>/auth`). */
export type AuthPartsFactory = (auth: AuthConfig, directory: string, logger: Logger) => AuthParts | Promise<AuthParts>

/**
 * The default parts: the htpasswd file, `<auth dir>/robots.json`, the login throttle in memory,
 * and the token service signing with the keys in `<auth dir>/keys/` (the first made on first start).
 */
export const defaultAuthParts: AuthPartsFactory = async (auth, directory, logger) => {
  const log = logger.child({ component: 'auth' })
  const passwordFile = await HtpasswdFile.open(auth.htpasswd, { logger: log }).catch((err: unknown) => {
    throw new CommandFailure((err as Error).message)
  })
  const robots = RobotTokenFile.inDirectory(directory, { logger: log })
  const throttle = new InMemoryLoginThrottle(auth.throttle)
  const tokens = await openTokenService({
    keysDirectory: path.join(directory, 'keys'),
    settings: auth.token,
    ...(auth.trust !== undefined ? { trust: auth.trust } : {}),
    passwords: passwordFile,
    robots,
    warn: (message) => log.warn(message),
  })
  return { passwordFile, robots, throttle, tokens }
}
