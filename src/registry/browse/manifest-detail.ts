import { RegistryError } from '../../errors/registry-error.js'
import type { MetadataStore } from '../../metadata/metadata-store.js'
import type { Digest } from '../../oci/digest.js'
import { isIndexType, isManifestType } from '../../oci/media-types.js'
import type { RepoName } from '../../oci/names.js'
import type { Descriptor, ManifestDetail, ManifestKind } from '../browse-types.js'
import type { ImageConfigReader } from './image-config.js'
import { ATTESTATION_MANIFEST, REFERENCE_TYPE_ANNOTATION, classifyManifest, descriptors, isImageConfigType, isObject, parseBody, platformOf, type LooseDescriptor } from './manifest-kind.js'

/** Referrers described at most (each needs its body for its kind); a UI page lists no more. */
const REFERRERS_MAX = 200

/** A manifest of `repo` in detail, but for `can` (the caller's, added by the Browser). */
export async function describeManifest(metadata: MetadataStore, configs: ImageConfigReader, repo: RepoName, digest: Digest): Promise<Omit<ManifestDetail, 'can'>> {
  const found = await metadata.findManifestWithBody(repo, { digest })
  const links = await metadata.manifestLinks(repo, digest)
  if (found === undefined || links === undefined) throw new RegistryError('MANIFEST_UNKNOWN', { detail: { digest } })
  const { record, body } = found
  const document = parseBody(body)
  const [totalSize] = await metadata.contentSizes([digest])
  const kind = classifyManifest(record.mediaType, document)
  const doc = isObject(document) ? document : {}
  const annotations = isObject(doc.annotations) ? doc.annotations as Record<string, string> : undefined
  const present = new Set<string>(links.children)

  const children = Array.isArray(doc.manifests)
    ? await Promise.all(descriptors(doc.manifests).map(async (entry) => {
      const platform = platformOf(entry.platform)
      return { ...toDescriptor(entry), ...(platform !== undefined ? { platform } : {}), kind: await kindOfEntry(metadata, entry, present), present: entry.digest !== undefined && present.has(entry.digest) }
    }))
    : undefined
  const configDescriptor = isObject(doc.config) ? toDescriptor(descriptors([doc.config])[0]!) : undefined
  const config = configDescriptor !== undefined && isImageConfigType(configDescriptor.mediaType)
    ? await configs.summary(configDescriptor.digest, configDescriptor.size) : undefined
  const subjectEntry = isObject(doc.subject) ? descriptors([doc.subject])[0] : undefined
  const referrerRecords = await metadata.listReferrers(repo, digest, undefined, { limit: REFERRERS_MAX })
  const referrers = await Promise.all(referrerRecords.map(async (r) => {
    const referrerBody = await metadata.getManifestBody(r.digest)
    return {
      mediaType: r.mediaType, digest: r.digest, size: r.size,
      ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
      ...(r.annotations !== undefined ? { annotations: r.annotations } : {}),
      kind: referrerBody !== undefined ? classifyManifest(r.mediaType, parseBody(referrerBody)) : 'unknown' as ManifestKind,
    }
  }))
  return {
    repository: repo,
    digest,
    mediaType: record.mediaType,
    ...(record.artifactType !== undefined ? { artifactType: record.artifactType } : {}),
    kind,
    size: record.size,
    totalSize: totalSize ?? record.size,
    tags: links.tags,
    ...(annotations !== undefined ? { annotations } : {}),
    ...(children !== undefined ? { children } : {}),
    ...(config !== undefined ? { config } : {}),
    ...(configDescriptor !== undefined ? { configDescriptor } : {}),
    ...(Array.isArray(doc.layers) ? { layers: descriptors(doc.layers).map(toDescriptor) } : {}),
    ...(subjectEntry !== undefined ? { subject: { ...toDescriptor(subjectEntry), present: links.subject !== undefined } } : {}),
    referrers,
    body: body.toString('utf8'),
  }
}

/** An index entry's kind: buildx's mark, else the stored child's own; a child not stored here is told by its media type. */
async function kindOfEntry(metadata: MetadataStore, entry: LooseDescriptor, present: ReadonlySet<string>): Promise<ManifestKind> {
  if (entry.annotations?.[REFERENCE_TYPE_ANNOTATION] === ATTESTATION_MANIFEST) return 'attestation'
  if (entry.digest !== undefined && present.has(entry.digest)) {
    const body = await metadata.getManifestBody(entry.digest as Digest)
    if (body !== undefined) return classifyManifest(entry.mediaType ?? '', parseBody(body))
  }
  if (entry.mediaType !== undefined && isManifestType(entry.mediaType)) return isIndexType(entry.mediaType) ? 'index' : 'image'
  return 'unknown'
}

function toDescriptor(entry: LooseDescriptor): Descriptor {
  return {
    mediaType: entry.mediaType ?? '',
    digest: (entry.digest ?? '') as Digest,
    size: entry.size ?? 0,
    ...(entry.artifactType !== undefined ? { artifactType: entry.artifactType } : {}),
    ...(entry.annotations !== undefined ? { annotations: entry.annotations } : {}),
  }
}
