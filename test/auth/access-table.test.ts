/**
 * Every role against every endpoint and action, on a real `wharf serve` with access control on:
 * nobody does more than their rules allow, refusals are the spec's 401 (with a Bearer challenge
 * naming the scope) and 403, and a refused request changes nothing.
 *
 * Roles: admin (everything, admin API), pusher (pull and push on team/** through group `team`),
 * reader (pull on team/**), nobody (a user no rule names: anonymous access only), robot `ci`
 * (scopes repository:team/*:pull,push, made with `wharf token create`), anonymous (pull on public/**).
 * Bearer callers hold tokens from the server's /token, or signed with its key files for claims the
 * endpoint would not issue; an external issuer's tokens are trusted through auth.trust.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import type { OutgoingHttpHeaders } from 'node:http'
import {
  configBlob, descriptor, imageManifest, makeBlob, ociManifest, RegistryClient, startWharf, tempDir,
  type Blob, type HttpResponse, type Manifest, type RequestOptions, type WharfProcess,
} from '../support/index.js'
import { basic, claims, freePort, sign, signedToken, startAuthServer, type AuthServer } from './auth-server.js'

const PASSWORDS = { admin: 'admin-pw', pusher: 'pusher-pw', reader: 'reader-pw', nobody: 'nobody-pw' } as const
type Role = keyof typeof PASSWORDS | 'robot' | 'anonymous'
const ROLES: readonly Role[] = ['admin', 'pusher', 'reader', 'nobody', 'robot', 'anonymous']

/** A registry client that sends `authorization` with every request. */
class Client extends RegistryClient {
  constructor(base: string, readonly authorization: string | undefined) { super(base) }
  override request(requestPath: string, options: RequestOptions = {}): Promise<HttpResponse> {
    const headers: OutgoingHttpHeaders = { ...(this.authorization !== undefined ? { authorization: this.authorization } : {}), ...options.headers }
    return super.request(requestPath, { ...options, headers })
  }
}

let server: AuthServer
let wharf: WharfProcess
const as = {} as Record<Role, Client>
/** The external issuer the server trusts (auth.trust): its tokens' access claim alone decides. */
const idp = generateKeyPairSync('ec', { namedCurve: 'P-256' })

// Content seeded by the admin.
let teamImage: { config: Blob; layers: Blob[]; manifest: Manifest }
let publicImage: { config: Blob; layers: Blob[]; manifest: Manifest }
let secretImage: { config: Blob; layers: Blob[]; manifest: Manifest }
let referrer: Manifest

t.before(async () => {
  const trustDir = await tempDir('access-trust')
  const idpKey = path.join(trustDir, 'idp.pem')
  await writeFile(idpKey, idp.publicKey.export({ type: 'spki', format: 'pem' }) as string)
  // The trusted issuer's realm must be this server's /token (its challenges name it): the port is chosen first.
  const port = await freePort()
  server = await startAuthServer(t, {
    port,
    users: PASSWORDS,
    auth: {
      groups: { team: ['pusher'] },
      rules: [
        { repositories: '**', users: ['admin'], actions: ['pull', 'push', 'delete', 'admin'] },
        { repositories: 'team/**', groups: ['team'], actions: ['pull', 'push'] },
        { repositories: 'team/**', users: ['reader'], actions: ['pull'] },
      ],
      anonymous: [{ repositories: 'public/**', actions: ['pull'] }],
      throttle: { failures: 5, windowSeconds: 60 },
      trust: { issuer: 'idp', service: 'wharf', realm: `http://127.0.0.1:${port}/token`, publicKey: idpKey },
    },
  })
  wharf = server.wharf
  // The robot, made with the real CLI while the server runs.
  const robotSecret = await server.createRobot('ci', 'repository:team/*:pull,push')
  for (const role of ROLES) {
    as[role] = new Client(wharf.url, role === 'anonymous' ? undefined : role === 'robot' ? basic('ci', robotSecret) : basic(role, PASSWORDS[role]))
  }

  const admin = as.admin
  teamImage = await admin.pushImage('team/app', { tag: 'v1' })
  const sbomConfig = await admin.pushBlob('team/app', configBlob())
  referrer = imageManifest(sbomConfig, [], { subject: teamImage.manifest, artifactType: 'application/vnd.example.sbom' })
  await admin.pushManifest('team/app', referrer.digest, referrer)
  publicImage = await admin.pushImage('public/base', { tag: 'latest' })
  secretImage = await admin.pushImage('secret/x', { tag: 's1' })
  for (const repo of ['a-hidden/1', 'a-hidden/2', 'team/b', 'team/c', 'zz-hidden/1']) await admin.pushBlob(repo, makeBlob(64))
})

/** Status and error code of an answer: `200`, `403 DENIED`. */
function outcome(res: HttpResponse): string {
  if (res.status < 400) return String(res.status)
  const code = (res.method === 'HEAD' ? undefined : (res.json<{ errors?: Array<{ code: string }> }>().errors ?? [])[0]?.code)
  return code === undefined ? String(res.status) : `${res.status} ${code}`
}

/** Parameters of a Bearer challenge. */
function challenge(res: HttpResponse): Record<string, string> | undefined {
  const header = res.header('www-authenticate')
  if (header === undefined || !header.startsWith('Bearer ')) return undefined
  const params: Record<string, string> = {}
  for (const match of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[match[1]!] = match[2]!
  return params
}

const OK_READ = { admin: '200', pusher: '200', reader: '200', robot: '200' }

t.test('the /v2/ base: 401 with a challenge unless logged in; wrong credentials and bad tokens too', async (t) => {
  for (const role of ROLES) {
    const res = await as[role].get('/v2/')
    if (role === 'anonymous') {
      t.equal(outcome(res), '401 UNAUTHORIZED', 'anonymous')
      t.same(challenge(res), { realm: `${wharf.url}/token`, service: 'wharf' }, 'realm from the Host header, service, no scope')
    } else {
      t.equal(res.status, 200, role)
      t.equal(res.header('www-authenticate'), undefined, `${role}: no challenge`)
    }
  }
  const wrong = await new Client(wharf.url, `Basic ${Buffer.from('reader:guess').toString('base64')}`).get('/v2/')
  t.equal(outcome(wrong), '401 UNAUTHORIZED', 'a wrong password')
  t.match(challenge(wrong), { realm: `${wharf.url}/token`, service: 'wharf' })
  const forged = await new Client(wharf.url, 'Bearer eyJhbGciOiJub25lIn0.e30.').get('/v2/team/app/tags/list')
  t.equal(outcome(forged), '401 UNAUTHORIZED', 'a token nobody can verify')
  t.same(challenge(forged), { realm: `${wharf.url}/token`, service: 'wharf', scope: 'repository:team/app:pull', error: 'invalid_token' })
})

t.test('reads: tags, manifests, blobs and referrers need pull on the repository', async (t) => {
  const paths = (repo: string, image: typeof teamImage, tag: string): Array<[string, string]> => [
    ['GET', `/v2/${repo}/tags/list`],
    ['GET', `/v2/${repo}/manifests/${tag}`],
    ['HEAD', `/v2/${repo}/manifests/${image.manifest.digest}`],
    ['GET', `/v2/${repo}/blobs/${image.layers[0]!.digest}`],
    ['HEAD', `/v2/${repo}/blobs/${image.config.digest}`],
    ['GET', `/v2/${repo}/referrers/${image.manifest.digest}`],
  ]
  const expected: Record<string, Partial<Record<Role, string>>> = {
    'team/app': { ...OK_READ, nobody: '403 DENIED', anonymous: '401 UNAUTHORIZED' },
    'public/base': { admin: '200', pusher: '200', reader: '200', nobody: '200', robot: '403 DENIED', anonymous: '200' },
    'secret/x': { admin: '200', pusher: '403 DENIED', reader: '403 DENIED', nobody: '403 DENIED', robot: '403 DENIED', anonymous: '401 UNAUTHORIZED' },
  }
  const images: Record<string, [typeof teamImage, string]> = { 'team/app': [teamImage, 'v1'], 'public/base': [publicImage, 'latest'], 'secret/x': [secretImage, 's1'] }
  for (const [repo, [image, tag]] of Object.entries(images)) {
    for (const [method, requestPath] of paths(repo, image, tag)) {
      for (const role of ROLES) {
        const res = await as[role].request(requestPath, { method, headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
        const want = expected[repo]![role]!
        // HEAD answers carry no body: the status alone.
        t.equal(outcome(res), method === 'HEAD' ? want.split(' ')[0] : want, `${role} ${method} ${requestPath}`)
        if (res.status === 401) t.same(challenge(res), { realm: `${wharf.url}/token`, service: 'wharf', scope: `repository:${repo}:pull` }, 'the challenge names the scope')
        if (res.status === 403 && method !== 'HEAD') {
          t.same(res.json<{ errors: Array<{ detail: unknown }> }>().errors[0]!.detail, [{ Type: 'repository', Name: repo, Action: 'pull' }], 'DENIED names what was needed')
        }
      }
    }
  }
  const refs = await as.reader.getJson<{ manifests: Array<{ digest: string }> }>(`/v2/team/app/referrers/${teamImage.manifest.digest}`)
  t.same(refs.manifests.map((m) => m.digest), [referrer.digest], 'a reader sees the referrers')
})

t.test('the catalog lists only what the caller may pull, in full pages', async (t) => {
  const pages = async (role: Role, n: number): Promise<Array<{ repositories: string[]; link: string | undefined }>> => {
    const result: Array<{ repositories: string[]; link: string | undefined }> = []
    let next: string | undefined = `/v2/_catalog?n=${n}`
    while (next !== undefined && result.length < 10) {
      const res = await as[role].get(next)
      t.equal(res.status, 200, `${role} ${next}`)
      const link = res.header('link')
      result.push({ repositories: res.json<{ repositories: string[] }>().repositories, link })
      next = link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1]
    }
    return result
  }
  t.same(await pages('reader', 2), [
    { repositories: ['public/base', 'team/app'], link: '</v2/_catalog?n=2&last=team%2Fapp>; rel="next"' },
    { repositories: ['team/b', 'team/c'], link: undefined },
  ], 'reader: hidden repositories skipped, pages full, no Link after the last visible one')
  t.same(await pages('robot', 2), [{ repositories: ['team/app', 'team/b'], link: '</v2/_catalog?n=2&last=team%2Fb>; rel="next"' }, { repositories: ['team/c'], link: undefined }], 'robot: its scopes only')
  t.same(await pages('anonymous', 2), [{ repositories: ['public/base'], link: undefined }], 'anonymous: the anonymous rules')
  t.same(await pages('nobody', 5), [{ repositories: ['public/base'], link: undefined }], 'a user no rule names: what anyone may pull')
  t.same((await pages('admin', 3)).map((p) => p.repositories), [['a-hidden/1', 'a-hidden/2', 'public/base'], ['secret/x', 'team/app', 'team/b'], ['team/c', 'zz-hidden/1']], 'admin: everything')
})

t.test('admin API: registry:admin, 401 anonymous, 403 for everyone else', async (t) => {
  for (const role of ROLES) {
    const gc = await as[role].get('/_wharf/v1/gc')
    const du = await as[role].get('/_wharf/v1/du')
    const run = await as[role].request('/_wharf/v1/gc?dryRun=true', { method: 'POST' })
    const hooks = await as[role].get('/_wharf/v1/notifications')
    const want = role === 'admin' ? '200' : role === 'anonymous' ? '401 UNAUTHORIZED' : '403 DENIED'
    for (const res of [gc, du, run, hooks]) t.equal(outcome(res), want, `${role} ${res.method} ${res.url}`)
    if (role === 'anonymous') t.same(challenge(gc), { realm: `${wharf.url}/token`, service: 'wharf', scope: 'registry:admin:*' })
    if (role === 'admin') t.equal(run.json<{ dryRun: boolean }>().dryRun, true, 'the admin ran a dry run')
    if (role === 'admin') t.same(hooks.json(), { endpoints: [] }, 'no webhook endpoints configured')
  }
})

/** The state refused writes must leave alone, read as the admin. */
async function snapshot(): Promise<unknown> {
  const admin = as.admin
  const manifest = await admin.getManifest('team/app', 'v1')
  return {
    v1: manifest.header('docker-content-digest'),
    tags: await admin.tags('team/app'),
    layer: await admin.blobIntact('team/app', teamImage.layers[0]!.digest),
    byDigest: (await admin.getManifest('team/app', teamImage.manifest.digest)).status,
    referrers: await admin.referrers('team/app', teamImage.manifest.digest),
  }
}

t.test('writes: pushes need pull and push, deletes need delete; refused ones change nothing', async (t) => {
  const before = await snapshot()
  const other = ociManifest({ config: descriptor(teamImage.config), layers: [descriptor(teamImage.layers[0]!)] , annotations: { replaced: 'yes' } })
  const newBlob = makeBlob(2048)
  const refusals: Record<string, string> = { reader: '403 DENIED', nobody: '403 DENIED', anonymous: '401 UNAUTHORIZED' }
  for (const [role, want] of Object.entries(refusals) as Array<[Role, string]>) {
    const client = as[role]
    const put = await client.putManifest('team/app', 'v1', other)
    t.equal(outcome(put), want, `${role} PUT manifest`)
    if (role === 'anonymous') t.same(challenge(put), { realm: `${wharf.url}/token`, service: 'wharf', scope: 'repository:team/app:pull,push' }, 'pushes ask for pull,push')
    t.equal(outcome(await client.postBlob('team/app', newBlob)), want, `${role} POST blob with body`)
    t.equal(outcome(await client.request('/v2/team/app/blobs/uploads/', { method: 'POST' })), want, `${role} POST upload`)
    t.equal(outcome(await client.request(`/v2/team/app/blobs/uploads/?mount=${publicImage.layers[0]!.digest}&from=public/base`, { method: 'POST' })), want, `${role} mount`)
  }
  // Deletes: only the admin has delete.
  for (const role of ROLES.filter((r) => r !== 'admin')) {
    const want = role === 'anonymous' ? '401 UNAUTHORIZED' : '403 DENIED'
    t.equal(outcome(await as[role].deleteManifest('team/app', 'v1')), want, `${role} DELETE tag`)
    t.equal(outcome(await as[role].deleteManifest('team/app', referrer.digest)), want, `${role} DELETE manifest`)
    t.equal(outcome(await as[role].deleteBlob('team/app', teamImage.layers[0]!.digest)), want, `${role} DELETE blob`)
  }
  const denied = await as.pusher.deleteManifest('team/app', 'v1')
  t.same(denied.json<{ errors: Array<{ detail: unknown }> }>().errors[0]!.detail, [{ Type: 'repository', Name: 'team/app', Action: 'delete' }])
  t.same(await snapshot(), before, 'nothing changed')
  t.equal((await as.admin.headBlob('team/app', newBlob.digest)).status, 404, 'the refused blob was not stored')

  // Allowed: pusher and robot push; the admin deletes.
  for (const role of ['pusher', 'robot'] as const) {
    const image = await as[role].pushImage('team/app', { tag: `by-${role}` })
    t.equal((await as.reader.getManifest('team/app', `by-${role}`)).header('docker-content-digest'), image.manifest.digest, `${role} pushed`)
  }
  t.equal(outcome(await as.robot.postBlob('team/deep/app', makeBlob(10))), '403 DENIED', 'the robot\'s team/* stops at /')
  t.equal(outcome(await as.pusher.postBlob('team/deep/app', makeBlob(10))), '201', 'the pusher\'s team/** does not')
  t.equal(outcome(await as.admin.deleteManifest('team/app', 'by-pusher')), '202', 'admin deletes a tag')
  t.same(await as.admin.tags('team/app'), ['by-robot', 'v1'])
  const loose = await as.admin.pushBlob('team/app', makeBlob(100))
  t.equal(outcome(await as.admin.deleteBlob('team/app', loose.digest)), '202', 'admin deletes a blob')
})

t.test('mounts: from needs pull on from (else an upload session, 202); without from, only from a repository the caller may pull', async (t) => {
  const mount = (role: Role, target: string, digest: string, from?: string): Promise<HttpResponse> =>
    as[role].request(`/v2/${target}/blobs/uploads/?mount=${digest}${from !== undefined ? `&from=${from}` : ''}`, { method: 'POST' })
  const secretLayer = secretImage.layers[0]!.digest
  const publicLayer = publicImage.layers[0]!.digest

  const fromSecret = await mount('pusher', 'team/app', secretLayer, 'secret/x')
  t.equal(fromSecret.status, 202, 'from a repository the pusher cannot pull: an upload session, not a mount')
  t.match(fromSecret.header('location'), /^\/v2\/team\/app\/blobs\/uploads\//)
  t.equal((await as.admin.headBlob('team/app', secretLayer)).status, 404, 'the secret blob was not linked')

  const automaticSecret = await mount('pusher', 'team/app', secretLayer)
  t.equal(automaticSecret.status, 202, 'without from: a digest only in a private repository is not mounted')
  t.equal((await as.admin.headBlob('team/app', secretLayer)).status, 404)

  t.equal((await mount('robot', 'team/app', publicLayer, 'public/base')).status, 202, 'the robot may not pull public/base')
  t.equal((await mount('robot', 'team/app', publicLayer)).status, 202, 'nor mount it without from')
  t.equal((await as.admin.headBlob('team/app', publicLayer)).status, 404)

  t.equal((await mount('pusher', 'team/app', publicLayer, 'public/base')).status, 201, 'from a repository the pusher may pull (anonymous rules)')
  t.equal((await as.reader.headBlob('team/app', publicLayer)).status, 200, 'mounted')
  const other = publicImage.config.digest
  t.equal((await mount('pusher', 'team/b', other)).status, 201, 'without from: a blob in a repository the pusher may pull')
  t.equal((await mount('admin', 'team/c', secretLayer)).status, 201, 'the admin may pull secret/x, so the automatic mount works')
  t.equal((await as.admin.headBlob('team/c', secretLayer)).status, 200)
})

t.test('an upload session belongs to who started it: anyone else gets 404 BLOB_UPLOAD_UNKNOWN', async (t) => {
  const blob = makeBlob(3000)
  const { location } = await as.pusher.startUpload('team/app')
  t.equal((await as.pusher.patch(location, blob.data.subarray(0, 1000), { contentRange: '0-999' })).status, 202)
  for (const role of ['robot', 'admin', 'reader', 'anonymous'] as const) {
    const wantAuth = role === 'reader' ? '403 DENIED' : role === 'anonymous' ? '401 UNAUTHORIZED' : '404 BLOB_UPLOAD_UNKNOWN'
    t.equal(outcome(await as[role].patch(location, blob.data.subarray(1000, 2000), { contentRange: '1000-1999' })), wantAuth, `${role} PATCH`)
    t.equal(outcome(await as[role].get(location)), role === 'reader' ? '403 DENIED' : wantAuth, `${role} GET status`)
    t.equal(outcome(await as[role].putUpload(location, blob.digest, blob.data.subarray(1000))), wantAuth, `${role} PUT`)
    t.equal(outcome(await as[role].delete(location)), wantAuth, `${role} DELETE`)
  }
  const status = await as.pusher.get(location)
  t.equal(status.status, 204)
  t.equal(status.header('range'), '0-999', 'nobody else added to it')
  t.equal(outcome(await as.pusher.putUpload(location, blob.digest, blob.data.subarray(1000), { 'content-range': '1000-2999' })), '201', 'its owner completes it')
  t.ok(await as.reader.blobIntact('team/app', blob.digest))
})

t.test('bearer tokens: the access claim and the subject\'s rules; insufficient_scope when a new token would help', async (t) => {
  const withToken = (token: string): Client => new Client(wharf.url, `Bearer ${token}`)
  /** A token from the server's /token: Basic credentials of `role` (none: anonymous) and the scopes asked for. */
  const issued = async (role: Role, ...scopes: string[]): Promise<Client> => {
    const query = ['service=wharf', ...scopes.map((scope) => `scope=${encodeURIComponent(scope)}`)].join('&')
    return withToken(await server.token(query, role === 'anonymous' ? undefined : as[role].authorization))
  }
  /** A token signed with the server's key for claims its /token would not issue (more than the subject may have, a subject that is gone). */
  const signed = async (sub: string, ...scopes: string[]): Promise<Client> => withToken(await signedToken(server.keysDirectory, sub, scopes))

  t.equal((await (await issued('anonymous')).get('/v2/')).status, 200, 'any valid token passes the base (anonymous pulls log in this way)')
  t.equal((await (await issued('reader', 'repository:team/app:pull')).get('/v2/team/app/tags/list')).status, 200)

  const short = await (await issued('pusher', 'repository:team/app:pull')).request('/v2/team/app/blobs/uploads/', { method: 'POST' })
  t.equal(outcome(short), '401 UNAUTHORIZED', 'the pusher may push but the token does not say so')
  t.same(challenge(short), { realm: `${wharf.url}/token`, service: 'wharf', scope: 'repository:team/app:pull,push', error: 'insufficient_scope' })
  const readerPush = await issued('reader', 'repository:team/app:pull,push')
  const beyond = await (await signed('user:reader', 'repository:team/app:pull,push')).request('/v2/team/app/blobs/uploads/', { method: 'POST' })
  t.equal(outcome(beyond), '403 DENIED', 'the claim says push, the subject may not: a new token would not help')
  t.equal(outcome(await readerPush.request('/v2/team/app/blobs/uploads/', { method: 'POST' })), '403 DENIED', 'the endpoint left push out of the reader\'s token')
  t.equal(outcome(await (await signed('user:reader', 'repository:team/*:pull')).get('/v2/team/app/tags/list')), '401 UNAUTHORIZED', 'names in a claim are not globs')

  const ghost = await (await signed('user:ghost', 'repository:team/app:pull')).get('/v2/team/app/tags/list')
  t.equal(outcome(ghost), '401 UNAUTHORIZED', 'a user no longer in the htpasswd file')
  t.equal(challenge(ghost)?.error, 'invalid_token')
  t.equal((await (await issued('robot', 'repository:team/app:pull')).get('/v2/team/app/tags/list')).status, 200, 'a current robot')
  t.equal(outcome(await (await signed('robot:revoked', 'repository:team/app:pull')).get('/v2/team/app/tags/list')), '401 UNAUTHORIZED', 'a robot that is gone')

  const catalogAsReader = (await as.reader.getJson<{ repositories: string[] }>('/v2/_catalog')).repositories
  const viaToken = await (await issued('reader', 'registry:catalog:*')).getJson<{ repositories: string[] }>('/v2/_catalog')
  t.same(viaToken.repositories, catalogAsReader, 'a catalog token shows what its subject may pull')
  const noCatalog = await (await issued('reader', 'repository:team/app:pull')).get('/v2/_catalog')
  t.equal(outcome(noCatalog), '401 UNAUTHORIZED')
  t.same(challenge(noCatalog), { realm: `${wharf.url}/token`, service: 'wharf', scope: 'registry:catalog:*', error: 'insufficient_scope' })

  const now = Math.floor(Date.now() / 1000)
  const externalToken = await sign(claims({
    iss: 'idp', sub: 'idp-user', aud: 'wharf', iat: now, nbf: now, exp: now + 300, jti: randomBytes(8).toString('hex'),
    access: [{ type: 'repository', name: 'secret/x', actions: ['pull'] }, { type: 'registry', name: 'catalog', actions: ['*'] }],
  }), idp.privateKey, { alg: 'ES256', typ: 'JWT' })
  const external = withToken(externalToken)
  t.equal((await external.get('/v2/secret/x/tags/list')).status, 200, 'an external issuer\'s claim alone decides')
  t.equal(challenge(await external.request('/v2/secret/x/blobs/uploads/', { method: 'POST' }))?.error, 'insufficient_scope')
  t.same((await external.getJson<{ repositories: string[] }>('/v2/_catalog')).repositories, ['secret/x'], 'its catalog: the names its claim lists')

  const publicLayer = publicImage.layers[0]!.digest
  const target = 'team/bearer'
  const mount = (client: Client): Promise<HttpResponse> => client.request(`/v2/${target}/blobs/uploads/?mount=${publicLayer}&from=public/base`, { method: 'POST' })
  t.equal((await mount(await issued('pusher', `repository:${target}:pull,push`))).status, 202, 'a mount needs pull on from in the token too')
  t.equal((await mount(await issued('pusher', `repository:${target}:pull,push`, 'repository:public/base:pull'))).status, 201, 'with it, mounted')
})

t.test('the start-up log says whether access control is on', async (t) => {
  const line = (logs: readonly string[]): string | undefined => logs.map((l) => { try { return (JSON.parse(l) as { msg?: string }).msg } catch { return undefined } })
    .find((msg) => msg?.startsWith('access control:') === true)
  t.match(line(wharf.logs), /^access control: users from \/.*\/htpasswd$/)
  const open = await startWharf()
  t.teardown(() => open.stop({ removeStorage: true }))
  t.equal(line(open.logs), 'access control: open (no auth section)')
  t.equal((await new RegistryClient(open.url).get('/v2/_catalog')).status, 200, 'open: no credentials needed')
  t.equal((await new RegistryClient(open.url).get('/_wharf/v1/gc')).status, 200, 'open: the admin API too')
})

t.test('failed logins are throttled: 429 with Retry-After', async (t) => {
  const guesser = new Client(wharf.url, `Basic ${Buffer.from('reader:guess').toString('base64')}`)
  // The first test's wrong password was the first failure (throttle.failures is 5).
  for (let i = 2; i <= 5; i++) t.equal((await guesser.get('/v2/')).status, 401, `failure ${i}`)
  const throttled = await guesser.get('/v2/')
  t.equal(outcome(throttled), '429 TOOMANYREQUESTS')
  t.ok(Number(throttled.header('retry-after')) >= 1, `Retry-After ${throttled.header('retry-after')}`)
  t.equal((await as.anonymous.get('/v2/public/base/tags/list')).status, 200, 'anonymous pulls are no logins')
})
