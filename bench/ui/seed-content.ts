import { randomBytes } from 'node:crypto'
import {
  descriptor, jsonBytes, makeBlob, manifestOf, MediaTypes, ociIndex,
  type Blob, type Descriptor, type Manifest, type Platform,
} from '../../test/support/index.js'

/**
 * What the UI seeder pushes, shaped the way real tools write it: image configs as BuildKit writes
 * them (Env, Entrypoint, Cmd, Labels, History), buildx's multi-platform index with its attestation
 * manifests, cosign's signature and an SPDX SBOM as referrers, and a BuildKit registry cache.
 */

export const ArtifactTypes = {
  cosignSignature: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  spdx: 'application/spdx+json',
} as const

/** The empty config artifacts carry (image-spec's `{}` descriptor). */
export const EMPTY_CONFIG: Blob = makeBlob('{}', { mediaType: MediaTypes.ociEmpty })

export interface ImageConfigOptions {
  readonly repository: string
  readonly version: string
  readonly created: Date
  readonly layers: readonly Blob[]
  readonly platform?: Platform
  /** Varies configs that would otherwise be byte-identical (a build's commit). */
  readonly revision?: string
}

/** An OCI image config with the fields `docker inspect` shows, and one history entry per layer. */
export function imageConfig(options: ImageConfigOptions): Blob {
  const { repository, version, created, platform = { os: 'linux', architecture: 'amd64' } } = options
  const service = repository.split('/').pop() ?? repository
  const at = (minutesBefore: number): string => new Date(created.getTime() - minutesBefore * 60_000).toISOString()
  const revision = options.revision ?? randomBytes(20).toString('hex')
  const steps = [
    { created: at(600 * 24), created_by: '/bin/sh -c #(nop) ADD file:5d6b639e8b6bcc011d8ea1a9e6a2a9b1 in / ' },
    { created: at(2), created_by: 'RUN /bin/sh -c apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata # buildkit', comment: 'buildkit.dockerfile.v0' },
    { created: at(1), created_by: `COPY ./dist /srv/${service} # buildkit`, comment: 'buildkit.dockerfile.v0' },
  ].slice(0, Math.max(1, options.layers.length))
  const history = [
    ...steps,
    { created: at(1), created_by: 'EXPOSE map[8080/tcp:{}]', comment: 'buildkit.dockerfile.v0', empty_layer: true },
    { created: at(1), created_by: `ENTRYPOINT ["/srv/${service}/bin/${service}"]`, comment: 'buildkit.dockerfile.v0', empty_layer: true },
  ]
  return makeBlob(JSON.stringify({
    created: created.toISOString(),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    config: {
      User: '10001:10001',
      ExposedPorts: { '8080/tcp': {} },
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `SERVICE_NAME=${service}`, 'LOG_FORMAT=json', `APP_VERSION=${version}`],
      Entrypoint: [`/srv/${service}/bin/${service}`],
      Cmd: ['serve', '--listen', ':8080'],
      WorkingDir: `/srv/${service}`,
      Labels: {
        'org.opencontainers.image.title': service,
        'org.opencontainers.image.source': `https://git.example.com/${repository}`,
        'org.opencontainers.image.version': version,
        'org.opencontainers.image.revision': revision,
        'org.opencontainers.image.created': created.toISOString(),
        'org.opencontainers.image.licenses': 'Apache-2.0',
      },
    },
    rootfs: { type: 'layers', diff_ids: options.layers.map((layer) => `sha256:${layer.digest.slice(7).split('').reverse().join('')}`) },
    history,
  }), { mediaType: MediaTypes.ociConfig })
}

/** An OCI image manifest over a config and layers; `annotations` make otherwise equal manifests distinct. */
export function imageManifestOf(config: Blob, layers: readonly Blob[], options: { annotations?: Record<string, string>; subject?: Descriptor; artifactType?: string } = {}): Manifest {
  return manifestOf({
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
    config: descriptor(config),
    layers: layers.map((layer) => descriptor(layer, undefined, layer.annotations !== undefined ? { annotations: { ...layer.annotations } } : {})),
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
    ...(options.annotations !== undefined ? { annotations: options.annotations } : {}),
  }, MediaTypes.ociManifest)
}

/** Everything one push of a manifest needs: its blobs, the manifests below it (by digest), then itself. */
export interface PushPlan {
  readonly blobs: readonly Blob[]
  readonly children: readonly Manifest[]
  readonly manifest: Manifest
}

/**
 * buildx's `--platform linux/amd64,linux/arm64 --provenance --sbom`: an index of two images and,
 * for each, an attestation manifest (platform unknown/unknown) holding SLSA provenance and an SPDX
 * SBOM as in-toto layers, tied to its image by the vnd.docker.reference.* annotations.
 */
export function multiPlatformIndex(repository: string, version: string, baseLayers: readonly Blob[], created: Date): PushPlan {
  const blobs: Blob[] = []
  const children: Manifest[] = []
  const entries: Descriptor[] = []
  for (const platform of [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }] as Platform[]) {
    const appLayer = makeBlob(4096 + entries.length)
    const layers = [...baseLayers, appLayer]
    const config = imageConfig({ repository, version, created, layers, platform })
    const image = imageManifestOf(config, layers)
    blobs.push(appLayer, config)
    children.push(image)
    entries.push(descriptor(image, undefined, { platform }))

    const statement = (predicateType: string, predicate: unknown): Blob => makeBlob(JSON.stringify({
      _type: 'https://in-toto.io/Statement/v0.1', predicateType,
      subject: [{ name: `pkg:docker/${repository}@${version}?platform=${platform.os}%2F${platform.architecture}`, digest: { sha256: image.digest.slice(7) } }],
      predicate,
    }), { mediaType: MediaTypes.inToto, annotations: { 'in-toto.io/predicate-type': predicateType } })
    const provenance = statement('https://slsa.dev/provenance/v0.2', { builder: { id: 'https://github.com/docker/buildx' }, buildType: 'https://mobyproject.org/buildkit@v1', metadata: { buildStartedOn: created.toISOString() } })
    const sbom = statement('https://spdx.dev/Document', spdxDocument(repository, version))
    const attestationConfig = makeBlob(JSON.stringify({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: [provenance.digest, sbom.digest] } }), { mediaType: MediaTypes.ociConfig })
    const attestation = imageManifestOf(attestationConfig, [provenance, sbom])
    blobs.push(provenance, sbom, attestationConfig)
    children.push(attestation)
    entries.push(descriptor(attestation, undefined, {
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: { 'vnd.docker.reference.digest': image.digest, 'vnd.docker.reference.type': 'attestation-manifest' },
    }))
  }
  return { blobs: [...baseLayers, ...blobs], children, manifest: ociIndex(entries) }
}

function spdxDocument(repository: string, version: string): Record<string, unknown> {
  return {
    spdxVersion: 'SPDX-2.3', dataLicense: 'CC0-1.0', SPDXID: 'SPDXRef-DOCUMENT', name: `${repository}:${version}`,
    documentNamespace: `https://example.com/spdx/${repository}/${version}`,
    creationInfo: { created: '2026-11-30T12:00:00Z', creators: ['Tool: syft-1.18.0'] },
    packages: [
      { SPDXID: 'SPDXRef-Package-openssl', name: 'openssl', versionInfo: '3.0.15-1~deb12u1', licenseConcluded: 'Apache-2.0' },
      { SPDXID: 'SPDXRef-Package-tzdata', name: 'tzdata', versionInfo: '2024b-0+deb12u1', licenseConcluded: 'LicenseRef-Public-Domain' },
    ],
  }
}

/** cosign's signature of `subject` (OCI 1.1 referrers mode) and an SPDX SBOM artifact attached with `oras attach`. */
export function referrersOf(subject: Manifest, repository: string, version: string): PushPlan[] {
  const subjectDescriptor = descriptor(subject)
  const payload = makeBlob(JSON.stringify({
    critical: { identity: { 'docker-reference': repository }, image: { 'docker-manifest-digest': subject.digest }, type: 'cosign container image signature' },
    optional: null,
  }), { mediaType: ArtifactTypes.cosignSimpleSigning, annotations: { 'dev.cosignproject.cosign/signature': randomBytes(70).toString('base64') } })
  const signature = imageManifestOf(EMPTY_CONFIG, [payload], { artifactType: ArtifactTypes.cosignSignature, subject: subjectDescriptor, annotations: { 'org.opencontainers.image.created': '2026-11-30T12:01:00Z' } })
  const sbomLayer = makeBlob(jsonBytes(spdxDocument(repository, version)), { mediaType: ArtifactTypes.spdx, annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' } })
  const sbom = imageManifestOf(EMPTY_CONFIG, [sbomLayer], { artifactType: ArtifactTypes.spdx, subject: subjectDescriptor, annotations: { 'org.opencontainers.image.created': '2026-11-30T12:02:00Z' } })
  return [
    { blobs: [EMPTY_CONFIG, payload], children: [], manifest: signature },
    { blobs: [EMPTY_CONFIG, sbomLayer], children: [], manifest: sbom },
  ]
}

/** `--cache-to type=registry,image-manifest=true`: an image manifest whose config is BuildKit's cache config. */
export function buildkitCache(layers: readonly Blob[]): PushPlan {
  const cacheLayers = layers.map((layer) => ({ ...layer, annotations: { 'buildkit/createdat': '2026-11-30T11:58:00Z', 'containerd.io/uncompressed': layer.digest } }))
  const cacheConfig = makeBlob(JSON.stringify({
    layers: cacheLayers.map((layer, i) => ({ blob: layer.digest, parent: i - 1 })).map(({ parent, ...rest }) => parent >= 0 ? { ...rest, parent } : rest),
    records: cacheLayers.map((_, i) => ({ digest: `sha256:${randomBytes(32).toString('hex')}`, layers: [{ layer: i }] })),
  }), { mediaType: MediaTypes.buildkitCacheConfig })
  return { blobs: [...cacheLayers, cacheConfig], children: [], manifest: imageManifestOf(cacheConfig, cacheLayers) }
}
