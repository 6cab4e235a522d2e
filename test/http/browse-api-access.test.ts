/**
 * The UI's JSON API with access control on: a caller sees only the repositories they may pull (as
 * the catalog shows them), `can` says what they may do, and what they may not read is refused.
 */
import t from 'tap'
import { RegistryClient, type HttpResponse, type RequestOptions } from '../support/index.js'
import { basic, startAuthServer } from '../auth/auth-server.js'

const API = '/_wharf/v1/repositories'
const PASSWORDS = { alice: 'alice-Secret-1', bob: 'bob-Secret-2' }
const RULES = [
  { repositories: '**', users: ['alice'], actions: ['pull', 'push', 'delete'] },
  { repositories: 'team/*', users: ['bob'], actions: ['pull'] },
  { repositories: 'team/b', users: ['bob'], actions: ['push'] },
]

class Client extends RegistryClient {
  constructor(base: string, readonly authorization: string | undefined) { super(base) }
  override request(path: string, options: RequestOptions = {}): Promise<HttpResponse> {
    return super.request(path, { ...options, headers: { ...(this.authorization !== undefined ? { authorization: this.authorization } : {}), ...options.headers } })
  }
}

interface Repos { total: number; next?: string; repositories: Array<{ name: string }> }

function errorCode(res: HttpResponse): string | undefined {
  return res.json<{ errors?: Array<{ code: string }> }>().errors?.[0]?.code
}

t.test('what a user may pull, and what they may do', async (t) => {
  const server = await startAuthServer(t, { users: PASSWORDS, auth: { rules: RULES, throttle: { failures: 1000, windowSeconds: 60 } } })
  const alice = new Client(server.url, basic('alice', PASSWORDS.alice))
  const bob = new Client(server.url, basic('bob', PASSWORDS.bob))
  const anonymous = new Client(server.url, undefined)
  const images = new Map<string, string>()
  for (const name of ['team/a', 'team/b', 'team/deep/c', 'other/d']) images.set(name, (await alice.pushImage(name, { tag: 'latest' })).manifest.digest)

  const all = await alice.getJson<Repos>(API)
  t.same(all.repositories.map((r) => r.name), ['other/d', 'team/a', 'team/b', 'team/deep/c'])
  t.equal(all.total, 4)

  const bobs = await bob.getJson<Repos>(API)
  t.same(bobs.repositories.map((r) => r.name), ['team/a', 'team/b'], 'team/* matches one level only')
  t.equal(bobs.total, 2)
  const first = await bob.getJson<Repos>(`${API}?n=1`)
  t.same(first.repositories.map((r) => r.name), ['team/a'])
  t.equal(first.total, 2)
  const second = await bob.getJson<Repos>(`${API}?n=1&cursor=${encodeURIComponent(first.next!)}`)
  t.same(second.repositories.map((r) => r.name), ['team/b'])
  t.notOk('next' in second)
  const filtered = await bob.getJson<Repos>(`${API}?filter=d`)
  t.same(filtered, { repositories: [], total: 0 }, 'the filter applies to what the caller may see only')
  const catalog = await bob.getJson<{ repositories: string[] }>('/v2/_catalog')
  t.same(catalog.repositories, bobs.repositories.map((r) => r.name), 'the same repositories as the catalog')

  t.same((await bob.getJson<{ can: unknown }>(`${API}/team/a/tags`)).can, { pull: true, push: false, delete: false })
  t.same((await bob.getJson<{ can: unknown }>(`${API}/team/b/tags`)).can, { pull: true, push: true, delete: false })
  t.same((await alice.getJson<{ can: unknown }>(`${API}/team/a/manifests/${images.get('team/a')}`)).can, { pull: true, push: true, delete: true })

  for (const path of [`${API}/other/d/tags`, `${API}/other/d/manifests/${images.get('other/d')}`, `${API}/other/d/delete-preview?tag=latest`]) {
    const res = await bob.get(path)
    t.equal(res.status, 403, `bob may not read ${path}`)
    t.equal(errorCode(res), 'DENIED')
  }
  const anonymousList = await anonymous.getJson<Repos>(API)
  t.same(anonymousList, { repositories: [], total: 0 }, 'anonymous callers see nothing without anonymous rules')
  const anonymousTags = await anonymous.get(`${API}/team/a/tags`)
  t.equal(anonymousTags.status, 401)
  t.equal(errorCode(anonymousTags), 'UNAUTHORIZED')
  t.equal((await bob.get('/_wharf/v1/gc')).status, 403, 'the GC status is an administrator\'s')
})
