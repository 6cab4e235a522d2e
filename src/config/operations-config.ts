import { count, list, mapping, names, only, optionalText, text, type Fail } from './fields.js'

/** Prometheus metrics (`GET /metrics`). */
export interface MetricsConfig {
  readonly enabled: boolean
  /**
   * `host:port` of a separate listener that serves only /metrics (open, like registry:2's debug
   * server: bind it to a private address); absent: /metrics is on the registry's own port, where
   * access control (when on) asks for `registry:admin`.
   */
  readonly address?: string
}

/** What a notification endpoint receives, in registry:2's words. */
export type NotificationAction = 'push' | 'pull' | 'delete' | 'mount'
export const NOTIFICATION_ACTIONS: readonly NotificationAction[] = ['push', 'pull', 'delete', 'mount']

/** One webhook receiver (registry:2's `notifications.endpoints[]`, with filters and a signature). */
export interface NotificationEndpointConfig {
  /** Unique; names the endpoint's queue, its metrics and its admin API entry. */
  readonly name: string
  readonly url: string
  /** Sent with every delivery (e.g. Authorization). */
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutSeconds: number
  /** Which actions are sent; default push, delete, mount (pull is opt-in: it is the busiest). */
  readonly actions: readonly NotificationAction[]
  /** Repository globs (as in auth rules); default every repository. */
  readonly repositories: readonly string[]
  /** Key of the HMAC-SHA256 signature of each body (header `X-Wharf-Signature-256: sha256=<hex>`). */
  readonly secret?: string
  /** Retries back off from this... */
  readonly backoffSeconds: number
  /** ...doubling up to this, and go on until delivered (events are never dropped). */
  readonly maxBackoffSeconds: number
}

export interface NotificationsConfig {
  readonly endpoints: readonly NotificationEndpointConfig[]
}

/** One upstream of the pull-through cache. */
export interface ProxyUpstreamConfig {
  /**
   * Local repositories `<prefix>/...` are this upstream's `...` (e.g. `docker.io`): cached under
   * that name, and what a pull with `?ns=<prefix>` (the distribution-spec's proxying, a containerd
   * mirror) asks for.
   */
  readonly prefix: string
  /** The upstream registry's base URL, e.g. `https://registry-1.docker.io`. */
  readonly url: string
  readonly username?: string
  readonly password?: string
  /** A tag fetched from the upstream is served from the cache this long before it is checked again. */
  readonly tagTtlSeconds: number
  /**
   * Also answers pulls of repositories without the prefix that are not stored locally, as
   * Docker's `registry-mirrors` sends them (`library/alpine` for docker.io); at most one upstream.
   */
  readonly mirror: boolean
  /** Pushes into the prefix are refused unless this is true. */
  readonly allowPush: boolean
  /** PEM CA bundle trusted for an HTTPS upstream besides the system's. */
  readonly ca?: string
}

export interface ProxyConfig {
  readonly upstreams: readonly ProxyUpstreamConfig[]
}

export const DEFAULT_METRICS: MetricsConfig = { enabled: true }
export const NO_NOTIFICATIONS: NotificationsConfig = { endpoints: [] }
export const NO_PROXY: ProxyConfig = { upstreams: [] }

function flag(value: unknown, fallback: boolean, where: string, fail: Fail): boolean {
  if (value === undefined || value === null) return fallback
  if (value === true || value === 'true') return true
  if (value === false || value === 'false') return false
  return fail(`${where} must be true or false`)
}

function url(value: unknown, where: string, fail: Fail): string {
  const raw = text(value, where, fail)
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    return fail(`${where} must be an http or https URL`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail(`${where} must be an http or https URL`)
  return raw.replace(/\/+$/, '')
}

/** `metrics`; WHARF_METRICS_ENABLED and WHARF_METRICS_ADDRESS override the file. */
export function parseMetrics(value: unknown, env: Readonly<Record<string, string | undefined>>, fail: Fail): MetricsConfig {
  const section = value === undefined || value === null ? {} : mapping(value, 'metrics', fail)
  only(section, ['enabled', 'address'], 'metrics', fail)
  const enabled = flag(env.WHARF_METRICS_ENABLED ?? section.enabled, DEFAULT_METRICS.enabled, 'metrics.enabled', fail)
  const address = optionalText(env.WHARF_METRICS_ADDRESS ?? section.address, 'metrics.address', fail)
  if (address !== undefined && !/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(address)) fail('metrics.address must be host:port')
  return { enabled, ...(address !== undefined ? { address } : {}) }
}

/** `notifications` (webhooks). */
export function parseNotifications(value: unknown, fail: Fail): NotificationsConfig {
  const section = value === undefined || value === null ? {} : mapping(value, 'notifications', fail)
  only(section, ['endpoints'], 'notifications', fail)
  const seen = new Set<string>()
  const endpoints = (section.endpoints === undefined ? [] : list(section.endpoints, 'notifications.endpoints', fail)).map((entry, i) => {
    const where = `notifications.endpoints[${i}]`
    const e = mapping(entry, where, fail)
    only(e, ['name', 'url', 'headers', 'timeoutSeconds', 'actions', 'repositories', 'secret', 'backoffSeconds', 'maxBackoffSeconds'], where, fail)
    const name = text(e.name, `${where}.name`, fail)
    if (!/^[A-Za-z0-9._-]+$/.test(name)) fail(`${where}.name may hold only letters, digits, ".", "_" and "-"`)
    if (seen.has(name)) fail(`${where}.name: "${name}" is used twice`)
    seen.add(name)
    const headers: Record<string, string> = {}
    for (const [header, v] of Object.entries(e.headers === undefined ? {} : mapping(e.headers, `${where}.headers`, fail))) {
      headers[header] = text(v, `${where}.headers.${header}`, fail)
    }
    const actions = e.actions === undefined ? ['push', 'delete', 'mount'] : names(e.actions, `${where}.actions`, fail)
    for (const action of actions) {
      if (!(NOTIFICATION_ACTIONS as readonly string[]).includes(action)) fail(`${where}.actions: "${action}" is not one of ${NOTIFICATION_ACTIONS.join(', ')}`)
    }
    const secret = optionalText(e.secret, `${where}.secret`, fail)
    const backoffSeconds = count(e.backoffSeconds, 1, `${where}.backoffSeconds`, fail)
    const maxBackoffSeconds = count(e.maxBackoffSeconds, 300, `${where}.maxBackoffSeconds`, fail)
    if (maxBackoffSeconds < backoffSeconds) fail(`${where}.maxBackoffSeconds must be at least backoffSeconds`)
    return {
      name, url: url(e.url, `${where}.url`, fail), headers,
      timeoutSeconds: count(e.timeoutSeconds, 5, `${where}.timeoutSeconds`, fail),
      actions: actions as NotificationAction[],
      repositories: e.repositories === undefined ? ['**'] : names(e.repositories, `${where}.repositories`, fail),
      ...(secret !== undefined ? { secret } : {}),
      backoffSeconds, maxBackoffSeconds,
    }
  })
  return { endpoints }
}

/** `proxy` (the pull-through cache). */
export function parseProxy(value: unknown, fail: Fail): ProxyConfig {
  const section = value === undefined || value === null ? {} : mapping(value, 'proxy', fail)
  only(section, ['upstreams'], 'proxy', fail)
  const upstreams = (section.upstreams === undefined ? [] : list(section.upstreams, 'proxy.upstreams', fail)).map((entry, i) => {
    const where = `proxy.upstreams[${i}]`
    const u = mapping(entry, where, fail)
    only(u, ['prefix', 'url', 'username', 'password', 'tagTtlSeconds', 'mirror', 'allowPush', 'ca'], where, fail)
    const prefix = text(u.prefix, `${where}.prefix`, fail)
    // A prefix is one or more name components (docker.io, ghcr.io, hub/library): what a repository name may start with.
    if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(prefix)) {
      fail(`${where}.prefix must be repository name components such as docker.io or ghcr.io`)
    }
    const username = optionalText(u.username, `${where}.username`, fail)
    const password = optionalText(u.password, `${where}.password`, fail)
    if ((username === undefined) !== (password === undefined)) fail(`${where} needs both username and password, or neither`)
    const ca = optionalText(u.ca, `${where}.ca`, fail)
    return {
      prefix, url: url(u.url, `${where}.url`, fail),
      ...(username !== undefined ? { username, password: password! } : {}),
      tagTtlSeconds: u.tagTtlSeconds === 0 || u.tagTtlSeconds === '0' ? 0 : count(u.tagTtlSeconds, 300, `${where}.tagTtlSeconds`, fail),
      mirror: flag(u.mirror, false, `${where}.mirror`, fail),
      allowPush: flag(u.allowPush, false, `${where}.allowPush`, fail),
      ...(ca !== undefined ? { ca } : {}),
    }
  })
  for (let i = 0; i < upstreams.length; i++) {
    for (let j = 0; j < upstreams.length; j++) {
      if (i !== j && (upstreams[j]!.prefix === upstreams[i]!.prefix || upstreams[j]!.prefix.startsWith(`${upstreams[i]!.prefix}/`))) {
        fail(`proxy.upstreams: prefix "${upstreams[j]!.prefix}" overlaps "${upstreams[i]!.prefix}"`)
      }
    }
  }
  if (upstreams.filter((u) => u.mirror).length > 1) fail('proxy.upstreams: at most one upstream may be the mirror')
  return { upstreams }
}
