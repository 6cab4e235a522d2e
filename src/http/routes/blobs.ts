import type { FastifyReply, FastifyRequest } from 'fastify'
import { RegistryError } from '../../errors/registry-error.js'
import { parseDigest } from '../../oci/digest.js'
import type { RepoName } from '../../oci/names.js'
import { parseRangeHeader } from '../../oci/range.js'
import type { RequestContext } from '../../context/request-context.js'
import type { Registry } from '../../registry/registry.js'
import { ifNoneMatchHolds } from '../conditional.js'
import { Headers } from '../headers.js'
import { sendBlobFile } from '../send-blob-file.js'

const BLOB_HEADERS = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', 'Cache-Control': 'max-age=31536000' }

/** HEAD, GET (with Range) and DELETE of /v2/<name>/blobs/<digest>. */
export async function handleBlob(registry: Registry, ctx: RequestContext, name: RepoName, digestText: string, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const digest = parseDigest(digestText)
  switch (request.method) {
    case 'HEAD': {
      const blob = await registry.blobs.stat(ctx, name, digest)
      if (ifNoneMatchHolds(request.headers['if-none-match'], `"${digest}"`)) return notModified(reply, digest)
      reply.code(200).headers({ ...BLOB_HEADERS, 'Content-Length': blob.size, [Headers.contentDigest]: digest, ETag: `"${digest}"` })
      return reply.send()
    }
    case 'GET': {
      const blob = await registry.blobs.stat(ctx, name, digest)
      // Evaluated before Range (RFC 9110 §13.2.2).
      if (ifNoneMatchHolds(request.headers['if-none-match'], `"${digest}"`)) return notModified(reply, digest)
      const range = parseRangeHeader(request.headers.range, blob.size)
      if (range.kind === 'unsatisfiable') {
        reply.header('Content-Range', `bytes */${blob.size}`)
        throw new RegistryError('RANGE_INVALID', { message: 'requested range not satisfiable', detail: { size: blob.size } })
      }
      const opened = await registry.blobs.openForSend(ctx, name, digest, range.kind === 'range' ? range.range : undefined)
      if (opened.redirect !== undefined) {
        // The URL expires: the redirect itself must not be cached longer than the bytes it leads to.
        return reply.code(307).headers({ Location: opened.redirect, [Headers.contentDigest]: digest, 'Cache-Control': 'no-store', 'Content-Length': 0 }).send()
      }
      reply.headers({ ...BLOB_HEADERS, [Headers.contentDigest]: digest, ETag: `"${digest}"` })
      if (range.kind === 'range') {
        const { start, end } = range.range
        reply.code(206).headers({ 'Content-Range': `bytes ${start}-${end}/${blob.size}`, 'Content-Length': end - start + 1 })
      } else {
        reply.code(200).header('Content-Length', blob.size)
      }
      if (opened.file !== undefined) return sendBlobFile(reply, opened.file)
      return reply.send(opened.stream)
    }
    case 'DELETE':
      await registry.blobs.delete(ctx, name, digest)
      return reply.code(202).header('Content-Length', 0).send()
    default:
      throw methodNotAllowed(request.method)
  }
}

/** 304 with the validators a 200 would carry (RFC 9110 §15.4.5). */
function notModified(reply: FastifyReply, digest: string): FastifyReply {
  return reply.code(304).headers({ 'Cache-Control': BLOB_HEADERS['Cache-Control'], [Headers.contentDigest]: digest, ETag: `"${digest}"` }).send()
}

export function methodNotAllowed(method: string): RegistryError {
  return new RegistryError('UNSUPPORTED', { message: `method ${method} is not supported on this endpoint` })
}
