// Manifests Go clients cannot parse are refused: a UTF-8 byte-order mark, and nesting deeper than
// Go's encoding/json reads (10000 levels; Wharf's limit is MANIFEST_MAX_DEPTH, below it).
import t from 'tap'
import { MANIFEST_MAX_DEPTH, nestsDeeperThan, parseManifest } from '../../src/oci/manifest.js'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const manifest = (extra: string): string =>
  `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:${'1'.repeat(64)}","size":2},"layers":[]${extra}}`
const nested = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`

function refusal(body: Buffer | string): string {
  try {
    parseManifest(Buffer.from(body), OCI_MANIFEST)
    return 'accepted'
  } catch (err) {
    const e = err as { code?: string; detail?: { reason?: string } }
    return `${e.code}: ${e.detail?.reason}`
  }
}

t.test('nestsDeeperThan counts arrays and objects, not brackets inside strings', async (t) => {
  t.equal(nestsDeeperThan('{}', 1), false)
  t.equal(nestsDeeperThan('{"a":[{}]}', 3), false)
  t.equal(nestsDeeperThan('{"a":[{}]}', 2), true)
  t.equal(nestsDeeperThan('[[],[],[[]]]', 3), false, 'siblings do not add up')
  t.equal(nestsDeeperThan('{"a":"[[[[[[{{{{"}', 1), false, 'brackets in a string')
  t.equal(nestsDeeperThan('{"a":"\\"[[[[","b":"\\\\"}', 1), false, 'escaped quotes and backslashes')
  t.equal(nestsDeeperThan(nested(200_000), MANIFEST_MAX_DEPTH), true, '200,000 levels, no stack used')
})

t.test('a UTF-8 byte-order mark is MANIFEST_INVALID', async (t) => {
  t.equal(refusal(manifest('')), 'accepted', 'the manifest itself is fine')
  t.match(refusal(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(manifest(''))])), /^MANIFEST_INVALID: .*byte-order mark/)
})

t.test('nesting: up to MANIFEST_MAX_DEPTH accepted (Go reads 10000), beyond MANIFEST_INVALID', async (t) => {
  t.ok(MANIFEST_MAX_DEPTH < 10000, 'below Go encoding/json\'s limit')
  // The manifest object itself is the first level.
  t.equal(refusal(manifest(`,"x":${nested(MANIFEST_MAX_DEPTH - 1)}`)), 'accepted', `${MANIFEST_MAX_DEPTH} levels`)
  t.match(refusal(manifest(`,"x":${nested(MANIFEST_MAX_DEPTH)}`)), /^MANIFEST_INVALID: .*deeper than/, `${MANIFEST_MAX_DEPTH + 1} levels`)
  t.match(refusal(manifest(`,"x":${nested(200_000)}`)), /^MANIFEST_INVALID: .*deeper than/, '200,000 levels in an unknown field')
  t.match(refusal(manifest(`,"x":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`)), /^MANIFEST_INVALID: .*deeper than/, 'objects too')
})
