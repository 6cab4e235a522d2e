import type { Config } from '../config/config.js'
import { PullThroughCache, type PullThroughParts } from '../registry/proxy.js'

/**
 * The pull-through cache of `config.proxy`: one upstream client per configured prefix. The client
 * (and undici under it) is loaded only when there are upstreams: start-up time.
 */
export async function pullThroughCacheFrom(config: Config, parts: Omit<PullThroughParts, 'upstreams'>): Promise<PullThroughCache> {
  if (config.proxy.upstreams.length === 0) return new PullThroughCache({ ...parts, upstreams: [] })
  const { UpstreamClient } = await import('../upstream/upstream-client.js')
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
