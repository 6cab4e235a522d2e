import { createHash } from 'node:crypto'
import t from 'tap'
import { createDigester, digestAlgorithm, digestHex, digestOf, hashing, isDigest, parseDigest, type Digest } from '../../src/oci/digest.js'
import { D256, D512, HEX128, HEX64, thrownCode } from './helpers.js'

t.test('parseDigest accepts sha256 and sha512 of the right length, lower-case hex', async (t) => {
  for (const input of [D256, D512, `sha256:${'0'.repeat(64)}`, `sha512:${'f'.repeat(128)}`]) {
    t.equal(parseDigest(input), input, input.slice(0, 20))
    t.equal(isDigest(input), true)
  }
})

t.test('parseDigest refuses everything else with DIGEST_INVALID', async (t) => {
  const cases: Array<[string, string]> = [
    ['', 'empty'],
    ['sha256', 'no colon'],
    ['sha256:', 'no hex'],
    [`:${HEX64}`, 'no algorithm'],
    [`sha256:${HEX64.slice(1)}`, '63 hex'],
    [`sha256:${HEX64}0`, '65 hex'],
    [`sha256:${HEX64.toUpperCase()}`, 'upper-case hex'],
    [`SHA256:${HEX64}`, 'upper-case algorithm'],
    [`sha512:${HEX64}`, 'sha512 with 64 hex'],
    [`sha256:${HEX128}`, 'sha256 with 128 hex'],
    [`sha384:${'a'.repeat(96)}`, 'sha384 (not verifiable here)'],
    [`md5:${'a'.repeat(32)}`, 'unknown algorithm'],
    [`blake3:${HEX64}`, 'unknown algorithm of the right length'],
    [`sha256+b64u:${HEX64}`, 'algorithm with a component'],
    [`sha256:${HEX64.slice(0, 63)}g`, 'non-hex character'],
    [` ${D256}`, 'leading space'],
    [`${D256}\n`, 'trailing newline'],
    [`${D256}:`, 'extra colon'],
    [`sha256:${HEX64}/x`, 'trailing path'],
  ]
  for (const [input, why] of cases) {
    t.equal(thrownCode(() => parseDigest(input)), 'DIGEST_INVALID', why)
    t.equal(isDigest(input), false, `isDigest: ${why}`)
  }
})

t.test('the error detail carries a bounded copy of the input', async (t) => {
  try {
    parseDigest('x'.repeat(10_000))
    t.fail('should throw')
  } catch (err) {
    const detail = (err as { detail?: { digest?: string } }).detail
    t.equal(detail?.digest?.length, 200)
    t.equal((err as { status?: number }).status, 400)
  }
})

t.test('algorithm, hex and digests of bytes', async (t) => {
  t.equal(digestAlgorithm(D512 as Digest), 'sha512')
  t.equal(digestHex(D256 as Digest), HEX64)
  const data = Buffer.from('hello world')
  t.equal(digestOf(data), `sha256:${createHash('sha256').update(data).digest('hex')}`)
  t.equal(digestOf(data, 'sha512'), `sha512:${createHash('sha512').update(data).digest('hex')}`)
  t.equal(digestOf(Buffer.alloc(0)), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
})

t.test('createDigester and hashing count and hash every chunk once', async (t) => {
  const a = createDigester()
  const b = createDigester('sha512')
  const chunks = [Buffer.from('ab'), Buffer.alloc(0), Buffer.from('cdef')]
  async function* source(): AsyncIterable<Uint8Array> { yield* chunks }
  const seen: Buffer[] = []
  for await (const chunk of hashing(source(), a, b)) seen.push(Buffer.from(chunk))
  t.same(Buffer.concat(seen), Buffer.from('abcdef'), 'passes chunks through unchanged')
  t.equal(a.bytes, 6)
  t.equal(b.bytes, 6)
  t.equal(a.algorithm, 'sha256')
  t.equal(a.digest(), digestOf(Buffer.from('abcdef')))
  t.equal(b.digest(), digestOf(Buffer.from('abcdef'), 'sha512'))
})
