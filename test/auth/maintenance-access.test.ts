/**
 * The maintenance API with access control on (a real `wharf serve` with an `auth` section): only
 * callers with `admin` may read or switch read-only mode; anyone else is refused and nothing
 * changes; a switch is logged with the admin's identity, and a user who may push is then refused
 * with the read-only error (after authentication, as registry:2 answers).
 */
import t from 'tap'
import { errorBody, makeBlob, request } from '../support/index.js'
import { basic, startAuthServer } from './auth-server.js'

const USERS = { root: 'root-secret', dev: 'dev-secret' }
const RULES = [
  { users: ['root'], repositories: '**', actions: ['pull', 'push', 'delete', 'admin'] },
  { users: ['dev'], repositories: '**', actions: ['pull', 'push', 'delete'] },
]

t.test('only admins read and switch read-only mode', async (t) => {
  const server = await startAuthServer(t, { users: USERS, auth: { rules: RULES } })
  const root = basic('root', USERS.root)
  const dev = basic('dev', USERS.dev)
  const put = (authorization: string | undefined, readOnly: boolean) => request(server.url, '/_wharf/v1/maintenance', {
    method: 'PUT', body: JSON.stringify({ readOnly }), headers: { 'content-type': 'application/json', ...(authorization !== undefined ? { authorization } : {}) },
  })
  const get = (authorization?: string) => request(server.url, '/_wharf/v1/maintenance', { headers: authorization !== undefined ? { authorization } : {} })

  t.equal((await get()).status, 401, 'anonymous: GET needs credentials')
  t.equal((await put(undefined, true)).status, 401, 'anonymous: PUT needs credentials')
  const refused = await put(dev, true)
  t.equal(refused.status, 403, 'a user without admin is denied')
  t.equal(errorBody(refused)?.errors[0]?.code, 'DENIED')
  t.equal((await get(dev)).status, 403)
  t.equal((await get(root)).json<{ readOnly: boolean }>().readOnly, false, 'nothing changed')

  const on = await put(root, true)
  t.equal(on.status, 200, on.describe())
  t.same(on.json<{ readOnly: boolean; changedBy: string }>().changedBy, 'user:root')
  const blob = makeBlob('refused for dev')
  const push = await request(server.url, `/v2/team/app/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data, headers: { authorization: dev } })
  t.equal(push.status, 405, push.describe())
  t.equal(errorBody(push)?.errors[0]?.code, 'UNSUPPORTED')
  const anonymousPush = await request(server.url, `/v2/team/app/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data })
  t.equal(anonymousPush.status, 401, 'an anonymous push is still asked to log in first')
  const logged = server.wharf.logs.filter((line) => line.includes('"component":"maintenance"')).map((line) => JSON.parse(line) as { readOnly: boolean; by: string })
  t.same(logged.map((entry) => [entry.readOnly, entry.by]), [[true, 'user:root']], 'the switch is logged with the admin who made it')

  t.equal((await put(root, false)).status, 200)
  const accepted = await request(server.url, `/v2/team/app/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data, headers: { authorization: dev } })
  t.equal(accepted.status, 201, accepted.describe())
})
