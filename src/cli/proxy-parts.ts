import type { Config } from '../config/config.js'
import { PullThroughCache, type PullThroughParts } from '../registry/proxy.js'
import { UpstreamClient } from '../upstream/upstream-client.js'

/** The pull-through cache of `config.proxy`: one upstream client per configured prefix. */
export function pullThroughCacheFrom(config: Config, parts: Omit<PullThroughParts, 'upstreams'>): PullThroughCache {
  const upstreams = config.proxy.upstreams.map((u) => ({
    prefix: u.prefix,
    tagTtlMs: u.tagTtlSeconds * 1000,
    mirror: u.mirror,
    allowPush: u.allowPush,
    client: new UpstreamClient({
      url: u.url,
      manifestMaxBytes: config.limits.manifestMaxBytes,
      ...(u.username !== undefined && u.password !== undefined ? { credentials: { username: u.username, password: u.password } } : {}),
      ...(u.ca !== undefined ? { ca: u.ca } : {}),
    }),
  }))
  return new PullThroughCache({ ...parts, upstreams })
}
