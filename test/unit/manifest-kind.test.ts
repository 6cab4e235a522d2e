import t from 'tap'
import { classifyManifest, indexPlatforms, platformOf } from '../../src/registry/browse/manifest-kind.js'
import { summarizeConfig } from '../../src/registry/browse/image-config.js'
import type { Digest } from '../../src/oci/digest.js'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
const EMPTY = 'application/vnd.oci.empty.v1+json'
const D = `sha256:${'a'.repeat(64)}`

const image = (config: string, layers: string[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: config, digest: D, size: 2 },
  layers: layers.map((mediaType) => ({ mediaType, digest: D, size: 1 })), ...extra,
})

t.test('images and indexes', async (t) => {
  t.equal(classifyManifest(OCI_MANIFEST, image(OCI_CONFIG, ['application/vnd.oci.image.layer.v1.tar+gzip'])), 'image')
  t.equal(classifyManifest(DOCKER_MANIFEST, { ...image('application/vnd.docker.container.image.v1+json', []), mediaType: DOCKER_MANIFEST }), 'image', 'an image without layers is still an image')
  t.equal(classifyManifest(OCI_INDEX, { schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, digest: D, size: 1 }] }), 'index')
  t.equal(classifyManifest(DOCKER_LIST, { schemaVersion: 2, manifests: [] }), 'index')
  t.equal(classifyManifest(OCI_MANIFEST, undefined), 'unknown', 'a body that is not JSON')
  t.equal(classifyManifest('application/x-whatever', { schemaVersion: 2 }), 'unknown')
})

t.test('BuildKit caches: the cache config of an image manifest, or an index listing it', async (t) => {
  t.equal(classifyManifest(OCI_MANIFEST, image('application/vnd.buildkit.cacheconfig.v0', ['application/vnd.oci.image.layer.v1.tar+gzip'])), 'buildkit-cache')
  t.equal(classifyManifest(OCI_INDEX, { schemaVersion: 2, manifests: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D, size: 1 },
    { mediaType: 'application/vnd.buildkit.cacheconfig.v0', digest: D, size: 1 },
  ] }), 'buildkit-cache')
})

t.test('attestations: the index entry annotation, or in-toto layers', async (t) => {
  t.equal(classifyManifest(OCI_MANIFEST, image(OCI_CONFIG, ['application/vnd.in-toto+json', 'application/vnd.in-toto+json'])), 'attestation')
  t.equal(classifyManifest(OCI_MANIFEST, image(OCI_CONFIG, ['application/vnd.oci.image.layer.v1.tar+gzip']), { 'vnd.docker.reference.type': 'attestation-manifest' }), 'attestation')
  t.equal(classifyManifest(OCI_MANIFEST, image(OCI_CONFIG, ['application/vnd.in-toto+json', 'application/vnd.oci.image.layer.v1.tar+gzip'])), 'image', 'one in-toto layer among others is an image')
  t.equal(classifyManifest(OCI_MANIFEST, image(EMPTY, ['application/vnd.in-toto+json'], { artifactType: 'application/vnd.in-toto+json' })), 'attestation')
})

t.test('signatures: cosign and notation, by artifactType or config type, and cosign tag signatures', async (t) => {
  t.equal(classifyManifest(OCI_MANIFEST, image(EMPTY, ['application/vnd.dev.cosign.simplesigning.v1+json'], { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json' })), 'signature')
  t.equal(classifyManifest(OCI_MANIFEST, image('application/vnd.dev.cosign.artifact.sig.v1+json', ['application/vnd.dev.cosign.simplesigning.v1+json'])), 'signature')
  t.equal(classifyManifest(OCI_MANIFEST, image(OCI_CONFIG, ['application/vnd.dev.cosign.simplesigning.v1+json'])), 'signature', 'cosign sha256-….sig tags')
  t.equal(classifyManifest(OCI_MANIFEST, image('application/vnd.cncf.notary.signature', ['application/jose+json'])), 'signature')
  t.equal(classifyManifest(OCI_MANIFEST, image(EMPTY, ['application/jose+json'], { artifactType: 'application/vnd.cncf.notary.signature' })), 'signature')
})

t.test('SBOMs: SPDX and CycloneDX artifact types', async (t) => {
  t.equal(classifyManifest(OCI_MANIFEST, image(EMPTY, ['application/spdx+json'], { artifactType: 'application/spdx+json' })), 'sbom')
  t.equal(classifyManifest(OCI_MANIFEST, image(EMPTY, ['application/vnd.cyclonedx+json'], { artifactType: 'application/vnd.cyclonedx+json' })), 'sbom')
  t.equal(classifyManifest(OCI_MANIFEST, image('application/vnd.cyclonedx+xml', ['application/vnd.cyclonedx+xml'])), 'sbom', 'by config type')
})

t.test('artifacts: an artifactType or a config that is no image config', async (t) => {
  t.equal(classifyManifest(OCI_MANIFEST, image(EMPTY, ['text/plain'], { artifactType: 'application/vnd.example.thing' })), 'artifact')
  t.equal(classifyManifest(OCI_MANIFEST, image('application/vnd.cncf.helm.config.v1+json', ['application/vnd.cncf.helm.chart.content.v1.tar+gzip'])), 'artifact')
  t.equal(classifyManifest(OCI_MANIFEST, image(EMPTY, ['text/plain'])), 'artifact', 'the empty config')
  t.equal(classifyManifest(OCI_INDEX, { schemaVersion: 2, artifactType: 'application/spdx+json', manifests: [] }), 'sbom', 'an index with an artifactType')
})

t.test('platforms of an index: attestation entries and duplicates left out', async (t) => {
  const index = {
    manifests: [
      { mediaType: OCI_MANIFEST, digest: D, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: OCI_MANIFEST, digest: D, size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: OCI_MANIFEST, digest: D, size: 1, platform: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' } },
      { mediaType: OCI_MANIFEST, digest: D, size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: OCI_MANIFEST, digest: D, size: 1, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
      { mediaType: OCI_MANIFEST, digest: D, size: 1, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' }, platform: { os: 'linux', architecture: 's390x' } },
      { mediaType: OCI_MANIFEST, digest: D, size: 1 },
    ],
  }
  t.same(indexPlatforms(index), [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
    { os: 'windows', architecture: 'amd64', osVersion: '10.0.17763.1' },
  ])
  t.equal(platformOf({ os: 'linux' }), undefined, 'a platform needs os and architecture')
  t.same(indexPlatforms({ manifests: 'nope' }), [])
})

t.test('image config summary', async (t) => {
  const config = summarizeConfig(D as Digest, JSON.stringify({
    created: '2024-05-01T00:00:00Z', author: 'me', architecture: 'arm64', os: 'linux', variant: 'v8',
    config: { User: 'app', WorkingDir: '/srv', Entrypoint: ['/bin/app'], Cmd: null, Env: ['A=1'], ExposedPorts: { '8080/tcp': {} }, Volumes: { '/data': {} }, Labels: { a: 'b', n: 1 } },
    history: [{ created: '2024-05-01T00:00:00Z', created_by: 'RUN x', empty_layer: true }, { comment: 'c' }],
  }))
  t.same(config, {
    digest: D, created: '2024-05-01T00:00:00Z', author: 'me', architecture: 'arm64', os: 'linux', variant: 'v8', user: 'app', workingDir: '/srv',
    entrypoint: ['/bin/app'], env: ['A=1'], exposedPorts: ['8080/tcp'], volumes: ['/data'], labels: { a: 'b' },
    history: [{ created: '2024-05-01T00:00:00Z', createdBy: 'RUN x', emptyLayer: true }, { comment: 'c' }],
  })
  t.equal(summarizeConfig(D as Digest, 'not json'), undefined)
  t.equal(summarizeConfig(D as Digest, '[1]'), undefined)
})
