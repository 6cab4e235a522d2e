import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Browser, TagSort } from '../../registry/browse-types.js'
import { parseDigest } from '../../oci/digest.js'
import { RegistryError } from '../../errors/registry-error.js'
import { assetNamed, ASSETS_PREFIX } from '../../ui/assets.js'
import type { Html } from '../../ui/html.js'
import { messagePage } from '../../ui/layout.js'
import { importPage } from '../../ui/pages/import.js'
import { manifestPage } from '../../ui/pages/manifest.js'
import { repositoriesPage } from '../../ui/pages/repositories.js'
import { repositoryPage } from '../../ui/pages/repository.js'
import { accessOfRepositoriesApi } from '../access-table.js'
import { Query } from '../query.js'
import { sendHtml, sendUiError, uiRequest, type UiAccess, type UiRequest } from '../ui-support.js'
import { decodeSegment, segmentsFromEnd, splitUrl } from '../v2-path.js'

/** Rows per page: a page of 100 renders in a few milliseconds and stays readable on a phone. */
const PAGE_SIZE = 100
const REPOSITORIES_PATH = '/repositories/'

/**
 * The web UI's pages (src/ui renders them; this serves them), on the registry's own port:
 *   GET /                                         repositories (?q= filter, ?cursor= page)
 *   GET /repositories/<name>                      its tags (?q=, ?sort=name|time, ?cursor=)
 *   GET /repositories/<name>/manifests/<digest>   an image, index or artifact
 *   GET /import                                   the archive upload form
 *   GET /assets/<name>.<hash>.<ext>               CSS, script, icon (immutable)
 * Usage and garbage collection are in ui-admin.ts, login and logout in ui-login.ts.
 */
export function registerUiRoutes(app: FastifyInstance, browser: Browser, access: UiAccess): void {
  const page = (render: (ui: UiRequest, query: Query, path: string) => Promise<Html>) => async (request: FastifyRequest, reply: FastifyReply) => {
    const ui = await uiRequest(request, reply, access)
    const { path, query } = splitUrl(request.raw.url ?? '/')
    try {
      return sendHtml(reply, 200, await render(ui, new Query(query), path))
    } catch (err) {
      return sendUiError(request, reply, ui, err)
    }
  }

  app.get(`${ASSETS_PREFIX}:file`, async (request, reply) => {
    const asset = assetNamed((request.params as { file: string }).file)
    if (asset === undefined) return sendUiNotFound(request, reply, access)
    return reply.code(200).header('Content-Type', asset.contentType).header('Cache-Control', 'public, max-age=31536000, immutable')
      .header('X-Content-Type-Options', 'nosniff').send(asset.body)
  })

  app.get('/', page(async (ui, query) => {
    const filter = filterOf(query)
    const cursor = nonEmpty(query.one('cursor'))
    const result = await browser.repositories(ui.ctx, { n: PAGE_SIZE, ...(filter !== '' ? { filter } : {}), ...(cursor !== undefined ? { cursor } : {}) })
    return repositoriesPage(ui.viewer, { result, filter, ...(cursor !== undefined ? { cursor } : {}) })
  }))

  app.get(`${REPOSITORIES_PATH}*`, page(async (ui, query, path) => {
    const { count, at, nameBefore } = segmentsFromEnd(path.slice(REPOSITORIES_PATH.length))
    if (count >= 3 && at(-2) === 'manifests') {
      const name = nameBefore(-2)
      access.policy.authorize(ui.caller, accessOfRepositoriesApi({ kind: 'manifest', name, digest: at(-1)! }).needs)
      return manifestPage(ui.viewer, await browser.manifest(ui.ctx, name, parseDigest(decodeSegment(at(-1)!))))
    }
    const name = nameBefore(0)
    access.policy.authorize(ui.caller, accessOfRepositoriesApi({ kind: 'tags', name }).needs)
    const filter = filterOf(query)
    const sort: TagSort = query.one('sort') === 'time' ? 'time' : 'name'
    const cursor = nonEmpty(query.one('cursor'))
    const result = await browser.tags(ui.ctx, name, { sort, n: PAGE_SIZE, ...(filter !== '' ? { filter } : {}), ...(cursor !== undefined ? { cursor } : {}) })
    return repositoryPage(ui.viewer, { result, filter, sort, ...(cursor !== undefined ? { cursor } : {}) })
  }))

  app.get('/import', page(async (ui) => {
    if (!ui.viewer.mayImport) throw new RegistryError('UNAUTHORIZED', { message: 'log in to import' })
    return importPage(ui.viewer)
  }))
}

/** `?q=`, trimmed; at most a name's length (255), as the JSON API allows. */
function filterOf(query: Query): string {
  return (query.one('q') ?? '').trim().slice(0, 255)
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

/** Paths that keep their JSON answers (the registry API, the admin API, tokens, metrics); the rest is the UI's. */
export function isUiPath(path: string): boolean {
  return !(path === '/v2' || path.startsWith('/v2/') || path.startsWith('/_wharf/') || path === '/token' || path.startsWith('/token/') || path === '/metrics')
}

/** A browser names text/html in Accept; an API client (curl, docker, a script) gets the spec's JSON error. */
export function wantsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept
  return accept !== undefined && /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept)
}

export async function sendUiNotFound(request: FastifyRequest, reply: FastifyReply, access: UiAccess): Promise<FastifyReply> {
  const ui = await uiRequest(request, reply, access)
  return sendHtml(reply, 404, messagePage(ui.viewer, 'Not found', 'There is no page here.'))
}
