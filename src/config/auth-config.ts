import path from 'node:path'
import type { AccessRule, AccessRules, AnonymousRule } from '../access/policy.js'
import type { Action, RepositoryAction } from '../access/scope.js'
import { count, list, mapping, names, only, optionalText, text, type Fail } from './fields.js'

/** HTTPS: certificate and key files (PEM), reloaded when they change; client certificates optional. */
export interface TlsConfig {
  readonly certificate: string
  readonly key: string
  /** CA bundle for client certificates; a verified certificate's common name is the user it logs in as. */
  readonly clientCA?: string
}

/** Tokens Wharf issues itself (the Docker token protocol). */
export interface TokenConfig {
  /** The token endpoint's absolute URL; by default `<scheme>://<Host of the request>/token`. */
  readonly realm?: string
  /** `service` in challenges and `aud` in tokens. */
  readonly service: string
  /** `iss` in tokens. */
  readonly issuer: string
  readonly expiresSeconds: number
  /** Refresh tokens (OAuth2 `offline` access) stay valid this long. */
  readonly refreshExpiresSeconds: number
}

/** An external token issuer trusted instead of, or besides, Wharf's own (as registry:2's `auth.token`). */
export interface TrustConfig {
  readonly issuer: string
  readonly service: string
  /** The issuer's public keys: a PEM file (one or more keys or certificates) or a JWKS file. */
  readonly publicKey?: string
  readonly jwks?: string
  /** The token endpoint clients are sent to; required, as Wharf does not issue these tokens. */
  readonly realm: string
}

export interface ThrottleConfig {
  /** Failed logins from one address, or for one user name, within the window before 429. */
  readonly failures: number
  readonly windowSeconds: number
}

/** Access control; absent: Wharf is open, as registry:2 without `auth`. */
export interface AuthConfig extends AccessRules {
  /** An htpasswd file with bcrypt entries (Apache `htpasswd -B`, `wharf user add`). */
  readonly htpasswd: string
  /** Robot tokens (hashed) and signing keys live here; default `<storage>/auth`. */
  readonly directory?: string
  readonly token: TokenConfig
  readonly trust?: TrustConfig
  readonly throttle: ThrottleConfig
}

export const DEFAULT_TOKEN: TokenConfig = { service: 'wharf', issuer: 'wharf', expiresSeconds: 300, refreshExpiresSeconds: 30 * 24 * 3600 }
export const DEFAULT_THROTTLE: ThrottleConfig = { failures: 10, windowSeconds: 300 }

const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', 'admin']
const REPOSITORY_ACTIONS: readonly RepositoryAction[] = ['pull', 'push', 'delete']

function actions<A extends string>(value: unknown, allowed: readonly A[], where: string, fail: Fail): A[] {
  if (!Array.isArray(value) || value.length === 0) fail(`${where} must be a non-empty list of ${allowed.join(', ')}`)
  for (const action of value as unknown[]) {
    if (!(allowed as readonly unknown[]).includes(action)) fail(`${where}: "${String(action)}" is not one of ${allowed.join(', ')}`)
  }
  return value as A[]
}

/** `http.tls` from the file; environment variables WHARF_HTTP_TLS_CERTIFICATE, _KEY, _CLIENTCA override it. */
export function parseTls(value: unknown, env: Readonly<Record<string, string | undefined>>, fail: Fail): TlsConfig | null {
  const file = value === undefined || value === null ? {} : mapping(value, 'http.tls', fail)
  only(file, ['certificate', 'key', 'clientCA'], 'http.tls', fail)
  const certificate = env.WHARF_HTTP_TLS_CERTIFICATE ?? file.certificate
  const key = env.WHARF_HTTP_TLS_KEY ?? file.key
  const clientCA = env.WHARF_HTTP_TLS_CLIENTCA ?? file.clientCA
  if (certificate === undefined && key === undefined && clientCA === undefined) return null
  if (certificate === undefined || key === undefined) fail('http.tls needs both certificate and key')
  return {
    certificate: text(certificate, 'http.tls.certificate', fail),
    key: text(key, 'http.tls.key', fail),
    ...(clientCA !== undefined ? { clientCA: text(clientCA, 'http.tls.clientCA', fail) } : {}),
  }
}

/** The `auth` section; environment variable WHARF_AUTH_HTPASSWD turns it on (or overrides the file's). */
export function parseAuth(value: unknown, env: Readonly<Record<string, string | undefined>>, fail: Fail): AuthConfig | null {
  const section = value === undefined || value === null ? {} : mapping(value, 'auth', fail)
  only(section, ['htpasswd', 'directory', 'groups', 'rules', 'anonymous', 'token', 'trust', 'throttle'], 'auth', fail)
  const htpasswd = env.WHARF_AUTH_HTPASSWD ?? section.htpasswd
  if (htpasswd === undefined) {
    if (Object.keys(section).length > 0) fail('auth needs htpasswd (the file of users), or no auth section at all')
    return null
  }

  const groups: Record<string, string[]> = {}
  for (const [group, members] of Object.entries(section.groups === undefined ? {} : mapping(section.groups, 'auth.groups', fail))) {
    groups[group] = names(members, `auth.groups.${group}`, fail)
  }
  const rules: AccessRule[] = (section.rules === undefined ? [] : list(section.rules, 'auth.rules', fail)).map((entry, i) => {
    const where = `auth.rules[${i}]`
    const rule = mapping(entry, where, fail)
    only(rule, ['repositories', 'users', 'groups', 'actions'], where, fail)
    const ruleActions = actions(rule.actions, ACTIONS, `${where}.actions`, fail)
    const users = names(rule.users, `${where}.users`, fail)
    const ruleGroups = names(rule.groups, `${where}.groups`, fail)
    for (const group of ruleGroups) if (groups[group] === undefined) fail(`${where}.groups: "${group}" is not defined under auth.groups`)
    if (users.length === 0 && ruleGroups.length === 0) fail(`${where} must name users or groups (anonymous access goes under auth.anonymous)`)
    // A rule of admin alone needs no repositories; any other action is about repositories.
    const repositories = rule.repositories === undefined && ruleActions.every((a) => a === 'admin') ? '**' : text(rule.repositories, `${where}.repositories`, fail)
    return { repositories, users, groups: ruleGroups, actions: ruleActions }
  })
  const anonymous: AnonymousRule[] = (section.anonymous === undefined ? [] : list(section.anonymous, 'auth.anonymous', fail)).map((entry, i) => {
    const where = `auth.anonymous[${i}]`
    const rule = mapping(entry, where, fail)
    only(rule, ['repositories', 'actions'], where, fail)
    return { repositories: text(rule.repositories, `${where}.repositories`, fail), actions: actions(rule.actions, REPOSITORY_ACTIONS, `${where}.actions`, fail) }
  })

  const tokenSection = section.token === undefined ? {} : mapping(section.token, 'auth.token', fail)
  only(tokenSection, ['realm', 'service', 'issuer', 'expiresSeconds', 'refreshExpiresSeconds'], 'auth.token', fail)
  const realm = optionalText(tokenSection.realm, 'auth.token.realm', fail)
  const token: TokenConfig = {
    ...(realm !== undefined ? { realm } : {}),
    service: optionalText(tokenSection.service, 'auth.token.service', fail) ?? DEFAULT_TOKEN.service,
    issuer: optionalText(tokenSection.issuer, 'auth.token.issuer', fail) ?? DEFAULT_TOKEN.issuer,
    expiresSeconds: count(tokenSection.expiresSeconds, DEFAULT_TOKEN.expiresSeconds, 'auth.token.expiresSeconds', fail),
    refreshExpiresSeconds: count(tokenSection.refreshExpiresSeconds, DEFAULT_TOKEN.refreshExpiresSeconds, 'auth.token.refreshExpiresSeconds', fail),
  }

  let trust: TrustConfig | undefined
  if (section.trust !== undefined) {
    const t = mapping(section.trust, 'auth.trust', fail)
    only(t, ['issuer', 'service', 'publicKey', 'jwks', 'realm'], 'auth.trust', fail)
    const publicKey = optionalText(t.publicKey, 'auth.trust.publicKey', fail)
    const jwks = optionalText(t.jwks, 'auth.trust.jwks', fail)
    if ((publicKey === undefined) === (jwks === undefined)) fail('auth.trust needs exactly one of publicKey and jwks')
    trust = {
      issuer: text(t.issuer, 'auth.trust.issuer', fail),
      service: text(t.service, 'auth.trust.service', fail),
      realm: text(t.realm, 'auth.trust.realm', fail),
      ...(publicKey !== undefined ? { publicKey } : {}),
      ...(jwks !== undefined ? { jwks } : {}),
    }
  }

  const throttleSection = section.throttle === undefined ? {} : mapping(section.throttle, 'auth.throttle', fail)
  only(throttleSection, ['failures', 'windowSeconds'], 'auth.throttle', fail)
  const throttle: ThrottleConfig = {
    failures: count(throttleSection.failures, DEFAULT_THROTTLE.failures, 'auth.throttle.failures', fail),
    windowSeconds: count(throttleSection.windowSeconds, DEFAULT_THROTTLE.windowSeconds, 'auth.throttle.windowSeconds', fail),
  }
  const directory = env.WHARF_AUTH_DIRECTORY ?? optionalText(section.directory, 'auth.directory', fail)
  return {
    htpasswd: text(htpasswd, 'auth.htpasswd', fail),
    ...(directory !== undefined ? { directory } : {}),
    groups, rules, anonymous, token, ...(trust !== undefined ? { trust } : {}), throttle,
  }
}

/** Where robot tokens and signing keys live: `auth.directory`, by default `<storage>/auth`. */
export function authDirectoryOf(config: { readonly auth: AuthConfig | null; readonly storage: { readonly path: string } }): string {
  return config.auth?.directory ?? path.join(config.storage.path, 'auth')
}
