import t from 'tap'
import { bearerChallenge, challengeSettingsFrom } from '../../src/http/auth-challenge.js'
import { accessOf, accessOfPath } from '../../src/http/access-table.js'
import { DEFAULT_TOKEN } from '../../src/config/auth-config.js'
import type { Need } from '../../src/access/scope.js'
import type { RepoName } from '../../src/oci/names.js'

const pushNeeds: Need[] = [
  { resource: { type: 'repository', name: 'team/app' }, action: 'pull' },
  { resource: { type: 'repository', name: 'team/app' }, action: 'push' },
]

t.test('the challenge: realm from the Host header by default, service, scope of every need, error', async (t) => {
  const own = challengeSettingsFrom({ token: DEFAULT_TOKEN })
  t.equal(bearerChallenge(own, { scheme: 'http', host: 'reg.lan:5000' }, pushNeeds),
    'Bearer realm="http://reg.lan:5000/token",service="wharf",scope="repository:team/app:pull,push"')
  t.equal(bearerChallenge(own, { scheme: 'https', host: '[::1]:443' }, [], 'invalid_token'), 'Bearer realm="https://[::1]:443/token",service="wharf",error="invalid_token"')
  const twoRepos: Need[] = [...pushNeeds, { resource: { type: 'repository', name: 'lib/base' }, action: 'pull' }]
  t.equal(bearerChallenge(own, { scheme: 'http', host: 'h' }, twoRepos, 'insufficient_scope'),
    'Bearer realm="http://h/token",service="wharf",scope="repository:team/app:pull,push repository:lib/base:pull",error="insufficient_scope"')
  t.equal(bearerChallenge(own, { scheme: 'http', host: 'evil"host' }, []), 'Bearer realm="http://localhost/token",service="wharf"', 'a Host that cannot be quoted is not echoed')
  t.equal(bearerChallenge(own, { scheme: 'http', host: undefined }, []), 'Bearer realm="http://localhost/token",service="wharf"')
  const configured = challengeSettingsFrom({ token: { ...DEFAULT_TOKEN, realm: 'https://auth.example/token', service: 'reg' } })
  t.equal(bearerChallenge(configured, { scheme: 'http', host: 'h' }, []), 'Bearer realm="https://auth.example/token",service="reg"')
  const trusted = challengeSettingsFrom({ token: DEFAULT_TOKEN, trust: { realm: 'https://idp.example/auth', service: 'registry.example' } })
  t.equal(bearerChallenge(trusted, { scheme: 'http', host: 'h' }, pushNeeds), 'Bearer realm="https://idp.example/auth",service="registry.example",scope="repository:team/app:pull,push"', "a trusted issuer's realm and service")
})

t.test('the access table', async (t) => {
  const name = 'team/app' as RepoName
  const actions = (method: string, url: string): string => {
    const [path, query] = url.split('?') as [string, string | undefined]
    const access = accessOfPath(method, path, query ?? '')
    if (access === undefined) return 'not guarded'
    const words = (needs: readonly Need[]): string => needs.map((n) => `${n.resource.type}:${n.resource.name}:${n.action}`).join(' ')
    const also = access.alsoAsks !== undefined ? ` (challenge also: ${words(access.alsoAsks)})` : ''
    return `${access.login ? 'login ' : ''}${words(access.needs)}${also}`.trim()
  }
  const table: Array<[string, string, string]> = [
    ['GET', '/v2/', 'login'],
    ['GET', '/v2', 'login'],
    ['GET', '/v2/_catalog', 'registry:catalog:*'],
    ['GET', '/v2/team/app/tags/list', 'repository:team/app:pull'],
    ['HEAD', '/v2/team/app/manifests/v1', 'repository:team/app:pull'],
    ['PUT', '/v2/team/app/manifests/v1', 'repository:team/app:pull repository:team/app:push'],
    ['DELETE', '/v2/team/app/manifests/v1', 'repository:team/app:delete'],
    ['GET', '/v2/team/app/blobs/sha256:abc', 'repository:team/app:pull'],
    ['DELETE', '/v2/team/app/blobs/sha256:abc', 'repository:team/app:delete'],
    ['POST', '/v2/team/app/blobs/uploads/', 'repository:team/app:pull repository:team/app:push'],
    ['POST', '/v2/team/app/blobs/uploads/?mount=sha256:abc&from=other/repo', 'repository:team/app:pull repository:team/app:push (challenge also: repository:other/repo:pull)'],
    ['POST', '/v2/team/app/blobs/uploads/?mount=sha256:abc', 'repository:team/app:pull repository:team/app:push'],
    ['PATCH', '/v2/team/app/blobs/uploads/id', 'repository:team/app:pull repository:team/app:push'],
    ['PUT', '/v2/team/app/blobs/uploads/id', 'repository:team/app:pull repository:team/app:push'],
    ['GET', '/v2/team/app/blobs/uploads/id', 'repository:team/app:push'],
    ['DELETE', '/v2/team/app/blobs/uploads/id', 'repository:team/app:push'],
    ['GET', '/v2/team/app/referrers/sha256:abc', 'repository:team/app:pull'],
    ['POST', '/v2/team/app/manifests/v1', 'repository:team/app:pull'],
    ['GET', '/v2/team/app/nothing', ''],
    ['POST', '/_wharf/v1/gc', 'registry:admin:*'],
    ['GET', '/_wharf/v1/unknown', 'registry:admin:*'],
    ['GET', '/token', 'not guarded'],
    ['GET', '/', 'not guarded'],
  ]
  for (const [method, path, expected] of table) t.equal(actions(method, path), expected, `${method} ${path}`)
  t.same(accessOf({ kind: 'tags', name }, 'GET').needs, [{ resource: { type: 'repository', name }, action: 'pull' }])
})
