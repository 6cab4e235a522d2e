import type { FastifyReply, FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/registry-error.js'
import type { ManifestRecord } from '../../metadata/metadata-store.js'
import { baseMediaType, isManifestType } from '../../oci/media-types.js'
import { isTag, parseReference, parseTag, type Reference, type RepoName } from '../../oci/names.js'
import type { RequestContext } from '../../context/request-context.js'
import type { Registry } from '../../registry/registry.js'
import { ifNoneMatchHolds } from '../conditional.js'
import { Headers } from '../headers.js'
import type { Query } from '../query.js'
import type { ByteBudget } from '../byte-budget.js'
import { withLimitedBody } from '../request-body.js'
import { methodNotAllowed } from './blobs.js'

/**
 * Whether a client's Accept header admits `mediaType`. No header, a wildcard, or a list naming no
 * manifest type at all admits anything; a list of manifest types that lacks this one does not
 * (an old client must not be handed an index it cannot read).
 */
export function accepts(accept: string | string[] | undefined, mediaType: string): boolean {
  if (accept === undefined) return true
  const types = (Array.isArray(accept) ? accept.join(',') : accept).split(',').map((entry) => baseMediaType(entry)).filter((t) => t !== '')
  if (types.length === 0) return true
  if (types.includes(mediaType) || types.includes('*/*') || types.includes('application/*')) return true
  return !types.some(isManifestType)
}

function manifestHeaders(reply: FastifyReply, record: ManifestRecord): FastifyReply {
  return reply.headers({
    'Content-Type': record.mediaType,
    'Content-Length': record.size,
    [Headers.contentDigest]: record.digest,
    ETag: `"${record.digest}"`,
  })
}

/** 304 with the ETag only (RFC 9110 §15.4.5), as the reference registry answers. */
function notModified(reply: FastifyReply, record: ManifestRecord): FastifyReply {
  return reply.code(304).header('ETag', `"${record.digest}"`).send()
}

/**
 * The reference of a GET, HEAD or DELETE. A malformed tag cannot name a manifest, so it is unknown
 * (404 MANIFEST_UNKNOWN), as the reference registry and zot answer and the OCI conformance suite
 * requires; only a PUT of a malformed tag is a bad request (TAG_INVALID). A malformed digest stays
 * DIGEST_INVALID.
 */
function existingReference(text: string): Reference {
  if (!text.includes(':') && !isTag(text)) {
    throw new RegistryError('MANIFEST_UNKNOWN', { detail: { tag: text.slice(0, 200), reason: 'not a valid tag' } })
  }
  return parseReference(text)
}

/** HEAD, GET, PUT and DELETE of /v2/<name>/manifests/<reference>. */
export async function handleManifest(registry: Registry, ctx: RequestContext, name: RepoName, referenceText: string, query: Query, request: FastifyRequest, reply: FastifyReply, manifestMaxBytes: number, manifestBudget?: ByteBudget): Promise<void> {
  const reference = request.method === 'PUT' ? parseReference(referenceText) : existingReference(referenceText)
  switch (request.method) {
    case 'HEAD': {
      const record = await registry.manifests.head(ctx, name, reference)
      if (!accepts(request.headers.accept, record.mediaType)) throw notAcceptable(record)
      if (ifNoneMatchHolds(request.headers['if-none-match'], `"${record.digest}"`)) return notModified(reply, record)
      return manifestHeaders(reply.code(200), record).send()
    }
    case 'GET': {
      const { record, body } = await registry.manifests.get(ctx, name, reference)
      if (!accepts(request.headers.accept, record.mediaType)) throw notAcceptable(record)
      if (ifNoneMatchHolds(request.headers['if-none-match'], `"${record.digest}"`)) return notModified(reply, record)
      return manifestHeaders(reply.code(200), record).send(body)
    }
    case 'PUT': {
      const { outcome, extraTags } = await withLimitedBody(request.raw, manifestMaxBytes, manifestBudget, async (body) => {
        const extraTags = query.all('tag').map(parseTag)
        return { outcome: await registry.manifests.put(ctx, name, reference, request.headers['content-type'], body, extraTags), extraTags }
      })
      reply.code(201).headers({ Location: `/v2/${name}/manifests/${outcome.digest}`, [Headers.contentDigest]: outcome.digest, 'Content-Length': 0 })
      if (outcome.subject !== undefined) reply.header(Headers.ociSubject, outcome.subject)
      if (extraTags.length > 0) reply.header(Headers.ociTag, extraTags)
      return reply.send()
    }
    case 'DELETE':
      await registry.manifests.delete(ctx, name, reference)
      return reply.code(202).header('Content-Length', 0).send()
    default:
      throw methodNotAllowed(request.method)
  }
}

function notAcceptable(record: ManifestRecord): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', {
    message: `manifest is of type ${record.mediaType}, which the Accept header does not include`,
    detail: { digest: record.digest, mediaType: record.mediaType },
  })
}
