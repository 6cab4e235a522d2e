import type { FastifyReply } from 'fastify'
import type { RequestContext } from '../context/request-context.js'
import type { Registry } from '../registry/registry.js'
import { Headers } from './headers.js'
import type { Query } from './query.js'
import type { V2Route } from './v2-path.js'

/**
 * The pull-through cache's view of a request's route: a pull scoped by `?ns=` (already renamed by
 * the access table) answers with `OCI-Namespace`; a pull of an unprefixed name the mirror upstream
 * serves reads `<prefix>/<name>`; a push into a proxied prefix is refused.
 */
export async function resolveProxied(registry: Registry, ctx: RequestContext, route: V2Route, method: string, query: Query, reply: FastifyReply): Promise<V2Route> {
  const proxy = registry.proxy
  if (!proxy.enabled) return route
  const read = method === 'GET' || method === 'HEAD'
  switch (route.kind) {
    case 'manifest':
    case 'blob':
    case 'tags':
    case 'referrers': {
      if (!read) {
        if (route.kind === 'manifest' && method === 'PUT') proxy.refusePush(route.name)
        return route
      }
      const ns = query.one('ns')
      if (proxy.isNamespace(ns)) {
        reply.header(Headers.ociNamespace, ns)
        return route
      }
      // Scoped to a registry no upstream caches (containerd's `_default` mirror sends `?ns=quay.io`):
      // never the mirror upstream's repository of that name, which is another registry's image.
      if (ns !== undefined) return route
      const local = await proxy.localName(ctx, route.name, route.kind)
      return local === route.name ? route : { ...route, name: local }
    }
    case 'uploads':
    case 'upload':
      proxy.refusePush(route.name)
      return route
    default:
      return route
  }
}
