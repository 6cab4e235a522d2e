import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RequestContext } from '../../context/request-context.js'
import { RegistryError } from '../../errors/registry-error.js'
import { parseDigest } from '../../oci/digest.js'
import { parseTag } from '../../oci/names.js'
import type { TagSort } from '../../registry/browse-types.js'
import type { Registry } from '../../registry/registry.js'
import type { ImageExporter } from '../../transfer/archive-types.js'
import { sendJson } from '../json-reply.js'
import { Query } from '../query.js'
import { decodeSegment, splitUrl, unknownRoute } from '../v2-path.js'
import { parseRepositoriesApiPath, REPOSITORIES_API_PREFIX } from '../wharf-api-path.js'
import { handleExport } from './export.js'

/**
 * The read side of the UI's JSON API (README "JSON API"; access: access-table.ts, pull to read):
 *   GET /_wharf/v1/repositories[?filter=&cursor=&n=]                       repositories the caller may pull
 *   GET /_wharf/v1/repositories/<name>/tags[?sort=name|time&filter=&cursor=&n=]
 *   GET /_wharf/v1/repositories/<name>/manifests/<digest>
 *   GET /_wharf/v1/repositories/<name>/delete-preview?tag=|digest=
 *   GET|HEAD /_wharf/v1/repositories/<name>/export?reference=&format=     an image archive (routes/export.ts)
 * Import (POST .../import) is routes/import.ts's.
 */
export function registerBrowseRoutes(app: FastifyInstance, registry: Registry, exporter: ImageExporter,
  contextOf: (request: FastifyRequest, reply: FastifyReply) => RequestContext): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const { path, query: rawQuery } = splitUrl(request.raw.url ?? '/')
    const query = new Query(rawQuery)
    const ctx = contextOf(request, reply)
    const route = parseRepositoriesApiPath(path)
    const browser = registry.browser
    switch (route.kind) {
      case 'repositories':
        return sendJson(reply.code(200), await browser.repositories(ctx, { ...common(query) }))
      case 'tags':
        return sendJson(reply.code(200), await browser.tags(ctx, route.name, { ...common(query), ...sortOf(query) }))
      case 'manifest':
        return sendJson(reply.code(200), await browser.manifest(ctx, route.name, parseDigest(decodeSegment(route.digest))))
      case 'delete-preview':
        return sendJson(reply.code(200), await browser.deletePreview(ctx, route.name, deleteTarget(query)))
      case 'export':
        return handleExport(exporter, ctx, route.name, request, reply)
      default:
        throw unknownRoute()
    }
  }
  app.get(REPOSITORIES_API_PREFIX, handler)
  // HEAD declared, not derived from GET: Fastify's derived HEAD would drop export's Content-Length.
  app.route({ method: ['GET', 'HEAD'], url: `${REPOSITORIES_API_PREFIX}/*`, handler })
}

function common(query: Query): { filter?: string; cursor?: string; n?: number } {
  const filter = query.one('filter')
  const cursor = query.one('cursor')
  const n = query.pageSize()
  if (filter !== undefined && filter.length > 255) throw badParameter('filter is longer than 255 characters', { filter: filter.slice(0, 20) })
  return { ...(filter !== undefined && filter !== '' ? { filter } : {}), ...(cursor !== undefined && cursor !== '' ? { cursor } : {}), ...(n !== undefined ? { n } : {}) }
}

function sortOf(query: Query): { sort?: TagSort } {
  const sort = query.one('sort')
  if (sort === undefined || sort === '') return {}
  if (sort !== 'name' && sort !== 'time') throw badParameter('sort must be `name` or `time`', { sort: sort.slice(0, 20) })
  return { sort }
}

function deleteTarget(query: Query): { tag: ReturnType<typeof parseTag> } | { digest: ReturnType<typeof parseDigest> } {
  const tag = query.one('tag')
  const digest = query.one('digest')
  if ((tag === undefined) === (digest === undefined)) throw badParameter('give exactly one of `tag` and `digest`')
  return tag !== undefined ? { tag: parseTag(tag) } : { digest: parseDigest(digest!) }
}

/** A query parameter the API does not accept: 400, in the spec's error format. */
function badParameter(message: string, detail?: unknown): RegistryError {
  return new RegistryError('UNSUPPORTED', { status: 400, message, ...(detail !== undefined ? { detail } : {}) })
}
