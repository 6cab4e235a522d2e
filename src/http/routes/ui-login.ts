import type { FastifyInstance } from 'fastify'
import { isRegistryError } from '../../errors/registry-error.js'
import { messagePage } from '../../ui/layout.js'
import { loginPage } from '../../ui/pages/login.js'
import { credentialsOf } from '../request-context.js'
import { clearedSessionCookie, sessionCookie } from '../session.js'
import { localPath, readUiForm, sendHtml, sendUiError, uiRequest, type UiAccess } from '../ui-support.js'

/**
 * Login and logout, when access control is on (404 otherwise):
 *   GET  /login[?next=]   the form
 *   POST /login           checks the user as Basic credentials would be checked (same throttle), sets the session cookie
 *   GET  /logout          a button to log out; POST /logout ends the session (CSRF-checked)
 */
export function registerUiLoginRoutes(app: FastifyInstance, access: UiAccess): void {
  const sessions = access.sessions
  if (sessions === undefined || !access.policy.enabled) return
  const secure = (protocol: string): boolean => protocol === 'https'

  app.get('/login', async (request, reply) => {
    const ui = await uiRequest(request, reply, access)
    const next = localPath(new URLSearchParams((request.raw.url ?? '').split('?')[1] ?? '').get('next'))
    return sendHtml(reply, 200, loginPage(ui.viewer, { next }))
  })

  app.post('/login', async (request, reply) => {
    const ui = await uiRequest(request, reply, access)
    try {
      const form = await readUiForm(request, undefined)
      const user = form.get('username') ?? ''
      const next = localPath(form.get('next'))
      const authorization = `Basic ${Buffer.from(`${user}:${form.get('password') ?? ''}`).toString('base64')}`
      let caller
      try {
        caller = await access.authenticator.authenticate({ ...credentialsOf(request), authorization, certificateName: undefined })
      } catch (err) {
        if (!isRegistryError(err) || (err.code !== 'UNAUTHORIZED' && err.code !== 'TOOMANYREQUESTS')) throw err
        const status = err.code === 'TOOMANYREQUESTS' ? 429 : 401
        return sendHtml(reply, status, loginPage(ui.viewer, { next, user, error: status === 429 ? 'Too many failed logins: try again later.' : 'Wrong user name or password.' }))
      }
      const token = await sessions.issue(caller)
      return reply.code(303).header('Set-Cookie', sessionCookie(token, secure(request.protocol))).header('Location', next).header('Cache-Control', 'no-cache').send()
    } catch (err) {
      return sendUiError(request, reply, ui, err)
    }
  })

  app.get('/logout', async (request, reply) => {
    const ui = await uiRequest(request, reply, access)
    return sendHtml(reply, 200, messagePage(ui.viewer, 'Log out', ui.viewer.user === undefined ? 'You are not logged in.' : 'Use the “Log out” button at the top of the page.'))
  })

  app.post('/logout', async (request, reply) => {
    const ui = await uiRequest(request, reply, access)
    try {
      await readUiForm(request, ui)
      return reply.code(303).header('Set-Cookie', clearedSessionCookie(secure(request.protocol))).header('Location', '/').header('Cache-Control', 'no-cache').send()
    } catch (err) {
      return sendUiError(request, reply, ui, err)
    }
  })
}
