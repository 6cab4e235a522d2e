import t from 'tap'
import { parseV2Path, splitUrl } from '../../src/http/v2-path.js'
import { D256, thrownCode } from './helpers.js'

t.test('every route', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['/v2', { kind: 'base' }],
    ['/v2/', { kind: 'base' }],
    ['/v2/_catalog', { kind: 'catalog' }],
    ['/v2/foo/tags/list', { kind: 'tags', name: 'foo' }],
    ['/v2/foo/manifests/latest', { kind: 'manifest', name: 'foo', reference: 'latest' }],
    [`/v2/foo/manifests/${D256}`, { kind: 'manifest', name: 'foo', reference: D256 }],
    [`/v2/foo/blobs/${D256}`, { kind: 'blob', name: 'foo', digest: D256 }],
    ['/v2/foo/blobs/uploads/', { kind: 'uploads', name: 'foo' }],
    ['/v2/foo/blobs/uploads', { kind: 'uploads', name: 'foo' }],
    ['/v2/foo/blobs/uploads/0b1c-uuid', { kind: 'upload', name: 'foo', id: '0b1c-uuid' }],
    [`/v2/foo/referrers/${D256}`, { kind: 'referrers', name: 'foo', digest: D256 }],
  ]
  for (const [path, expected] of cases) t.same(parseV2Path(path), expected, path)
})

t.test('names with slashes and names with route words in them', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['/v2/a/b/c/tags/list', { kind: 'tags', name: 'a/b/c' }],
    ['/v2/library/ubuntu/manifests/22.04', { kind: 'manifest', name: 'library/ubuntu', reference: '22.04' }],
    ['/v2/tags/list/tags/list', { kind: 'tags', name: 'tags/list' }],
    ['/v2/blobs/blobs/sha256:x', { kind: 'blob', name: 'blobs', digest: 'sha256:x' }],
    ['/v2/a/blobs/b/blobs/sha256:x', { kind: 'blob', name: 'a/blobs/b', digest: 'sha256:x' }],
    ['/v2/manifests/manifests/latest', { kind: 'manifest', name: 'manifests', reference: 'latest' }],
    ['/v2/a/manifests/b/manifests/c', { kind: 'manifest', name: 'a/manifests/b', reference: 'c' }],
    ['/v2/a/manifests/tags/list', { kind: 'tags', name: 'a/manifests' }],
    ['/v2/a/blobs/uploads/blobs/uploads/', { kind: 'uploads', name: 'a/blobs/uploads' }],
    ['/v2/a/blobs/uploads/blobs/uploads/id-1', { kind: 'upload', name: 'a/blobs/uploads', id: 'id-1' }],
    ['/v2/x/referrers/blobs/sha256:y', { kind: 'blob', name: 'x/referrers', digest: 'sha256:y' }],
    ['/v2/x/blobs/referrers/sha256:y', { kind: 'referrers', name: 'x/blobs', digest: 'sha256:y' }],
    ['/v2/_catalog/tags/list', 'NAME_INVALID'],
    ['/v2/uploads/blobs/uploads/', { kind: 'uploads', name: 'uploads' }],
  ]
  for (const [path, expected] of cases) {
    if (typeof expected === 'string') t.equal(thrownCode(() => parseV2Path(path)), expected, path)
    else t.same(parseV2Path(path), expected, path)
  }
})

t.test('the reference, digest and id stay encoded (the app decodes them)', async (t) => {
  t.same(parseV2Path('/v2/foo/manifests/sha256%3Aabc'), { kind: 'manifest', name: 'foo', reference: 'sha256%3Aabc' })
  t.same(parseV2Path('/v2/foo/blobs/uploads/..%2F..%2Fx'), { kind: 'upload', name: 'foo', id: '..%2F..%2Fx' })
})

t.test('paths of no endpoint are unknown', async (t) => {
  for (const path of ['/', '/v1/', '/v2x', '/v3/foo/tags/list', '/v2/foo', '/v2/foo/bar', '/v2/foo/tags', '/v2/foo/tags/list/', '/v2/foo/manifests/',
    '/v2/foo/blobs/', '/v2/foo/referrers/', '/v2/foo/blobs/uploads/id/extra', '/v2/a/_catalog', '/v2/_catalog/', '/v2/tags/list', '/v2/manifests/latest']) {
    t.same(parseV2Path(path), { kind: 'unknown' }, path)
  }
})

t.test('names outside the grammar are NAME_INVALID, including encoded tricks', async (t) => {
  const name255 = ['a'.repeat(127), 'b'.repeat(127)].join('/')
  t.equal(name255.length, 255)
  t.same(parseV2Path(`/v2/${name255}/tags/list`), { kind: 'tags', name: name255 })
  for (const path of [
    `/v2/${name255}x/tags/list`, '/v2/a%2fb/tags/list', '/v2/a%2Fb/manifests/latest', '/v2/%2e%2e/tags/list', '/v2/a/%2e%2e/b/tags/list',
    '/v2/a/../b/tags/list', '/v2/../tags/list', '/v2/./a/tags/list', '/v2/a//b/tags/list', '/v2//a/tags/list', '/v2//tags/list', '/v2/Foo/tags/list',
    '/v2/a/B/blobs/uploads/', '/v2/a-/blobs/sha256:x', '/v2/a__/manifests/x', '/v2/a___b/manifests/x', '/v2/a%20b/tags/list', '/v2/a%00/tags/list',
    '/v2/a\\b/tags/list', '/v2/a/blobs/uploads/blobs/tags/list/x/../tags/list',
  ]) {
    t.equal(thrownCode(() => parseV2Path(path)), 'NAME_INVALID', path)
  }
})

t.test('splitUrl', async (t) => {
  t.same(splitUrl('/v2/x/tags/list?n=1&last=a'), { path: '/v2/x/tags/list', query: 'n=1&last=a' })
  t.same(splitUrl('/v2/x/tags/list'), { path: '/v2/x/tags/list', query: '' })
  t.same(splitUrl('/v2/x/tags/list?'), { path: '/v2/x/tags/list', query: '' })
  t.same(splitUrl('/v2/x?a=1?b=2'), { path: '/v2/x', query: 'a=1?b=2' })
})
