/** Media types the registry gives meaning to; any other type is stored as given. */
export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const

const IMAGE_MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaTypes.ociManifest, MediaTypes.dockerManifest])
const INDEX_TYPES: ReadonlySet<string> = new Set([MediaTypes.ociIndex, MediaTypes.dockerManifestList])
const SCHEMA1_TYPES: ReadonlySet<string> = new Set([MediaTypes.dockerSchema1, MediaTypes.dockerSchema1Signed])

export function isImageManifestType(mediaType: string): boolean { return IMAGE_MANIFEST_TYPES.has(mediaType) }
export function isIndexType(mediaType: string): boolean { return INDEX_TYPES.has(mediaType) }
export function isManifestType(mediaType: string): boolean { return IMAGE_MANIFEST_TYPES.has(mediaType) || INDEX_TYPES.has(mediaType) }
export function isSchema1Type(mediaType: string): boolean { return SCHEMA1_TYPES.has(mediaType) }

/** "application/json; charset=utf-8" → "application/json". */
export function baseMediaType(contentType: string | undefined): string {
  if (contentType === undefined) return ''
  const semi = contentType.indexOf(';')
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
}
