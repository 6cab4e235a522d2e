import t from 'tap'
import { parseManifest, type ParsedManifest } from '../../src/oci/manifest.js'
import { D256, D512, HEX64 } from './helpers.js'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json'
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip'
const DOCKER_FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'

const d = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`
const desc = (mediaType: string, n: number, size = 100, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ mediaType, digest: d(n), size, ...extra })

function parse(document: unknown, contentType?: string): ParsedManifest {
  return parseManifest(Buffer.from(typeof document === 'string' ? document : JSON.stringify(document)), contentType)
}

function invalidReason(document: unknown, contentType?: string): string {
  try {
    parse(document, contentType)
    return 'accepted'
  } catch (err) {
    const e = err as { code?: string; status?: number; detail?: { reason?: string } }
    if (e.code !== 'MANIFEST_INVALID' || e.status !== 400) return `wrong error ${e.code}`
    return e.detail?.reason ?? 'no reason'
  }
}

const ociImage = {
  schemaVersion: 2, mediaType: OCI_MANIFEST,
  config: desc(OCI_CONFIG, 1, 50),
  layers: [desc(OCI_LAYER, 2, 1000), desc('application/vnd.oci.image.layer.v1.tar+zstd', 3, 2000)],
  annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
}

t.test('OCI image manifest', async (t) => {
  const parsed = parse(ociImage, OCI_MANIFEST)
  t.equal(parsed.mediaType, OCI_MANIFEST)
  t.equal(parsed.isIndex, false)
  t.equal(parsed.artifactType, OCI_CONFIG, 'artifactType falls back to the config media type')
  t.same(parsed.annotations, ociImage.annotations)
  t.equal(parsed.subject, undefined)
  t.same(parsed.references, [
    { digest: d(1), size: 50, mediaType: OCI_CONFIG, kind: 'config' },
    { digest: d(2), size: 1000, mediaType: OCI_LAYER, kind: 'layer' },
    { digest: d(3), size: 2000, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', kind: 'layer' },
  ])
  t.equal(parse(ociImage, `${OCI_MANIFEST}; charset=utf-8`).mediaType, OCI_MANIFEST, 'Content-Type parameters are ignored')
  t.equal(parse(ociImage, 'Application/VND.oci.image.manifest.v1+JSON').mediaType, OCI_MANIFEST, 'Content-Type is case-insensitive')
  t.equal(parse(ociImage, undefined).mediaType, OCI_MANIFEST, 'no Content-Type')
  t.equal(parse(ociImage, 'application/json').mediaType, OCI_MANIFEST, 'a generic Content-Type')
  t.equal(parse(ociImage, 'application/octet-stream').mediaType, OCI_MANIFEST)
})

t.test('OCI manifest without layers is accepted (layers default to none)', async (t) => {
  const parsed = parse({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_EMPTY, 1, 2) }, OCI_MANIFEST)
  t.same(parsed.references.map((r) => r.kind), ['config'])
})

t.test('artifacts: artifactType wins over the config media type; custom config types', async (t) => {
  const artifact = parse({
    schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.sbom.v1+json',
    config: desc(OCI_EMPTY, 1, 2), layers: [desc('application/spdx+json', 2, 300)],
  }, OCI_MANIFEST)
  t.equal(artifact.artifactType, 'application/vnd.example.sbom.v1+json')
  const custom = parse({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc('application/vnd.cncf.helm.config.v1+json', 1, 20), layers: [desc('application/vnd.cncf.helm.chart.content.v1.tar+gzip', 2)] }, OCI_MANIFEST)
  t.equal(custom.artifactType, 'application/vnd.cncf.helm.config.v1+json', 'config media type fallback')
  t.same(custom.references.map((r) => r.kind), ['config', 'layer'])
  const emptyArtifactType = parse({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: '', config: desc(OCI_CONFIG, 1), layers: [] }, OCI_MANIFEST)
  t.equal(emptyArtifactType.artifactType, OCI_CONFIG, 'an empty artifactType falls back too')
  t.equal(invalidReason({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 5, config: desc(OCI_CONFIG, 1), layers: [] }), 'artifactType must be a string')
})

t.test('subject', async (t) => {
  const parsed = parse({ ...ociImage, subject: desc(OCI_MANIFEST, 9, 777) }, OCI_MANIFEST)
  t.same(parsed.subject, { mediaType: OCI_MANIFEST, digest: d(9), size: 777 })
  t.notOk(parsed.references.some((r) => r.digest === d(9)), 'the subject is not a reference (it may not exist yet)')
  t.match(invalidReason({ ...ociImage, subject: { mediaType: OCI_MANIFEST, digest: 'sha256:nope', size: 1 } }), /subject\.digest/)
  t.match(invalidReason({ ...ociImage, subject: 'sha256:abc' }), /subject must be a descriptor/)
  const index = parse({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], subject: desc(OCI_MANIFEST, 8) }, OCI_INDEX)
  t.equal(index.subject?.digest, d(8), 'an index may have a subject too')
})

t.test('OCI index: manifest entries and BuildKit cache blobs', async (t) => {
  const parsed = parse({
    schemaVersion: 2, mediaType: OCI_INDEX,
    manifests: [
      desc(OCI_MANIFEST, 1, 500, { platform: { architecture: 'amd64', os: 'linux' } }),
      desc(OCI_INDEX, 2, 300),
      desc(DOCKER_MANIFEST, 3, 400),
      desc(OCI_LAYER, 4, 9999, { annotations: { 'buildkit/createdat': 'x' } }),
      desc('application/vnd.buildkit.cacheconfig.v0', 5, 123),
    ],
    annotations: { a: 'b' },
  }, OCI_INDEX)
  t.equal(parsed.isIndex, true)
  t.equal(parsed.mediaType, OCI_INDEX)
  t.equal(parsed.artifactType, undefined, 'an index has no config fallback')
  t.same(parsed.annotations, { a: 'b' })
  t.same(parsed.references.map((r) => [r.digest, r.kind]), [[d(1), 'manifest'], [d(2), 'manifest'], [d(3), 'manifest'], [d(4), 'blob'], [d(5), 'blob']])
  t.equal(parse({ schemaVersion: 2, mediaType: OCI_INDEX, artifactType: 'application/x-art', manifests: [] }, OCI_INDEX).artifactType, 'application/x-art')
  t.equal(invalidReason({ schemaVersion: 2, mediaType: OCI_INDEX }, OCI_INDEX), 'manifests must be an array')
  t.equal(invalidReason({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: {} }, OCI_INDEX), 'manifests must be an array')
})

t.test('Docker schema2 manifest and manifest list', async (t) => {
  const manifest = parse({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: desc(DOCKER_CONFIG, 1, 1500), layers: [desc(DOCKER_LAYER, 2, 3000)] }, DOCKER_MANIFEST)
  t.equal(manifest.mediaType, DOCKER_MANIFEST)
  t.equal(manifest.isIndex, false)
  t.equal(manifest.artifactType, DOCKER_CONFIG)
  t.same(manifest.references.map((r) => r.kind), ['config', 'layer'])
  const list = parse({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [desc(DOCKER_MANIFEST, 1, 500, { platform: { architecture: 'arm64', os: 'linux' } })] }, DOCKER_LIST)
  t.equal(list.mediaType, DOCKER_LIST)
  t.equal(list.isIndex, true)
  t.same(list.references, [{ digest: d(1), size: 500, mediaType: DOCKER_MANIFEST, kind: 'manifest' }])
  t.equal(invalidReason({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: desc(DOCKER_CONFIG, 1) }, DOCKER_MANIFEST), 'layers must be an array', 'Docker manifests need layers')
})

t.test('foreign layers with urls are external, other layers are not', async (t) => {
  const parsed = parse({
    schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: desc(DOCKER_CONFIG, 1),
    layers: [
      desc(DOCKER_FOREIGN, 2, 5000, { urls: ['https://mcr.microsoft.com/v2/windows/blobs/x'] }),
      desc(DOCKER_LAYER, 3, 10, { urls: [] }),
      desc(DOCKER_LAYER, 4, 10),
    ],
  }, DOCKER_MANIFEST)
  t.same(parsed.references.map((r) => r.kind), ['config', 'external', 'layer', 'layer'])
  t.match(invalidReason({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1), layers: [desc(OCI_LAYER, 2, 1, { urls: 'https://x' })] }), /urls must be an array of strings/)
  t.match(invalidReason({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1), layers: [desc(OCI_LAYER, 2, 1, { urls: [1] })] }), /urls must be an array of strings/)
})

t.test('sha512 digests in descriptors', async (t) => {
  const parsed = parse({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: D512, size: 1 }, layers: [] }, OCI_MANIFEST)
  t.equal(parsed.references[0]?.digest, D512)
})

t.test('the media type comes from the body, else Content-Type, else the shape', async (t) => {
  const noType = { schemaVersion: 2, config: desc(OCI_CONFIG, 1), layers: [desc(OCI_LAYER, 2)] }
  t.equal(parse(noType, DOCKER_MANIFEST).mediaType, DOCKER_MANIFEST, 'Content-Type names it')
  t.equal(parse(noType, undefined).mediaType, OCI_MANIFEST, 'shape of an image manifest')
  t.equal(parse(noType, 'application/json').mediaType, OCI_MANIFEST, 'generic Content-Type: shape')
  t.equal(parse({ schemaVersion: 2, manifests: [] }, undefined).mediaType, OCI_INDEX, 'shape of an index')
  t.equal(parse({ schemaVersion: 2, manifests: [] }, DOCKER_LIST).mediaType, DOCKER_LIST)
  t.equal(parse({ schemaVersion: 2, mediaType: '', manifests: [] }, OCI_INDEX).mediaType, OCI_INDEX, 'an empty mediaType counts as absent')
  t.match(invalidReason({ schemaVersion: 2 }, undefined), /unknown manifest media type/, 'neither')
  t.match(invalidReason({ schemaVersion: 2, layers: [] }, 'application/json'), /unknown manifest media type/)
})

t.test('Content-Type that names another manifest type than the body is invalid', async (t) => {
  t.match(invalidReason(ociImage, DOCKER_MANIFEST), /does not match/)
  t.match(invalidReason(ociImage, OCI_INDEX), /does not match/)
  t.match(invalidReason({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }, OCI_MANIFEST), /does not match/)
  t.match(invalidReason({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [] }, OCI_INDEX), /does not match/)
})

t.test('a body whose mediaType contradicts its shape is invalid', async (t) => {
  t.match(invalidReason({ schemaVersion: 2, mediaType: OCI_MANIFEST, manifests: [], config: desc(OCI_CONFIG, 1), layers: [] }, OCI_MANIFEST), /no "manifests" field/)
  t.match(invalidReason({ schemaVersion: 2, mediaType: OCI_MANIFEST, manifests: [] }, OCI_MANIFEST), /manifests|config/)
  t.match(invalidReason({ schemaVersion: 2, mediaType: OCI_INDEX, config: desc(OCI_CONFIG, 1), layers: [] }, OCI_INDEX), /config|manifests/)
})

t.test('unknown media types: stored as given only when the body has a known shape', async (t) => {
  const custom = 'application/vnd.example.custom.manifest.v1+json'
  const image = parse({ schemaVersion: 2, mediaType: custom, config: desc(OCI_CONFIG, 1), layers: [desc(OCI_LAYER, 2)] }, custom)
  t.equal(image.mediaType, custom)
  t.equal(image.isIndex, false)
  const index = parse({ schemaVersion: 2, mediaType: custom, manifests: [desc(OCI_MANIFEST, 1)] }, custom)
  t.equal(index.isIndex, true)
  t.match(invalidReason({ schemaVersion: 2, mediaType: custom, foo: 'bar' }, custom), /unsupported manifest media type/)
  t.match(invalidReason({ schemaVersion: 2, mediaType: custom, config: desc(OCI_CONFIG, 1) }, custom), /unsupported manifest media type/, 'config without layers is not a known shape')
})

t.test('schema1 is refused however it is announced', async (t) => {
  const schema1 = { schemaVersion: 1, name: 'library/x', tag: 'latest', architecture: 'amd64', fsLayers: [], history: [] }
  t.match(invalidReason(schema1, 'application/vnd.docker.distribution.manifest.v1+json'), /schema1/)
  t.match(invalidReason(schema1, 'application/vnd.docker.distribution.manifest.v1+prettyjws'), /schema1/)
  t.match(invalidReason(schema1, undefined), /schema1/)
  t.match(invalidReason({ ...ociImage }, 'application/vnd.docker.distribution.manifest.v1+prettyjws'), /schema1/, 'schema1 Content-Type on a schema2 body')
  t.match(invalidReason({ ...ociImage, mediaType: 'application/vnd.docker.distribution.manifest.v1+json' }, undefined), /schema1/)
})

t.test('malformed documents', async (t) => {
  const cases: Array<[unknown, RegExp, string]> = [
    ['{', /not valid JSON/, 'truncated JSON'],
    ['', /not valid JSON/, 'empty body'],
    ['\u0000\u0001', /not valid JSON/, 'binary'],
    ['[]', /JSON object/, 'array'],
    ['null', /JSON object/, 'null'],
    ['"manifest"', /JSON object/, 'string'],
    ['42', /JSON object/, 'number'],
    [{ mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1), layers: [] }, /schemaVersion/, 'schemaVersion missing'],
    [{ schemaVersion: '2', mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1), layers: [] }, /schemaVersion/, 'schemaVersion as a string'],
    [{ schemaVersion: 3, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1), layers: [] }, /schemaVersion/, 'schemaVersion 3'],
    [{ schemaVersion: 2, mediaType: 5, config: desc(OCI_CONFIG, 1), layers: [] }, /mediaType must be a string/, 'mediaType a number'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }, /config/, 'config missing'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: 'sha256:x', layers: [] }, /config must be a descriptor/, 'config a string'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1), layers: {} }, /layers must be an array/, 'layers an object'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1), layers: [null] }, /layers\[0\] must be a descriptor/, 'null layer'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: d(1), size: 1 }, layers: [] }, /config\.mediaType/, 'descriptor without mediaType'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: '', digest: d(1), size: 1 }, layers: [] }, /config\.mediaType/, 'empty descriptor mediaType'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, size: 1 }, layers: [] }, /config\.digest/, 'descriptor without digest'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: `sha256:${HEX64.toUpperCase()}`, size: 1 }, layers: [] }, /config\.digest/, 'upper-case digest'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: `sha256:${HEX64.slice(2)}`, size: 1 }, layers: [] }, /config\.digest/, 'short digest'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: `md5:${'a'.repeat(32)}`, size: 1 }, layers: [] }, /config\.digest/, 'md5 digest'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1), layers: [{ mediaType: OCI_LAYER, digest: 'sha256:abc', size: 1 }] }, /layers\[0\]\.digest/, 'bad layer digest'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: D256 }, layers: [] }, /config\.size/, 'descriptor without size'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: D256, size: -1 }, layers: [] }, /config\.size/, 'negative size'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: D256, size: 1.5 }, layers: [] }, /config\.size/, 'fractional size'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: D256, size: '10' }, layers: [] }, /config\.size/, 'size as a string'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: D256, size: 2 ** 53 }, layers: [] }, /config\.size/, 'unsafe integer size'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1, 1, { artifactType: 1 }), layers: [] }, /config\.artifactType/, 'descriptor artifactType a number'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1), layers: [], annotations: { a: 1 } }, /annotations/, 'annotation value a number'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1), layers: [], annotations: ['a'] }, /annotations must be an object/, 'annotations an array'],
    [{ schemaVersion: 2, mediaType: OCI_MANIFEST, config: desc(OCI_CONFIG, 1, 1, { annotations: { x: null } }), layers: [] }, /config\.annotations/, 'descriptor annotation null'],
    [{ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [desc(OCI_MANIFEST, 1, 1), { mediaType: OCI_MANIFEST, digest: D256 }] }, /manifests\[1\]\.size/, 'bad index entry'],
  ]
  for (const [document, reason, why] of cases) t.match(invalidReason(document), reason, why)
})

t.test('the error is MANIFEST_INVALID 400 with a reason', async (t) => {
  try {
    parse('{')
    t.fail('should throw')
  } catch (err) {
    t.match(err, { code: 'MANIFEST_INVALID', status: 400, detail: { reason: 'body is not valid JSON' } })
  }
})
