import { PassThrough } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { RequestContext } from '../../context/request-context.js'
import { RegistryError } from '../../errors/registry-error.js'
import { parseDigest } from '../../oci/digest.js'
import { parseTag, type RepoName } from '../../oci/names.js'
import type { ExportFormat, ExportRequest, ImageExporter } from '../../transfer/archive-types.js'
import { parsePlatform } from '../../transfer/docker-archive.js'
import { Query } from '../query.js'
import { splitUrl } from '../v2-path.js'
import { methodNotAllowed } from './blobs.js'

/** The export request a query names; a missing or malformed parameter is a 400. */
export function exportRequestOf(name: RepoName, query: Query, host: string | undefined): ExportRequest {
  const reference = query.one('reference')
  if (reference === undefined || reference === '') throw new RegistryError('UNSUPPORTED', { status: 400, message: 'reference is required: a tag or a digest' })
  const format = query.one('format') ?? 'oci'
  if (format !== 'oci' && format !== 'docker') throw new RegistryError('UNSUPPORTED', { status: 400, message: `unknown format "${format.slice(0, 50)}": oci or docker` })
  const platform = query.one('platform')
  if (platform !== undefined) parsePlatform(platform)
  return {
    repository: name,
    reference: reference.includes(':') ? { digest: parseDigest(reference) } : { tag: parseTag(reference) },
    format: format as ExportFormat,
    ...(platform !== undefined ? { platform } : {}),
    ...(host !== undefined ? { host } : {}),
  }
}

/**
 * GET|HEAD /_wharf/v1/repositories/<name>/export?reference=<tag|digest>&format=oci|docker[&platform=os/arch]:
 * the image as a tar, streamed from the store. Everything is resolved first, so an unknown
 * reference, a missing blob or a platform the index lacks is a JSON error before any byte.
 */
export async function handleExport(exporter: ImageExporter, ctx: RequestContext, name: RepoName, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  if (request.method !== 'GET' && request.method !== 'HEAD') throw methodNotAllowed(request.method)
  const prepared = await exporter.prepare(ctx, exportRequestOf(name, new Query(splitUrl(request.raw.url ?? '/').query), request.headers.host))
  reply.code(200).headers({
    'Content-Type': 'application/x-tar',
    'Content-Disposition': `attachment; filename="${prepared.fileName}"`,
    'Content-Length': prepared.size,
    'Cache-Control': 'no-store',
  })
  if (request.method === 'HEAD') return reply.send()
  // A long download with a client that reads slowly is still a live one: the idle timeout watches the socket.
  const body = new PassThrough({ highWaterMark: 1 << 20 })
  prepared.write(body).then(() => body.end(), (err: unknown) => {
    // Headers are gone: the response can only be cut short (the client sees fewer bytes than Content-Length).
    if (!body.destroyed) request.log.error({ err, repository: name }, 'export failed while streaming')
    body.destroy(err instanceof Error ? err : new Error(String(err)))
  })
  return reply.send(body)
}
