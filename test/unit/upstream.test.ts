import t from 'tap'
import { accessOfPath } from '../../src/http/access-table.js'
import { parseChallenge, TokenCache, tokenFromAnswer } from '../../src/upstream/upstream-auth.js'

t.test('parseChallenge reads Bearer and Basic challenges as registries send them', async (t) => {
  t.same(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), {
    scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
  })
  t.same(parseChallenge('Basic realm="wharf-reference"'), { scheme: 'basic', params: { realm: 'wharf-reference' } })
  t.same(parseChallenge('Bearer realm=https://x/token, service=reg'), { scheme: 'bearer', params: { realm: 'https://x/token', service: 'reg' } }, 'unquoted values')
  t.same(parseChallenge('Bearer realm="a\\"b"'), { scheme: 'bearer', params: { realm: 'a"b' } }, 'escaped quotes')
  t.equal(parseChallenge(undefined), undefined)
  t.equal(parseChallenge(''), undefined)
})

t.test('tokens are cached per scope until shortly before they expire', async (t) => {
  const cache = new TokenCache()
  cache.set('repository:a:pull', 'tok-a', 300, 0)
  t.equal(cache.get('repository:a:pull', 1000), 'tok-a')
  t.equal(cache.get('repository:b:pull', 1000), undefined, 'another scope')
  t.equal(cache.get('repository:a:pull', 295_000), undefined, 'renewed before expiry')
  cache.set('repository:c:pull', 'tok-c', undefined, 0)
  t.equal(cache.get('repository:c:pull', 45_000), 'tok-c', 'no expires_in: 60 s')
  t.equal(cache.get('repository:c:pull', 55_000), undefined)
  t.same(tokenFromAnswer({ token: 't', expires_in: 120 }), { token: 't', expiresIn: 120 })
  t.same(tokenFromAnswer({ access_token: 'oauth' }), { token: 'oauth' })
  t.equal(tokenFromAnswer({}), undefined)
  t.equal(tokenFromAnswer('nope'), undefined)
})

t.test('a pull with ?ns= of a proxy prefix needs pull on the prefixed name; other ns values and pushes are as they are', async (t) => {
  const isNamespace = (ns: string): boolean => ns === 'docker.io'
  const pull = (name: string) => [{ resource: { type: 'repository', name }, action: 'pull' }]
  t.same(accessOfPath('GET', '/v2/library/alpine/manifests/3', 'ns=docker.io', isNamespace)?.needs, pull('docker.io/library/alpine'))
  t.match(accessOfPath('HEAD', '/v2/library/alpine/blobs/sha256:abc', 'ns=docker.io', isNamespace)?.route, { kind: 'blob', name: 'docker.io/library/alpine' })
  t.same(accessOfPath('GET', '/v2/library/alpine/tags/list', 'ns=docker.io&n=10', isNamespace)?.needs, pull('docker.io/library/alpine'))
  t.same(accessOfPath('GET', '/v2/library/alpine/manifests/3', 'ns=quay.io', isNamespace)?.needs, pull('library/alpine'), 'not a prefix: ignored')
  t.same(accessOfPath('GET', '/v2/library/alpine/manifests/3', '', isNamespace)?.needs, pull('library/alpine'))
  t.match(accessOfPath('PUT', '/v2/library/alpine/manifests/3', 'ns=docker.io', isNamespace)?.route, { name: 'library/alpine' }, 'ns is for pulls only')
})
