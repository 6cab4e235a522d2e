import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GcAlreadyRunningError, type GcOptions, type GcReport } from '../../gc/collector.js'
import type { Registry } from '../../registry/registry.js'
import type { Html } from '../../ui/html.js'
import { gcPage } from '../../ui/pages/gc.js'
import { usagePage } from '../../ui/pages/usage.js'
import { RegistryError } from '../../errors/registry-error.js'
import { Query } from '../query.js'
import { splitUrl } from '../v2-path.js'
import { readUiForm, sendHtml, sendUiError, uiRequest, type UiAccess, type UiRequest } from '../ui-support.js'

/**
 * The admin pages (callers with `registry:admin`; others are sent to log in or refused):
 *   GET  /usage   disk usage: totals, repositories largest first (?page=N, 50 a page), one repository's tags (?repository=)
 *   GET  /gc      status and the last collection's report
 *   POST /gc      dryRun=true: a preview; else a collection now (form fields, CSRF-checked)
 */
export function registerUiAdminRoutes(app: FastifyInstance, registry: Registry, gcOptions: Omit<GcOptions, 'dryRun'>, access: UiAccess): void {
  const adminPage = (render: (ui: UiRequest, request: FastifyRequest) => Promise<Html>) => async (request: FastifyRequest, reply: FastifyReply) => {
    const ui = await uiRequest(request, reply, access)
    try {
      if (!ui.viewer.admin) throw new RegistryError(ui.caller.kind === 'anonymous' ? 'UNAUTHORIZED' : 'DENIED', { message: 'this page is for administrators' })
      return sendHtml(reply, 200, await render(ui, request))
    } catch (err) {
      return sendUiError(request, reply, ui, err)
    }
  }

  app.get('/usage', adminPage(async (ui, request) => {
    const query = new Query(splitUrl(request.raw.url ?? '/').query)
    const repository = query.one('repository')?.trim() || undefined
    const pageNumber = Math.max(1, Math.min(1_000_000, Math.floor(Number(query.one('page') ?? '1')) || 1))
    const usage = await registry.usageOverview(repository !== undefined ? { tagsOf: repository } : {})
    if (repository !== undefined && !usage.repositories.some((r) => r.name === repository)) throw new RegistryError('NAME_UNKNOWN', { detail: { name: repository } })
    return usagePage(ui.viewer, { ...usage, page: pageNumber, ...(repository !== undefined ? { repository } : {}) })
  }))

  app.get('/gc', adminPage(async (ui) => gcPage(ui.viewer, { running: registry.gc.isRunning, lastReport: (await registry.gc.lastReport()) ?? null })))

  app.post('/gc', adminPage(async (ui, request) => {
    const form = await readUiForm(request, ui)
    const dryRun = form.get('dryRun') !== 'false'
    request.raw.socket.setTimeout(0)
    let result: GcReport
    try {
      result = await registry.gc.collect(ui.ctx, { ...gcOptions, dryRun })
    } catch (err) {
      if (!(err instanceof GcAlreadyRunningError)) throw err
      return gcPage(ui.viewer, { running: true, lastReport: (await registry.gc.lastReport()) ?? null, refused: err.message })
    }
    return gcPage(ui.viewer, { running: registry.gc.isRunning, result })
  }))
}
