import type { FastifyReply, FastifyRequest } from 'fastify'
import { parseDigest } from '../../oci/digest.js'
import { MediaTypes } from '../../oci/media-types.js'
import type { RepoName } from '../../oci/names.js'
import type { Page } from '../../registry/listings.js'
import type { RequestContext } from '../../context/request-context.js'
import type { Registry } from '../../registry/registry.js'
import { Headers } from '../headers.js'
import { sendJson } from '../json-reply.js'
import type { Query } from '../query.js'
import { methodNotAllowed } from './blobs.js'

function pageQuery(query: Query): { n?: number; last?: string } {
  const n = query.pageSize()
  const last = query.one('last')
  return { ...(n !== undefined ? { n } : {}), ...(last !== undefined ? { last } : {}) }
}

/** Link: <path?n=&last=>; rel="next" when another page follows (distribution-spec pagination). */
function linkNext(reply: FastifyReply, path: string, page: Page): void {
  if (page.next === undefined) return
  const params = new URLSearchParams({ n: String(page.entries.length), last: page.next })
  reply.header('Link', `<${path}?${params.toString()}>; rel="next"`)
}

/** GET /v2/<name>/tags/list */
export async function handleTags(registry: Registry, ctx: RequestContext, name: RepoName, query: Query, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed(request.method)
  const page = await registry.listings.tags(ctx, name, pageQuery(query))
  linkNext(reply, `/v2/${name}/tags/list`, page)
  return sendJson(reply.code(200), { name, tags: page.entries })
}

/** GET /v2/_catalog */
export async function handleCatalog(registry: Registry, ctx: RequestContext, query: Query, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed(request.method)
  const page = await registry.listings.catalog(ctx, pageQuery(query))
  linkNext(reply, '/v2/_catalog', page)
  return sendJson(reply.code(200), { repositories: page.entries })
}

/** GET /v2/<name>/referrers/<digest>[?artifactType=][&last=]: always an index, empty when nothing refers to the digest; paged with Link. */
export async function handleReferrers(registry: Registry, ctx: RequestContext, name: RepoName, digestText: string, query: Query, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed(request.method)
  const digest = parseDigest(digestText)
  const artifactType = query.one('artifactType')
  const last = query.one('last')
  const page = await registry.listings.referrers(ctx, name, digest, artifactType, last !== undefined ? parseDigest(last) : undefined)
  if (artifactType !== undefined) reply.header(Headers.ociFiltersApplied, 'artifactType')
  // The spec allows a Link to the next page of referrers, as for tags.
  if (page.next !== undefined) {
    const params = new URLSearchParams({ last: page.next, ...(artifactType !== undefined ? { artifactType } : {}) })
    reply.header('Link', `</v2/${name}/referrers/${digest}?${params.toString()}>; rel="next"`)
  }
  return sendJson(reply.code(200), page.index, MediaTypes.ociIndex)
}
