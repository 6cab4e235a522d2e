/**
 * Property-based tests (fast-check) of the parsers: names, tags, references, digests, ranges,
 * manifests. Seed: WHARF_PROPERTY_SEED (printed); runs: WHARF_PROPERTY_RUNS (default 2000).
 */
import fc from 'fast-check'
import type { Test } from 'tap'
import t from 'tap'
import { isRegistryError } from '../../src/errors/registry-error.js'
import { digestAlgorithm, digestHex, digestOf, isDigest, parseDigest } from '../../src/oci/digest.js'
import { parseManifest } from '../../src/oci/manifest.js'
import { MediaTypes } from '../../src/oci/media-types.js'
import { isRepoName, isTag, parseReference, parseRepoName } from '../../src/oci/names.js'
import { parseContentRange, parseRangeHeader } from '../../src/oci/range.js'
import { printFigures } from './harness.js'

const seed = process.env.WHARF_PROPERTY_SEED !== undefined ? Number(process.env.WHARF_PROPERTY_SEED) : Date.now() % 2 ** 31
const numRuns = Number(process.env.WHARF_PROPERTY_RUNS ?? 2000)
t.comment(`property seed ${seed} (WHARF_PROPERTY_SEED=${seed})`)
const params = { seed, numRuns }
let properties = 0
let cases = 0
/** Runs a property and asserts it held, naming the counterexample when it did not. */
const check = <T>(t: Test, prop: fc.IPropertyWithHooks<T>, runs = numRuns): void => {
  properties++
  cases += runs
  const details = fc.check(prop as fc.IProperty<T>, { ...params, numRuns: runs })
  t.notOk(details.failed, details.failed
    ? `property failed after ${details.numRuns} runs: counterexample ${fc.stringify(details.counterexample)} (${String(details.errorInstance ?? '')})`
    : `property held for ${details.numRuns} cases`)
}

// The distribution-spec grammar, written independently of src/oci/names.ts: components of
// [a-z0-9]+ joined by separators ".", "_", "__" or one or more "-", separated by "/".
const alnum = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split(''))
const alnumRun = fc.array(alnum, { minLength: 1, maxLength: 6 }).map((a) => a.join(''))
const separator = fc.oneof(fc.constant('.'), fc.constant('_'), fc.constant('__'), fc.integer({ min: 1, max: 3 }).map((n) => '-'.repeat(n)))
const component = fc.tuple(alnumRun, fc.array(fc.tuple(separator, alnumRun), { maxLength: 3 }))
  .map(([head, rest]) => head + rest.map(([s, r]) => s + r).join(''))
const grammarName = fc.array(component, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/'))

/** Reference recogniser by hand (no regex): the language of the grammar, any length. */
function inGrammar(name: string): boolean {
  if (name === '') return false
  return name.split('/').every((c) => {
    let i = 0
    const isAl = (ch: string | undefined): boolean => ch !== undefined && /[a-z0-9]/.test(ch)
    if (!isAl(c[i])) return false
    while (isAl(c[i])) i++
    while (i < c.length) {
      if (c[i] === '.') i++
      else if (c[i] === '_') { i++; if (c[i] === '_') i++ }
      else if (c[i] === '-') { while (c[i] === '-') i++ }
      else return false
      if (!isAl(c[i])) return false
      while (isAl(c[i])) i++
    }
    return true
  })
}

const nameAlphabet = fc.constantFrom(...'ab0-._/A%:@ '.split(''))
const nearName = fc.oneof(
  grammarName,
  fc.array(nameAlphabet, { maxLength: 30 }).map((a) => a.join('')),
  grammarName.chain((n) => fc.tuple(fc.nat(n.length), nameAlphabet).map(([i, ch]) => n.slice(0, i) + ch + n.slice(i))),
  fc.string({ maxLength: 40 }),
)

t.test('parseRepoName accepts exactly the grammar, within 255 characters', async (t) => {
  check(t, fc.property(grammarName, (name) => isRepoName(name) === (name.length <= 255)))
  check(t, fc.property(nearName, (name) => isRepoName(name) === (inGrammar(name) && name.length <= 255)))
  check(t, fc.property(fc.integer({ min: 250, max: 300 }), (len) => {
    const name = `${'a/'.repeat(Math.floor((len - 1) / 2))}a`.slice(0, len).replace(/\/$/, 'b')
    return isRepoName(name) === (name.length <= 255 && inGrammar(name))
  }), 200)
  check(t, fc.property(nearName, (name) => {
    try { return parseRepoName(name) === name && isRepoName(name) } catch (err) { return isRegistryError(err) && err.code === 'NAME_INVALID' && !isRepoName(name) }
  }))
})

t.test('tags and references', async (t) => {
  const tagChar = fc.constantFrom(...'aZ09_.-'.split(''))
  const validTag = fc.tuple(fc.constantFrom(...'aZ0_'.split('')), fc.array(tagChar, { maxLength: 127 })).map(([h, r]) => h + r.join(''))
  check(t, fc.property(validTag, (tag) => isTag(tag) && parseReference(tag).tag === tag))
  check(t, fc.property(fc.string({ maxLength: 140 }), (s) => {
    const expected = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(s)
    return isTag(s) === expected
  }))
  check(t, fc.property(fc.string({ maxLength: 200 }), (s) => {
    try {
      const ref = parseReference(s)
      return ref.digest !== undefined ? isDigest(s) : isTag(s)
    } catch (err) {
      return isRegistryError(err) && (err.code === 'TAG_INVALID' || err.code === 'DIGEST_INVALID')
    }
  }))
})

t.test('digests round-trip and nothing else parses', async (t) => {
  check(t, fc.property(fc.uint8Array({ maxLength: 256 }), fc.constantFrom('sha256', 'sha512') as fc.Arbitrary<'sha256' | 'sha512'>, (bytes, alg) => {
    const d = digestOf(bytes, alg)
    return parseDigest(d) === d && digestAlgorithm(d) === alg && `${alg}:${digestHex(d)}` === d && digestHex(d).length === (alg === 'sha256' ? 64 : 128)
  }))
  const hexString = (n: number): fc.Arbitrary<string> => fc.array(fc.constantFrom(...'0123456789abcdefABCDEFg'.split('')), { minLength: n, maxLength: n }).map((a) => a.join(''))
  const candidate = fc.oneof(
    fc.tuple(fc.constantFrom('sha256', 'sha512', 'SHA256', 'md5', 'sha384', ''), fc.constantFrom(':', '', '::'), fc.integer({ min: 0, max: 130 }).chain(hexString)).map(([a, s, h]) => a + s + h),
    fc.string({ maxLength: 140 }),
  )
  check(t, fc.property(candidate, (s) => {
    const expected = /^sha256:[a-f0-9]{64}$/.test(s) || /^sha512:[a-f0-9]{128}$/.test(s)
    let parsed: boolean
    try { parseDigest(s); parsed = true } catch (err) { parsed = false; if (!isRegistryError(err) || err.code !== 'DIGEST_INVALID') return false }
    return parsed === expected && isDigest(s) === expected
  }))
})

t.test('ranges never leave their bounds', async (t) => {
  const num = fc.oneof(fc.nat(1000), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER), fc.bigInt({ min: 0n, max: 10n ** 16n }).map(String))
  const rangeText = fc.oneof(
    fc.tuple(fc.constantFrom('', 'bytes=', 'bytes ', ' bytes='), fc.option(num, { nil: undefined }), fc.option(num, { nil: undefined }), fc.constantFrom('', '/*', '/100', '/x', ',0-1'))
      .map(([p, a, b, s]) => `${p}${a ?? ''}-${b ?? ''}${s}`),
    fc.string({ maxLength: 40 }),
  )
  check(t, fc.property(rangeText, fc.nat(1_000_000), (header, size) => {
    const r = parseRangeHeader(header, size)
    if (r.kind !== 'range') return true
    return Number.isSafeInteger(r.range.start) && Number.isSafeInteger(r.range.end) && r.range.start >= 0 && r.range.start <= r.range.end && r.range.end <= size - 1
  }))
  check(t, fc.property(rangeText, (header) => {
    const r = parseContentRange(header)
    return r === undefined || (Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.start >= 0 && r.start <= r.end)
  }))
  check(t, fc.property(fc.nat(1e9), fc.nat(1e9), (a, b) => {
    const [start, end] = a <= b ? [a, b] : [b, a]
    const r = parseContentRange(`${start}-${end}`)
    return r !== undefined && r.start === start && r.end === end
  }))
})

t.test('parseManifest throws nothing but MANIFEST_INVALID, and accepts what it should', async (t) => {
  const onlyInvalid = (body: Buffer, contentType: string | undefined): boolean => {
    try {
      const m = parseManifest(body, contentType)
      return typeof m.mediaType === 'string' && Array.isArray(m.references) && m.references.every((r) => isDigest(r.digest) && Number.isSafeInteger(r.size) && r.size >= 0)
    } catch (err) {
      return isRegistryError(err) && err.code === 'MANIFEST_INVALID'
    }
  }
  const contentType = fc.option(fc.constantFrom(...Object.values(MediaTypes), 'application/json', 'text/plain; charset=utf-8', ''), { nil: undefined })
  check(t, fc.property(fc.uint8Array({ maxLength: 300 }), contentType, (bytes, ct) => onlyInvalid(Buffer.from(bytes), ct)))
  check(t, fc.property(fc.jsonValue({ maxDepth: 6 }), contentType, (value, ct) => onlyInvalid(Buffer.from(JSON.stringify(value)), ct)))
  // Manifest-shaped documents with arbitrary values in every field.
  const anything = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined))
  const descriptorLike = fc.record({
    mediaType: fc.oneof(fc.constantFrom(MediaTypes.ociManifest, 'application/vnd.oci.image.layer.v1.tar'), anything),
    digest: fc.oneof(fc.uint8Array({ maxLength: 8 }).map((b) => digestOf(b)), anything),
    size: fc.oneof(fc.nat(), fc.integer(), fc.double(), anything),
    annotations: fc.oneof(fc.dictionary(fc.string(), fc.string()), anything),
    urls: fc.oneof(fc.array(fc.string()), anything),
    platform: anything,
  }, { requiredKeys: [] })
  const documentLike = fc.record({
    schemaVersion: fc.oneof(fc.constant(2), anything),
    mediaType: fc.oneof(fc.constantFrom(...Object.values(MediaTypes)), anything),
    config: fc.oneof(descriptorLike, anything),
    layers: fc.oneof(fc.array(descriptorLike, { maxLength: 3 }), anything),
    manifests: fc.oneof(fc.array(descriptorLike, { maxLength: 3 }), anything),
    subject: fc.oneof(descriptorLike, anything),
    annotations: fc.oneof(fc.dictionary(fc.string(), fc.string()), anything),
    artifactType: anything,
  }, { requiredKeys: [] })
  check(t, fc.property(documentLike, contentType, (document, ct) => onlyInvalid(Buffer.from(JSON.stringify(document)), ct)))
  // A well-formed image manifest is always accepted, its references in order.
  const goodDescriptor = fc.uint8Array({ maxLength: 8 }).map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(b), size: b.length }))
  check(t, fc.property(goodDescriptor, fc.array(goodDescriptor, { maxLength: 5 }), (config, layers) => {
    const m = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers })), MediaTypes.ociManifest)
    return m.references.length === layers.length + 1 && m.references.map((r) => r.digest).join() === [config, ...layers].map((d) => d.digest).join()
  }))
})

t.teardown(() => { printFigures('properties', { seed, properties, cases }) })
