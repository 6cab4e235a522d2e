/**
 * Access control of a real `wharf serve` as clients and operators meet it: the docker-style token
 * flow on a pushed image, anonymous tokens, users removed and robots revoked with the CLI while the
 * server runs, brute force throttled on /v2/ and /token, and no secret in the server's log.
 */
import { decodeJwt } from 'jose'
import t, { type Test } from 'tap'
import {
  makeBlob, RegistryClient, sleep, waitFor, type HttpResponse, type RequestOptions,
} from '../support/index.js'
import { basic, startAuthServer, type AuthServer } from './auth-server.js'

const PASSWORDS = { alice: 'alice-Secret-1', bob: 'bob-Secret-2', carol: 'carol-Secret-3', dave: 'dave-Secret-4' }
const RULES = [
  { repositories: '**', users: ['alice', 'carol', 'dave'], actions: ['pull', 'push'] },
  { repositories: 'team/**', users: ['bob'], actions: ['pull'] },
]
const ANONYMOUS = [{ repositories: 'public/**', actions: ['pull'] }]

/** A client that sends `authorization` with every request. */
class Client extends RegistryClient {
  constructor(base: string, readonly authorization: string | undefined) { super(base) }
  override request(path: string, options: RequestOptions = {}): Promise<HttpResponse> {
    return super.request(path, { ...options, headers: { ...(this.authorization !== undefined ? { authorization: this.authorization } : {}), ...options.headers } })
  }
}

/** The parameters of a `Bearer k="v",...` challenge. */
function challenge(res: HttpResponse): Record<string, string> {
  const header = res.header('www-authenticate') ?? ''
  if (!header.startsWith('Bearer ')) throw new Error(`no Bearer challenge: ${res.describe()}`)
  const params: Record<string, string> = {}
  for (const match of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[match[1]!] = match[2]!
  return params
}

function errorCode(res: HttpResponse): string | undefined {
  return res.json<{ errors?: Array<{ code: string }> }>().errors?.[0]?.code
}

/** Everything secret that went to each server: none of it may appear in its log. */
const secrets = new Map<AuthServer, string[]>()
function secretsOf(server: AuthServer): string[] {
  return secrets.get(server) ?? []
}
function keep(server: AuthServer, ...values: string[]): void {
  secrets.set(server, [...secretsOf(server), ...values])
}

/** Asserts that no secret given to `server` (passwords, robot secrets, tokens, Basic credentials as sent) is in its log. */
function assertNoSecretsLogged(t: Test, server: AuthServer): void {
  const log = server.wharf.logs.join('\n')
  t.ok(server.wharf.logs.length > 10, `the server logged (${server.wharf.logs.length} lines)`)
  for (const secret of secretsOf(server)) {
    t.notOk(log.includes(secret), `not in the log: ${secret.slice(0, 12)}…`)
  }
}

let server: AuthServer

t.before(async () => {
  // Every request logged, at the most verbose level: the log must still hold no secret.
  server = await startAuthServer(t, {
    users: PASSWORDS,
    auth: { rules: RULES, anonymous: ANONYMOUS, throttle: { failures: 1000, windowSeconds: 60 } },
    config: { log: { level: 'trace', requests: true } },
  })
  for (const [user, password] of Object.entries(PASSWORDS)) keep(server, password, basic(user, password).slice(6))
})

t.test('docker-style: /v2/ → 401 challenge → token from the realm with Basic and the scope → push → pull back, digests verified', async (t) => {
  const repo = 'team/docker-flow'
  const ping = await request(server, '/v2/')
  t.equal(ping.status, 401, 'the ping asks for credentials')
  const base = challenge(ping)
  t.same(base, { realm: `${server.url}/token`, service: 'wharf' }, 'realm and service, no scope')

  // The push begins; the 401 names the scope it needs.
  const refused = await request(server, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
  t.equal(refused.status, 401)
  const asked = challenge(refused)
  t.equal(asked.scope, `repository:${repo}:pull,push`, 'the challenge names the scope of a push')
  t.equal(asked.realm, base.realm)

  const tokenFor = async (user: keyof typeof PASSWORDS, params: Record<string, string>): Promise<string> => {
    const realm = new URL(params.realm!)
    realm.searchParams.set('service', params.service!)
    realm.searchParams.set('scope', params.scope!)
    const res = await new Client(realm.origin, basic(user, PASSWORDS[user])).get(`${realm.pathname}${realm.search}`)
    t.equal(res.status, 200, `the realm answers ${user} (${res.describe()})`)
    const answer = res.json<{ token: string; access_token: string }>()
    t.equal(answer.access_token, answer.token)
    keep(server, answer.token)
    return answer.token
  }
  const pushToken = await tokenFor('alice', asked)
  t.same(decodeJwt(pushToken).access, [{ type: 'repository', name: repo, actions: ['pull', 'push'] }], 'the token grants what was asked')

  const pusher = new Client(server.url, `Bearer ${pushToken}`)
  const layer = makeBlob(100_000)
  const image = await pusher.pushImage(repo, { tag: 'v1', layers: [layer] })
  t.equal(pusher.statuses.get(401), undefined, 'no request of the push was refused')

  // A reader pulls as docker does: the 401 of the manifest names pull; its token pulls the image.
  const manifest = await request(server, `/v2/${repo}/manifests/v1`)
  t.equal(manifest.status, 401)
  const pullScope = challenge(manifest)
  t.equal(pullScope.scope, `repository:${repo}:pull`)
  const puller = new Client(server.url, `Bearer ${await tokenFor('bob', pullScope)}`)
  const pulled = await puller.pullVerified(repo, 'v1')
  t.equal(pulled.digest, image.manifest.digest, 'the manifest pulled is the one pushed')
  t.same([...pulled.blobs.keys()].sort(), [image.config.digest, layer.digest].sort(), 'config and layer pulled')
  t.ok(pulled.blobs.get(layer.digest)!.equals(layer.data), 'the layer\'s bytes')
  const push = await puller.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' })
  t.equal(push.status, 403, 'the pull token does not push (and bob may not: a new token would not help)')
  t.equal(errorCode(push), 'DENIED')
})

t.test('an anonymous token (GET /token without credentials) pulls public/** but not team/**', async (t) => {
  const alice = new Client(server.url, basic('alice', PASSWORDS.alice))
  const publicImage = await alice.pushImage('public/base', { tag: 'latest' })
  await alice.pushImage('team/private', { tag: 'latest' })

  const res = await server.tokenResponse('service=wharf&scope=repository:public/base:pull&scope=repository:team/private:pull')
  t.equal(res.status, 200, res.describe())
  const token = res.json<{ token: string }>().token
  t.equal(decodeJwt(token).sub, 'anonymous')
  t.same(decodeJwt(token).access, [{ type: 'repository', name: 'public/base', actions: ['pull'] }], 'team/private left out of the token')
  const anonymous = new Client(server.url, `Bearer ${token}`)
  t.equal((await anonymous.pullVerified('public/base', 'latest')).digest, publicImage.manifest.digest, 'public/base pulled, verified')
  const refused = await anonymous.getManifest('team/private', 'latest')
  t.equal(refused.status, 403, `team/private refused: anonymous may not pull it, a new token would not help (${refused.describe()})`)
  t.equal(errorCode(refused), 'DENIED')
  const forged = await server.tokenResponse('service=wharf&scope=repository:team/private:pull,push')
  t.same(decodeJwt(forged.json<{ token: string }>().token).access, [], 'asking for team/** gets an empty access claim')
})

t.test('a user removed with `wharf user rm` stops logging in within about two seconds: Basic and their tokens', async (t) => {
  const basicCarol = new Client(server.url, basic('carol', PASSWORDS.carol))
  t.equal((await basicCarol.get('/v2/')).status, 200, 'carol logs in (and is remembered)')
  const token = await server.token('service=wharf&scope=repository:team/app:pull', basic('carol', PASSWORDS.carol))
  const refresh = (await server.tokenResponse('service=wharf&offline_token=true', basic('carol', PASSWORDS.carol))).json<{ refresh_token: string }>().refresh_token
  keep(server, token, refresh)
  const bearerCarol = new Client(server.url, `Bearer ${token}`)
  t.equal((await bearerCarol.get('/v2/')).status, 200, 'her token works')

  const removed = await server.cli(['user', 'rm', 'carol'])
  t.equal(removed.code, 0, removed.stderr)
  const start = Date.now()
  await waitFor('carol refused with Basic', async () => (await basicCarol.get('/v2/')).status === 401, 2500, 50)
  await waitFor('carol\'s token refused', async () => (await bearerCarol.get('/v2/')).status === 401, 2500, 50)
  t.ok(Date.now() - start <= 2500, `refused after ${Date.now() - start} ms`)
  t.equal(errorCode(await basicCarol.get('/v2/')), 'UNAUTHORIZED')
  t.equal(challenge(await bearerCarol.get('/v2/')).error, 'invalid_token', 'her token is invalid now')
  const refreshed = await request(server, '/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: 'wharf' }).toString() })
  t.equal(refreshed.status, 401, 'her refresh token too')
  t.equal((await server.tokenResponse('service=wharf', basic('carol', PASSWORDS.carol))).status, 401, 'and /token')
  t.equal((await new Client(server.url, basic('dave', PASSWORDS.dave)).get('/v2/')).status, 200, 'the other users still log in')
})

t.test('a robot revoked with `wharf token revoke` stops logging in within about two seconds: Basic and its tokens', async (t) => {
  const secret = await server.createRobot('deployer', 'repository:team/*:pull')
  keep(server, secret, basic('deployer', secret).slice(6))
  const basicRobot = new Client(server.url, basic('deployer', secret))
  t.equal((await basicRobot.get('/v2/')).status, 200, 'the robot logs in (and is remembered)')
  const token = await server.token('service=wharf&scope=repository:team/app:pull', basic('deployer', secret))
  keep(server, token)
  t.same(decodeJwt(token).sub, 'robot:deployer')
  const bearerRobot = new Client(server.url, `Bearer ${token}`)
  t.equal((await bearerRobot.get('/v2/team/app/tags/list')).status, 404, 'its token passes access control (team/app is just empty)')

  const revoked = await server.cli(['token', 'revoke', 'deployer'])
  t.equal(revoked.code, 0, revoked.stderr)
  const start = Date.now()
  await waitFor('the robot refused with Basic', async () => (await basicRobot.get('/v2/')).status === 401, 2500, 50)
  await waitFor('the robot\'s token refused', async () => (await bearerRobot.get('/v2/team/app/tags/list')).status === 401, 2500, 50)
  t.ok(Date.now() - start <= 2500, `refused after ${Date.now() - start} ms`)
  t.equal(challenge(await bearerRobot.get('/v2/')).error, 'invalid_token')
  t.equal((await server.tokenResponse('service=wharf', basic('deployer', secret))).status, 401, 'and /token')
})

t.test('a password changed with `wharf user passwd`, or a robot made again under its name, ends the old secret within about two seconds', async (t) => {
  const oldDave = new Client(server.url, basic('dave', PASSWORDS.dave))
  t.equal((await oldDave.get('/v2/')).status, 200, 'dave logs in (and is remembered)')
  const newPassword = 'dave-Changed-5'
  keep(server, newPassword, basic('dave', newPassword).slice(6))
  const changed = await server.cli(['user', 'passwd', 'dave', '--password-stdin'], `${newPassword}\n`)
  t.equal(changed.code, 0, changed.stderr)
  let start = Date.now()
  await waitFor('dave\'s old password refused', async () => (await oldDave.get('/v2/')).status === 401, 2500, 50)
  t.ok(Date.now() - start <= 2500, `refused after ${Date.now() - start} ms`)
  t.equal((await new Client(server.url, basic('dave', newPassword)).get('/v2/')).status, 200, 'the new password logs in')

  const first = await server.createRobot('builder', 'repository:team/*:pull')
  const oldRobot = new Client(server.url, basic('builder', first))
  t.equal((await oldRobot.get('/v2/')).status, 200, 'the robot logs in (and is remembered)')
  t.equal((await server.cli(['token', 'revoke', 'builder'])).code, 0)
  const second = await server.createRobot('builder', 'repository:team/*:pull')
  keep(server, first, second)
  start = Date.now()
  await waitFor('the first robot\'s secret refused', async () => (await oldRobot.get('/v2/')).status === 401, 2500, 50)
  t.ok(Date.now() - start <= 2500, `refused after ${Date.now() - start} ms`)
  t.equal((await new Client(server.url, basic('builder', second)).get('/v2/')).status, 200, 'the new robot\'s secret logs in')
})

t.test('brute force: after 3 failures from one address, 429 TOOMANYREQUESTS with Retry-After on /v2/ and /token, even for a right password, until the window passes', async (t) => {
  const guarded = await startAuthServer(t, { users: PASSWORDS, auth: { rules: RULES, throttle: { failures: 3, windowSeconds: 2 } }, config: { log: { level: 'trace', requests: true } } })
  for (const [user, password] of Object.entries(PASSWORDS)) keep(guarded, password, basic(user, password).slice(6))
  const as = (user: string, password: string): Client => new Client(guarded.url, basic(user, password))

  t.equal((await as('alice', PASSWORDS.alice).get('/v2/')).status, 200, 'alice logs in (and is remembered)')
  const start = Date.now()
  for (let i = 1; i <= 3; i++) {
    const wrong = await as('alice', `guess-${i}`).get('/v2/')
    t.equal(wrong.status, 401, `wrong password ${i}: 401`)
    t.equal(errorCode(wrong), 'UNAUTHORIZED')
  }
  const fourth = await as('alice', 'guess-4').get('/v2/')
  t.equal(fourth.status, 429, 'the 4th wrong password: 429')
  t.equal(errorCode(fourth), 'TOOMANYREQUESTS')
  const retryAfter = Number(fourth.header('retry-after'))
  t.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After within the 2 s window (${fourth.header('retry-after')})`)
  t.equal((await as('alice', PASSWORDS.alice).get('/v2/')).status, 429, 'alice\'s right password, remembered: refused too (else the guesser learns it)')
  t.equal((await as('bob', PASSWORDS.bob).get('/v2/')).status, 429, 'another user\'s right password from the same address: refused too')
  t.ok(Date.now() - start < 2000, 'all within the window')
  await sleep(Math.max(0, start + 2200 - Date.now()))
  t.equal((await as('bob', PASSWORDS.bob).get('/v2/')).status, 200, 'after the window: the right password logs in')
  t.equal((await as('alice', PASSWORDS.alice).get('/v2/')).status, 200, 'alice too')

  const tokenStart = Date.now()
  for (let i = 1; i <= 3; i++) t.equal((await guarded.tokenResponse('service=wharf', basic('carol', `guess-${i}`))).status, 401, `/token: wrong password ${i}: 401`)
  const throttled = await guarded.tokenResponse('service=wharf', basic('carol', 'guess-4'))
  t.equal(throttled.status, 429, '/token: the 4th wrong password: 429')
  t.equal(errorCode(throttled), 'TOOMANYREQUESTS')
  const tokenRetry = Number(throttled.header('retry-after'))
  t.ok(tokenRetry >= 1 && tokenRetry <= 2, `/token: Retry-After (${throttled.header('retry-after')})`)
  const right = await guarded.tokenResponse('service=wharf', basic('carol', PASSWORDS.carol))
  t.equal(right.status, 429, '/token: the right password while throttled: 429')
  t.ok(right.header('retry-after') !== undefined, 'with Retry-After')
  t.equal((await as('dave', PASSWORDS.dave).get('/v2/')).status, 429, 'the address is throttled on /v2/ as well')
  t.ok(Date.now() - tokenStart < 2000, 'all within the window')
  await sleep(Math.max(0, tokenStart + 2200 - Date.now()))
  const after = await guarded.tokenResponse('service=wharf', basic('carol', PASSWORDS.carol))
  t.equal(after.status, 200, `/token: after the window, a token (${after.describe()})`)
  keep(guarded, after.json<{ token: string }>().token)
  assertNoSecretsLogged(t, guarded)
})

t.test('no password, robot secret or token is in the server\'s log (every request logged, level trace)', async (t) => {
  t.ok(secretsOf(server).length >= 12, `${secretsOf(server).length} secrets used against the server`)
  t.ok(server.wharf.logs.some((line) => line.includes('/token')), 'the token requests were logged')
  assertNoSecretsLogged(t, server)
})

function request(to: AuthServer, path: string, options: RequestOptions = {}): Promise<HttpResponse> {
  return new Client(to.url, undefined).request(path, options)
}
