import multipart from '@fastify/multipart'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { RequestContext } from '../../context/request-context.js'
import { RegistryError } from '../../errors/registry-error.js'
import { parseTag, type RepoName, type Tag } from '../../oci/names.js'
import type { ImageImporter } from '../../transfer/archive-types.js'
import { guardBodyRate, requestBody, type MinimumRate } from '../body-rate.js'
import { sendJson } from '../json-reply.js'
import { Query } from '../query.js'
import { withSignal } from '../request-context.js'
import { hasBody } from '../request-body.js'
import type { UploadLimiter } from '../upload-limiter.js'
import { splitUrl, unknownRoute } from '../v2-path.js'
import { parseRepositoriesApiPath, REPOSITORIES_API_PREFIX } from '../wharf-api-path.js'

export interface ImportRouteOptions {
  readonly importer: ImageImporter
  readonly contextOf: (request: FastifyRequest, reply: FastifyReply) => RequestContext
  /** An import is an upload: it takes a slot of the upload limits. */
  readonly uploadLimiter: UploadLimiter
  readonly bodyRate: MinimumRate
}

/** Form fields of a multipart import; the archive is the `archive` file part, after the tag fields. */
const ARCHIVE_FIELD = 'archive'
const TAG_FIELDS = new Set(['tag', 'tags'])

/**
 * POST /_wharf/v1/repositories/<name>/import: an image archive in (`docker save`, oci-archive,
 * tarred OCI layout), as `multipart/form-data` (the upload form: `tags`/`tag` fields, then the
 * `archive` file) or as the raw body (`application/x-tar`, tags as `?tag=`). Answers 201 with the
 * ImportResult. Access (pull+push on the repository) was checked by the access table.
 */
export function registerImportRoute(app: FastifyInstance, options: ImportRouteOptions): void {
  void app.register(async (scope) => {
    // Streamed: no size limit on the file (a blob upload has none either), a few small fields.
    await scope.register(multipart, { limits: { files: 1, fields: 16, fieldSize: 64 * 1024, fileSize: Number.MAX_SAFE_INTEGER, parts: 32 } })
    scope.post(`${REPOSITORIES_API_PREFIX}/*`, async (request, reply) => {
      const route = parseRepositoriesApiPath(splitUrl(request.raw.url ?? '/').path)
      if (route.kind !== 'import') throw unknownRoute()
      if (!hasBody(request.raw)) throw new RegistryError('BLOB_UPLOAD_INVALID', { message: 'the request has no archive' })
      const release = options.uploadLimiter.acquire(request.ip)
      reply.raw.once('close', release)
      const result = request.isMultipart()
        ? await importMultipart(options, route.name, request, reply)
        : await importRaw(options, route.name, request, reply)
      return sendJson(reply.code(201), result)
    })
  })
}

async function importRaw(options: ImportRouteOptions, name: RepoName, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const tags = parseTags(new Query(splitUrl(request.raw.url ?? '/').query).all('tag'))
  const ctx = withSignal(options.contextOf(request, reply), guardBodyRate(request.raw, options.bodyRate, reply.raw))
  return options.importer.import(ctx, requestBody(request.raw) as never, { repository: name, tags })
}

async function importMultipart(options: ImportRouteOptions, name: RepoName, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  // Tags come from `?tag=` (what the UI's script sends) and from `tag`/`tags` fields before the file.
  const texts: string[] = [...new Query(splitUrl(request.raw.url ?? '/').query).all('tag')]
  let result: unknown
  for await (const part of request.parts()) {
    if (part.type === 'field') {
      if (TAG_FIELDS.has(part.fieldname) && typeof part.value === 'string') texts.push(part.value)
      continue
    }
    if (part.fieldname !== ARCHIVE_FIELD || result !== undefined) {
      // Another file: drained, it is not the archive.
      part.file.resume()
      continue
    }
    try {
      result = await options.importer.import(options.contextOf(request, reply), part.file as never, { repository: name, tags: parseTags(texts) })
    } catch (err) {
      // The rest of the form is read and dropped, so the client gets the answer rather than a reset.
      part.file.resume()
      throw err
    }
  }
  if (result === undefined) throw new RegistryError('BLOB_UPLOAD_INVALID', { message: `the form has no "${ARCHIVE_FIELD}" file` })
  return result
}

/** Tags from repeated parameters or fields, each a comma- or space-separated list. */
function parseTags(values: readonly string[]): Tag[] {
  const tags = values.flatMap((value) => value.split(/[\s,]+/)).filter((tag) => tag !== '')
  return [...new Set(tags.map((tag) => parseTag(tag)))]
}
