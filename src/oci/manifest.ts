import { RegistryError } from '../errors/registry-error.js'
import { isDigest, type Digest } from './digest.js'
import { MediaTypes, baseMediaType, isImageManifestType, isIndexType, isManifestType, isSchema1Type } from './media-types.js'

export interface Descriptor {
  readonly mediaType: string
  readonly digest: Digest
  readonly size: number
  readonly artifactType?: string
  readonly annotations?: Readonly<Record<string, string>>
  readonly urls?: readonly string[]
  readonly platform?: unknown
}

/**
 * What a manifest points at. 'manifest' entries must be manifests of the repository; 'blob'
 * entries (config, layers, and index entries with a non-manifest type, as in BuildKit's cache
 * index) must be blobs of the repository; 'external' entries (foreign layers with urls) are not
 * checked. The same list drives PUT validation and garbage collection.
 */
export interface ManifestReference {
  readonly digest: Digest
  readonly size: number
  readonly mediaType: string
  readonly kind: 'config' | 'layer' | 'manifest' | 'blob' | 'external'
}

export interface ParsedManifest {
  readonly mediaType: string
  readonly isIndex: boolean
  readonly subject?: Descriptor
  /** artifactType, else the config media type of an image manifest (referrers rule). */
  readonly artifactType?: string
  readonly annotations?: Readonly<Record<string, string>>
  readonly references: readonly ManifestReference[]
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Deepest nesting of arrays and objects a manifest may have. Go's encoding/json, which the
 * reference registry and most clients (skopeo, containerd, docker) parse manifests with, refuses
 * more than 10000 levels; a manifest they cannot read must not be stored. Real ones nest below 10.
 */
export const MANIFEST_MAX_DEPTH = 1000

/**
 * Whether JSON text nests arrays and objects deeper than `limit`: one linear scan, strings skipped,
 * before JSON.parse, so that no deep structure is ever built or walked.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // a backslash escapes the next character ("\"" stays in the string)
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}

function invalid(reason: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', { detail: { reason } })
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function parseAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined
  if (!isObject(value)) throw invalid(`${where}.annotations must be an object`)
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw invalid(`${where}.annotations["${key.slice(0, 100)}"] must be a string`)
  }
  return value as Record<string, string>
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`)
  const { mediaType, digest, size, artifactType, urls } = value
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(`${where}.mediaType must be a non-empty string`)
  if (typeof digest !== 'string' || !isDigest(digest)) throw invalid(`${where}.digest is not a valid sha256 or sha512 digest`)
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size must be a non-negative integer`)
  if (artifactType !== undefined && typeof artifactType !== 'string') throw invalid(`${where}.artifactType must be a string`)
  if (urls !== undefined && (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string'))) throw invalid(`${where}.urls must be an array of strings`)
  const annotations = parseAnnotations(value.annotations, where)
  return {
    mediaType, digest: digest as Digest, size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
    ...(urls !== undefined ? { urls: urls as string[] } : {}),
    ...(value.platform !== undefined ? { platform: value.platform } : {}),
  }
}

function parseDescriptorList(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`)
  return value.map((entry, i) => parseDescriptor(entry, `${where}[${i}]`))
}

/**
 * Parses and validates a manifest body. The media type comes from the body's mediaType field and
 * the request's Content-Type; when they disagree, or neither names a known type and the body is not
 * recognisably an image manifest or index, the manifest is invalid. Schema1 is refused.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  // JSON forbids a byte-order mark (RFC 8259 §8.1) and Go clients fail on one; TextDecoder would drop it silently.
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) throw invalid('body starts with a UTF-8 byte-order mark, which JSON does not allow')
  let text: string
  try {
    // Fatal decoding: invalid UTF-8 is refused, never silently replaced.
    text = UTF8.decode(body)
  } catch {
    throw invalid('body is not valid UTF-8')
  }
  if (nestsDeeperThan(text, MANIFEST_MAX_DEPTH)) throw invalid(`JSON nests deeper than ${MANIFEST_MAX_DEPTH} levels`)
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    throw invalid('body is not valid JSON')
  }
  if (!isObject(document)) throw invalid('manifest must be a JSON object')
  const headerType = baseMediaType(contentType)
  const bodyType = document.mediaType
  if (bodyType !== undefined && typeof bodyType !== 'string') throw invalid('mediaType must be a string')
  if (document.schemaVersion === 1 || isSchema1Type(headerType) || (bodyType !== undefined && isSchema1Type(bodyType))) {
    throw invalid('schema1 manifests are not supported; push with a Docker schema2 or OCI client')
  }
  if (document.schemaVersion !== 2) throw invalid('schemaVersion must be 2')

  let mediaType: string
  if (bodyType !== undefined && bodyType !== '') {
    if (isManifestType(headerType) && headerType !== bodyType) {
      throw invalid(`Content-Type ${headerType} does not match the manifest's mediaType ${bodyType}`)
    }
    mediaType = bodyType
  } else if (isManifestType(headerType)) {
    mediaType = headerType
  } else if (Array.isArray(document.manifests)) {
    mediaType = MediaTypes.ociIndex
  } else if (isObject(document.config)) {
    mediaType = MediaTypes.ociManifest
  } else {
    throw invalid('unknown manifest media type')
  }
  if (!isManifestType(mediaType)) {
    // An unknown mediaType is acceptable only on a body that has the shape of a known one.
    if (Array.isArray(document.manifests)) return parseIndex(document, mediaType)
    if (isObject(document.config) && Array.isArray(document.layers)) return parseImageManifest(document, mediaType)
    throw invalid(`unsupported manifest media type ${mediaType.slice(0, 200)}`)
  }
  return isIndexType(mediaType) ? parseIndex(document, mediaType) : parseImageManifest(document, mediaType)
}

function parseCommon(document: Record<string, unknown>): Pick<ParsedManifest, 'subject' | 'annotations'> & { artifactType?: string } {
  const { artifactType } = document
  if (artifactType !== undefined && typeof artifactType !== 'string') throw invalid('artifactType must be a string')
  const subject = document.subject === undefined ? undefined : parseDescriptor(document.subject, 'subject')
  const annotations = parseAnnotations(document.annotations, 'manifest')
  return {
    ...(subject !== undefined ? { subject } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
    ...(typeof artifactType === 'string' && artifactType !== '' ? { artifactType } : {}),
  }
}

function parseImageManifest(document: Record<string, unknown>, mediaType: string): ParsedManifest {
  if (document.manifests !== undefined) throw invalid('an image manifest has no "manifests" field')
  const config = parseDescriptor(document.config, 'config')
  const layers = document.layers === undefined && mediaType === MediaTypes.ociManifest ? [] : parseDescriptorList(document.layers, 'layers')
  const common = parseCommon(document)
  const references: ManifestReference[] = [
    { digest: config.digest, size: config.size, mediaType: config.mediaType, kind: 'config' },
    ...layers.map((layer): ManifestReference => ({
      digest: layer.digest, size: layer.size, mediaType: layer.mediaType,
      kind: layer.urls !== undefined && layer.urls.length > 0 ? 'external' : 'layer',
    })),
  ]
  return {
    mediaType, isIndex: false, references, ...common,
    artifactType: common.artifactType ?? config.mediaType,
  }
}

function parseIndex(document: Record<string, unknown>, mediaType: string): ParsedManifest {
  if (document.layers !== undefined && !isImageManifestType(mediaType) && document.config !== undefined) {
    throw invalid('an index has no "config" field')
  }
  const entries = parseDescriptorList(document.manifests, 'manifests')
  const references = entries.map((entry): ManifestReference => ({
    digest: entry.digest, size: entry.size, mediaType: entry.mediaType,
    kind: isManifestType(entry.mediaType) ? 'manifest' : 'blob',
  }))
  return { mediaType, isIndex: true, references, ...parseCommon(document) }
}
