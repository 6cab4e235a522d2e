import type { FastifyReply, FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/registry-error.js'
import { parseDigest } from '../../oci/digest.js'
import { isRepoName, type RepoName } from '../../oci/names.js'
import { formatUploadRange, parseContentRange, type ByteRange } from '../../oci/range.js'
import type { RequestContext } from '../../context/request-context.js'
import type { Registry } from '../../registry/registry.js'
import type { UploadSession } from '../../registry/uploads.js'
import { Headers } from '../headers.js'
import { requestBody } from '../body-rate.js'
import { contentLength, hasBody } from '../request-body.js'
import { methodNotAllowed } from './blobs.js'
import type { Query } from '../query.js'

function sessionHeaders(reply: FastifyReply, session: UploadSession): FastifyReply {
  reply.headers({
    Location: `/v2/${session.repo}/blobs/uploads/${session.id}`,
    Range: formatUploadRange(session.size),
    [Headers.uploadUuid]: session.id,
  })
  // RFC 9110 8.6: a 204 carries no Content-Length.
  return reply.statusCode === 204 ? reply : reply.header('Content-Length', 0)
}

function blobCreated(reply: FastifyReply, name: RepoName, digest: string): FastifyReply {
  return reply.code(201).headers({ Location: `/v2/${name}/blobs/${digest}`, [Headers.contentDigest]: digest, 'Content-Length': 0 })
}

/** POST /v2/<name>/blobs/uploads/: mount, single-request upload, or a new session. */
export async function handleUploadStart(registry: Registry, ctx: RequestContext, name: RepoName, query: Query, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.method !== 'POST') throw methodNotAllowed(request.method)
  const mount = query.one('mount')
  if (mount !== undefined) {
    const digest = parseDigest(mount)
    const from = query.one('from')
    // A mount that cannot be done falls back to an ordinary upload session (distribution-spec).
    const fromName = from !== undefined && isRepoName(from) ? from as RepoName : undefined
    if (from === undefined || fromName !== undefined) {
      const mounted = await registry.uploads.mount(ctx, name, digest, fromName)
      if (mounted !== undefined) return blobCreated(reply, name, digest).send()
    }
  }
  const digestParam = query.one('digest')
  if (digestParam !== undefined) {
    const digest = parseDigest(digestParam)
    const blob = await registry.uploads.putMonolithic(ctx, name, digest, requestBody(request.raw), optionalLength(request))
    return blobCreated(reply, name, blob.digest).send()
  }
  const session = await registry.uploads.start(ctx, name)
  return sessionHeaders(reply.code(202), session).send()
}

/** PATCH, PUT, GET and DELETE of /v2/<name>/blobs/uploads/<id>. */
export async function handleUpload(registry: Registry, ctx: RequestContext, name: RepoName, id: string, query: Query, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  switch (request.method) {
    case 'GET': {
      const session = await registry.uploads.status(ctx, name, id)
      return sessionHeaders(reply.code(204), session).send()
    }
    case 'PATCH': {
      const range = chunkRange(request)
      const session = await registry.uploads.append(ctx, name, id, requestBody(request.raw), { ...optionalLength(request), ...(range ? { range } : {}) })
      return sessionHeaders(reply.code(202), session).send()
    }
    case 'PUT': {
      const digestParam = query.one('digest')
      if (digestParam === undefined) throw new RegistryError('DIGEST_INVALID', { message: 'the digest query parameter is required' })
      const digest = parseDigest(digestParam)
      const range = chunkRange(request)
      const body = hasBody(request.raw) ? requestBody(request.raw) : undefined
      const blob = await registry.uploads.complete(ctx, name, id, digest, body, { ...optionalLength(request), ...(range && body ? { range } : {}) })
      return blobCreated(reply, name, blob.digest).send()
    }
    case 'DELETE':
      await registry.uploads.cancel(ctx, name, id)
      return reply.code(204).send()
    default:
      throw methodNotAllowed(request.method)
  }
}

/** The chunk's Content-Range; malformed is 416 on PATCH and on the final PUT alike. */
function chunkRange(request: FastifyRequest): ByteRange | undefined {
  const header = request.headers['content-range']
  if (header === undefined) return undefined
  const range = parseContentRange(header)
  if (range === undefined) {
    throw new RegistryError('RANGE_INVALID', { message: 'malformed Content-Range', detail: { contentRange: header.slice(0, 100) } })
  }
  return range
}

function optionalLength(request: FastifyRequest): { length?: number } {
  const length = contentLength(request.raw)
  return length !== undefined ? { length } : {}
}
