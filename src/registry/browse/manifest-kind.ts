import type { ManifestKind, Platform } from '../browse-types.js'

/**
 * What a manifest is, as a person reads it, from its JSON alone (pure; no store access). BuildKit
 * caches, attestations, signatures and SBOMs are told apart from images, so the UI labels them
 * instead of showing them as broken images.
 */

export const KindMediaTypes = {
  buildkitCacheConfig: 'application/vnd.buildkit.cacheconfig.v0',
  inToto: 'application/vnd.in-toto+json',
  cosignSignature: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  notarySignature: 'application/vnd.cncf.notary.signature',
  ociImageConfig: 'application/vnd.oci.image.config.v1+json',
  dockerImageConfig: 'application/vnd.docker.container.image.v1+json',
} as const

/** The index entry annotation buildx puts on attestation manifests (docs.docker.com/build/metadata/attestations). */
export const REFERENCE_TYPE_ANNOTATION = 'vnd.docker.reference.type'
export const ATTESTATION_MANIFEST = 'attestation-manifest'

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'])
const IMAGE_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'])
const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set([KindMediaTypes.ociImageConfig, KindMediaTypes.dockerImageConfig])
const SIGNATURE_TYPES: ReadonlySet<string> = new Set([KindMediaTypes.cosignSignature, KindMediaTypes.notarySignature])
const SBOM_TYPE = /spdx|cyclonedx|syft/i

export function isImageConfigType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && IMAGE_CONFIG_TYPES.has(mediaType)
}

/** The parts of a manifest's JSON the classification reads; anything else is ignored. */
export interface ManifestDocument {
  readonly mediaType?: unknown
  readonly artifactType?: unknown
  readonly config?: unknown
  readonly layers?: unknown
  readonly manifests?: unknown
}

/**
 * `mediaType` is the stored one; `entryAnnotations` those of the index entry that points at the
 * manifest, when known (buildx marks attestation manifests there).
 */
export function classifyManifest(mediaType: string, document: unknown, entryAnnotations?: Readonly<Record<string, string>>): ManifestKind {
  if (entryAnnotations?.[REFERENCE_TYPE_ANNOTATION] === ATTESTATION_MANIFEST) return 'attestation'
  if (!isObject(document)) return 'unknown'
  if (INDEX_TYPES.has(mediaType) || (!IMAGE_TYPES.has(mediaType) && Array.isArray(document.manifests))) {
    const entries = descriptors(document.manifests)
    // BuildKit's registry cache (image-manifest=false): an index of layers and one cache config.
    if (entries.some((e) => e.mediaType === KindMediaTypes.buildkitCacheConfig)) return 'buildkit-cache'
    return kindOfArtifactType(stringOf(document.artifactType)) ?? 'index'
  }
  if (!IMAGE_TYPES.has(mediaType) && !isObject(document.config)) return 'unknown'
  const configType = isObject(document.config) ? stringOf(document.config.mediaType) : undefined
  if (configType === KindMediaTypes.buildkitCacheConfig) return 'buildkit-cache'
  const layers = descriptors(document.layers)
  const artifactType = stringOf(document.artifactType)
  const typed = kindOfArtifactType(artifactType) ?? kindOfArtifactType(configType)
  if (typed !== undefined) return typed
  if (layers.length > 0 && layers.every((l) => l.mediaType === KindMediaTypes.inToto)) return 'attestation'
  // cosign's tag-based signatures: an image config and simple-signing layers.
  if (layers.length > 0 && layers.every((l) => l.mediaType === KindMediaTypes.cosignSimpleSigning)) return 'signature'
  if (artifactType !== undefined || !isImageConfigType(configType)) return 'artifact'
  return 'image'
}

function kindOfArtifactType(type: string | undefined): ManifestKind | undefined {
  if (type === undefined) return undefined
  if (SIGNATURE_TYPES.has(type)) return 'signature'
  if (SBOM_TYPE.test(type)) return 'sbom'
  if (type === KindMediaTypes.inToto) return 'attestation'
  return undefined
}

/** An index entry's platform, as the answers give it; undefined when it has none. */
export function platformOf(value: unknown): Platform | undefined {
  if (!isObject(value)) return undefined
  const os = stringOf(value.os)
  const architecture = stringOf(value.architecture)
  if (os === undefined || architecture === undefined) return undefined
  const variant = stringOf(value.variant)
  const osVersion = stringOf(value['os.version'])
  return { os, architecture, ...(variant !== undefined ? { variant } : {}), ...(osVersion !== undefined ? { osVersion } : {}) }
}

/**
 * The platforms an index serves: its entries' platforms, without attestation manifests (marked
 * by annotation, or buildx's unknown/unknown platform) and duplicates.
 */
export function indexPlatforms(document: unknown): Platform[] {
  if (!isObject(document)) return []
  const seen = new Set<string>()
  const platforms: Platform[] = []
  for (const entry of descriptors(document.manifests)) {
    if (entry.annotations?.[REFERENCE_TYPE_ANNOTATION] === ATTESTATION_MANIFEST) continue
    const platform = platformOf(entry.platform)
    if (platform === undefined || (platform.os === 'unknown' && platform.architecture === 'unknown')) continue
    const key = platformText(platform)
    if (seen.has(key)) continue
    seen.add(key)
    platforms.push(platform)
  }
  return platforms
}

/** os/architecture[/variant], as docker writes platforms. */
export function platformText(platform: Platform): string {
  return [platform.os, platform.architecture, ...(platform.variant !== undefined ? [platform.variant] : [])].join('/')
}

export interface LooseDescriptor {
  readonly mediaType?: string
  readonly digest?: string
  readonly size?: number
  readonly artifactType?: string
  readonly annotations?: Readonly<Record<string, string>>
  readonly platform?: unknown
}

/** The well-formed-enough descriptors of a list (stored manifests were validated when pushed). */
export function descriptors(value: unknown): LooseDescriptor[] {
  if (!Array.isArray(value)) return []
  return value.filter(isObject).map((d) => ({
    ...(typeof d.mediaType === 'string' ? { mediaType: d.mediaType } : {}),
    ...(typeof d.digest === 'string' ? { digest: d.digest } : {}),
    ...(typeof d.size === 'number' ? { size: d.size } : {}),
    ...(typeof d.artifactType === 'string' ? { artifactType: d.artifactType } : {}),
    ...(isObject(d.annotations) ? { annotations: d.annotations as Record<string, string> } : {}),
    ...(d.platform !== undefined ? { platform: d.platform } : {}),
  }))
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** A stored manifest's JSON; undefined when it is not JSON (classified `unknown`). */
export function parseBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
}
