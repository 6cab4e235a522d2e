/**
 * The web UI with access control, over HTTP against a real server: the login form, the session
 * cookie's flags, what each user sees and may do, CSRF refusals, logout, and that the cookie is
 * no token anywhere else.
 */
import t from 'tap'
import { CredentialedClient, request, type HttpResponse } from '../support/index.js'
import { basic, startAuthServer } from '../auth/auth-server.js'
import { seed } from './seed.js'

const USERS = { alice: 'alice-pw', bob: 'bob-pw' }
const server = await startAuthServer(t, {
  users: USERS,
  auth: {
    rules: [
      { repositories: '**', users: ['alice'], actions: ['pull', 'push', 'delete', 'admin'] },
      { repositories: 'team/*', users: ['bob'], actions: ['pull'] },
    ],
  },
})
const seeded = await seed(new CredentialedClient(server.url, { headers: { authorization: basic('alice', 'alice-pw') } }))
const origin = server.url
const form = (body: string, headers: Record<string, string> = {}) =>
  ({ method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', origin, ...headers } })

async function login(user: string, password: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
  return request(server.url, '/login', form(new URLSearchParams({ username: user, password, next: '/usage' }).toString(), headers))
}

/** The session cookie (name=value) and the CSRF token of a page seen with it. */
async function session(user: keyof typeof USERS): Promise<{ cookie: string; csrf: string }> {
  const res = await login(user, USERS[user])
  const cookie = res.header('set-cookie')!.split(';')[0]!
  const page = (await request(server.url, '/', { headers: { cookie } })).text()
  return { cookie, csrf: /<meta name="wharf-csrf" content="([^"]+)">/.exec(page)![1]! }
}

t.test('anonymous: a login link, nothing listed, admin pages send to the login', async (t) => {
  const home = await request(server.url, '/')
  t.equal(home.status, 200)
  t.match(home.text(), '<a href="/login">Log in</a>')
  t.notMatch(home.text(), 'team/app')
  const usage = await request(server.url, '/usage')
  t.equal(usage.status, 303)
  t.equal(usage.header('location'), '/login?next=%2Fusage')
  t.equal((await request(server.url, '/repositories/team/app')).status, 303)
  t.equal((await request(server.url, '/login')).status, 200)
})

t.test('login: wrong password 401, cross-site 403, right one sets a strict HttpOnly cookie and goes to next', async (t) => {
  const wrong = await login('alice', 'nope')
  t.equal(wrong.status, 401)
  t.match(wrong.text(), 'Wrong user name or password.')
  t.equal(wrong.header('set-cookie'), undefined)
  t.equal((await login('alice', 'alice-pw', { origin: 'http://evil.example' })).status, 403)
  t.equal((await login('alice', 'alice-pw', { origin: '', 'sec-fetch-site': 'cross-site' })).status, 403)
  const ok = await login('alice', 'alice-pw')
  t.equal(ok.status, 303)
  t.equal(ok.header('location'), '/usage')
  const cookie = ok.header('set-cookie')!
  t.match(cookie, /^wharf_session=[\w-]+\.[\w-]+\.[\w-]+; /)
  for (const flag of ['HttpOnly', 'SameSite=Strict', 'Path=/']) t.match(cookie, flag)
  t.notMatch(cookie, 'Secure', 'plain HTTP: no Secure flag')
  const offsite = await request(server.url, '/login', form('username=alice&password=alice-pw&next=//evil.example/x'))
  t.equal(offsite.header('location'), '/', 'next never leaves the origin')
})

t.test('alice (admin, delete) sees everything and may delete with the cookie and the CSRF token', async (t) => {
  const { cookie, csrf } = await session('alice')
  const home = (await request(server.url, '/', { headers: { cookie } })).text()
  t.match(home, 'Signed in as <strong>alice</strong>')
  t.match(home, 'tools/hostile')
  t.match(home, 'href="/usage"')
  t.equal((await request(server.url, '/usage', { headers: { cookie } })).status, 200)
  t.match((await request(server.url, '/repositories/team/app', { headers: { cookie } })).text(), 'data-delete-repo="team/app"')
  t.equal((await request(server.url, '/_wharf/v1/gc', { headers: { cookie } })).status, 200, 'the cookie opens the JSON API')

  const del = (headers: Record<string, string>) => request(server.url, '/v2/team/app/manifests/latest', { method: 'DELETE', headers: { cookie, ...headers } })
  t.equal((await del({ origin })).status, 403, 'no CSRF token')
  t.equal((await del({ origin: 'http://evil.example', 'x-wharf-csrf': csrf })).status, 403, 'cross-site origin')
  t.equal((await del({ 'sec-fetch-site': 'same-site', 'x-wharf-csrf': csrf })).status, 403, 'same-site is not same-origin')
  t.equal((await del({ origin, 'x-wharf-csrf': `${csrf}x` })).status, 403, 'wrong token')
  t.equal((await del({ 'sec-fetch-site': 'same-origin', 'x-wharf-csrf': csrf })).status, 202, 'same origin with the token')
  t.equal((await request(server.url, '/v2/team/app/manifests/latest', { method: 'GET', headers: { cookie } })).status, 401, 'GET /v2/ does not take the cookie')
  t.equal((await request(server.url, '/gc', form('dryRun=true', { cookie }))).status, 403, 'a form without _csrf')
  t.equal((await request(server.url, '/gc', form(`dryRun=true&_csrf=${csrf}`, { cookie }))).status, 200)
})

t.test('bob (pull on team/*) sees only that and is offered no delete, no admin page', async (t) => {
  const { cookie } = await session('bob')
  const home = (await request(server.url, '/', { headers: { cookie } })).text()
  t.match(home, 'team/app')
  t.notMatch(home, 'tools/hostile')
  t.notMatch(home, 'href="/usage"')
  const repo = await request(server.url, '/repositories/team/app', { headers: { cookie } })
  t.equal(repo.status, 200)
  t.notMatch(repo.text(), 'data-delete-repo')
  t.equal((await request(server.url, `/repositories/team/app/manifests/${seeded.indexDigest}`, { headers: { cookie } })).status, 200)
  t.equal((await request(server.url, '/repositories/tools/hostile', { headers: { cookie } })).status, 403)
  t.equal((await request(server.url, `/repositories/tools/hostile/manifests/${seeded.hostileDigest}`, { headers: { cookie } })).status, 403)
  t.equal((await request(server.url, '/usage', { headers: { cookie } })).status, 403)
  t.equal((await request(server.url, '/gc', { headers: { cookie } })).status, 403)
})

t.test('the session is no token elsewhere; a forged cookie is nobody; logout clears it', async (t) => {
  const { cookie, csrf } = await session('alice')
  const token = cookie.slice('wharf_session='.length)
  t.equal((await request(server.url, '/v2/team/app/tags/list', { headers: { authorization: `Bearer ${token}` } })).status, 401)
  const refresh = await request(server.url, '/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=refresh_token&service=wharf&refresh_token=${token}` })
  t.equal(refresh.status, 401, 'not a refresh token at /token')
  const forged = `wharf_session=${token.slice(0, -4)}AAAA`
  t.match((await request(server.url, '/', { headers: { cookie: forged } })).text(), 'Log in')
  t.equal((await request(server.url, '/logout', form('', { cookie }))).status, 403, 'logout needs the CSRF token')
  const out = await request(server.url, '/logout', form(`_csrf=${csrf}`, { cookie }))
  t.equal(out.status, 303)
  t.match(out.header('set-cookie'), /^wharf_session=; .*Max-Age=0/)
})
