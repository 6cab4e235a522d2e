import { RegistryError } from '../errors/registry-error.js'
import { digestHex, type Digest } from '../oci/digest.js'
import { blobPath, jsonFile, type SmallFile } from './oci-layout.js'
import { isImageManifestType, isIndexType } from '../oci/media-types.js'

/** The parts of an os/arch[/variant] platform that choose an image. */
export interface Platform {
  readonly os: string
  readonly architecture: string
  readonly variant?: string
}

const PLATFORM_PART = /^[a-z0-9_.-]{1,64}$/

/** `linux/arm64/v8` → its parts; anything else is a 400. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/')
  if (parts.length < 2 || parts.length > 3 || !parts.every((part) => PLATFORM_PART.test(part))) {
    throw new RegistryError('UNSUPPORTED', { status: 400, message: `malformed platform "${text.slice(0, 100)}": os/architecture[/variant], e.g. linux/arm64` })
  }
  const [os, architecture, variant] = parts as [string, string, string?]
  return { os, architecture, ...(variant !== undefined ? { variant } : {}) }
}

function platformText(platform: Platform): string {
  return [platform.os, platform.architecture, ...(platform.variant !== undefined ? [platform.variant] : [])].join('/')
}

interface ManifestBlob {
  readonly digest: Digest
  readonly mediaType: string
  readonly body?: Buffer
}

interface IndexEntry {
  readonly digest: Digest
  readonly mediaType?: string
  readonly platform?: { readonly os?: string; readonly architecture?: string; readonly variant?: string }
}

/**
 * The image of an index that `docker load` gets: the one of `wanted` (a variant-less request
 * matches any variant), else linux/amd64, else the index's only image (attestation manifests,
 * platform unknown/unknown, do not count).
 */
function chooseImage(index: ManifestBlob, blobs: ReadonlyMap<Digest, ManifestBlob>, wanted: Platform | undefined): ManifestBlob {
  const entries = ((JSON.parse(index.body!.toString('utf8')) as { manifests?: IndexEntry[] }).manifests ?? [])
    .filter((entry) => isImageManifestType(blobs.get(entry.digest)?.mediaType ?? '') && entry.platform?.os !== 'unknown')
  const matches = (want: Platform) => (entry: IndexEntry): boolean => entry.platform?.os === want.os && entry.platform.architecture === want.architecture &&
    (want.variant === undefined || entry.platform.variant === want.variant)
  const chosen = wanted !== undefined
    ? entries.find(matches(wanted))
    : entries.find(matches({ os: 'linux', architecture: 'amd64' })) ?? (entries.length === 1 ? entries[0] : undefined)
  if (chosen === undefined) {
    const available = entries.map((entry) => platformText({ os: entry.platform?.os ?? '?', architecture: entry.platform?.architecture ?? '?', ...(entry.platform?.variant !== undefined ? { variant: entry.platform.variant } : {}) }))
    throw new RegistryError('MANIFEST_UNKNOWN', {
      message: wanted !== undefined ? `the index has no image for ${platformText(wanted)}` : 'the index has no linux/amd64 image and more than one other: choose a platform',
      detail: { digest: index.digest, platforms: available },
    })
  }
  return blobs.get(chosen.digest)!
}

/**
 * Docker's files beside the OCI layout, as `docker save` writes them from Docker 25 on:
 * manifest.json (Config, RepoTags, Layers as paths into blobs/) for the image of `platform` when
 * `top` is an index, and the legacy `repositories` (tag → top layer) when exported by tag.
 */
export function dockerArchiveFiles(input: {
  readonly top: ManifestBlob
  readonly blobs: ReadonlyMap<Digest, ManifestBlob>
  readonly fullName: string
  readonly tag: string | undefined
  readonly platform?: string
}): SmallFile[] {
  const wanted = input.platform !== undefined ? parsePlatform(input.platform) : undefined
  const image = isIndexType(input.top.mediaType) ? chooseImage(input.top, input.blobs, wanted) : input.top
  if (!isImageManifestType(image.mediaType)) {
    throw new RegistryError('UNSUPPORTED', { status: 400, message: `a ${image.mediaType} is no image: only the oci format exports it`, detail: { digest: image.digest } })
  }
  const manifest = JSON.parse(image.body!.toString('utf8')) as { config: { digest: Digest }; layers?: Array<{ digest: Digest; urls?: string[] }> }
  const layers = (manifest.layers ?? []).map((layer) => layer.digest)
  const repoTags = input.tag !== undefined ? [`${input.fullName}:${input.tag}`] : []
  const files = [jsonFile('manifest.json', [{ Config: blobPath(manifest.config.digest), RepoTags: repoTags, Layers: layers.map(blobPath) }])]
  const topLayer = layers.at(-1)
  if (input.tag !== undefined && topLayer !== undefined) {
    files.push(jsonFile('repositories', { [input.fullName]: { [input.tag]: digestHex(topLayer) } }))
  }
  return files
}
