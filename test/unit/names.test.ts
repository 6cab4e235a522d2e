import t from 'tap'
import { MAX_NAME_LENGTH, isRepoName, isTag, parseReference, parseRepoName, parseTag } from '../../src/oci/names.js'
import { D256, D512, thrownCode } from './helpers.js'

const name255 = ['a'.repeat(100), 'b'.repeat(100), 'c'.repeat(53)].join('/')

t.test('repository names that follow the distribution-spec grammar', async (t) => {
  t.equal(MAX_NAME_LENGTH, 255)
  t.equal(name255.length, 255)
  const valid = [
    'a', '0', 'ubuntu', 'library/ubuntu', 'a/b/c/d/e/f', 'a.b', 'a_b', 'a__b', 'a-b', 'a--b', 'a---------b',
    'a1.b2_c3__d4-e5', 'x/y.z/a-b/c__d', '9/8/7', 'my-org/my.app', name255, 'blobs', 'manifests/tags', 'a/blobs/uploads',
  ]
  for (const name of valid) {
    t.equal(isRepoName(name), true, name.slice(0, 60))
    t.equal(parseRepoName(name), name)
  }
})

t.test('repository names outside the grammar are NAME_INVALID', async (t) => {
  const cases: Array<[string, string]> = [
    ['', 'empty'],
    [`${name255}c`, '256 characters'],
    ['a'.repeat(256), '256 characters in one component'],
    ['A', 'upper case'],
    ['library/Ubuntu', 'upper case in a component'],
    ['..', 'dot dot'],
    ['a/../b', 'dot dot component'],
    ['a/./b', 'dot component'],
    ['a//b', 'empty component'],
    ['/a', 'leading slash'],
    ['a/', 'trailing slash'],
    ['.a', 'leading dot'],
    ['a.', 'trailing dot'],
    ['_a', 'leading underscore'],
    ['a_', 'trailing underscore'],
    ['-a', 'leading dash'],
    ['a-', 'trailing dash'],
    ['a___b', 'three underscores'],
    ['a..b', 'two dots'],
    ['a._b', 'mixed separators'],
    ['a.-b', 'mixed separators'],
    ['a%2fb', 'percent-encoded slash'],
    ['%2e%2e', 'percent-encoded dots'],
    ['a b', 'space'],
    ['a:b', 'colon'],
    ['a@b', 'at'],
    ['a\\b', 'backslash'],
    ['ü', 'non-ascii'],
    ['a\nb', 'newline'],
  ]
  for (const [name, why] of cases) {
    t.equal(isRepoName(name), false, `isRepoName: ${why}`)
    t.equal(thrownCode(() => parseRepoName(name)), 'NAME_INVALID', why)
  }
})

t.test('tags: up to 128 characters of [A-Za-z0-9_.-], not starting with . or -', async (t) => {
  const valid = ['latest', 'v1.0.0', 'A', '0', '_private', 'Release_2024-01-01', 'x'.repeat(128), 'a.b-c_d', 'sha256']
  for (const tag of valid) {
    t.equal(isTag(tag), true, tag.slice(0, 40))
    t.equal(parseTag(tag), tag)
  }
  const invalid: Array<[string, string]> = [
    ['', 'empty'], ['x'.repeat(129), '129 characters'], ['.hidden', 'leading dot'], ['-x', 'leading dash'],
    ['a:b', 'colon'], ['a/b', 'slash'], ['a b', 'space'], ['é', 'non-ascii'], ['a+b', 'plus'], ['a\n', 'newline'],
  ]
  for (const [tag, why] of invalid) {
    t.equal(isTag(tag), false, `isTag: ${why}`)
    t.equal(thrownCode(() => parseTag(tag)), 'TAG_INVALID', why)
  }
})

t.test('parseReference: digests contain a colon, tags do not', async (t) => {
  t.same(parseReference('latest'), { tag: 'latest' })
  t.same(parseReference('x'.repeat(128)), { tag: 'x'.repeat(128) })
  t.same(parseReference(D256), { digest: D256 })
  t.same(parseReference(D512), { digest: D512 })
  t.equal(thrownCode(() => parseReference('sha256:abc')), 'DIGEST_INVALID', 'short digest')
  t.equal(thrownCode(() => parseReference('latest:1')), 'DIGEST_INVALID', 'a colon makes it a digest')
  t.equal(thrownCode(() => parseReference('x'.repeat(129))), 'TAG_INVALID')
  t.equal(thrownCode(() => parseReference('bad tag')), 'TAG_INVALID')
  t.equal(thrownCode(() => parseReference('')), 'TAG_INVALID')
})
