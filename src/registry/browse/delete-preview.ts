import { RegistryError } from '../../errors/registry-error.js'
import type { ManifestLinks, MetadataStore } from '../../metadata/metadata-store.js'
import type { Digest } from '../../oci/digest.js'
import type { RepoName, Tag } from '../../oci/names.js'
import type { DeletePreview, ManifestKind } from '../browse-types.js'
import { classifyManifest, parseBody } from './manifest-kind.js'

/** Manifests looked at, at most, for one preview (an index's children and referrers, and their parents). */
const VISIT_MAX = 2000

/**
 * What deleting a tag or a manifest takes with it. A manifest is left unreferenced when, once the
 * deletion is done, no tag names it and no manifest still kept reaches it (as an index's child, or
 * as the subject of a referrer): every manifest reachable from the target is checked by walking up
 * from it to a kept root, avoiding the deleted manifest. A manifest delete an index of the
 * repository still references is refused, as ManifestService.delete refuses it (409).
 */
export async function previewDeletion(metadata: MetadataStore, repo: RepoName, target: { readonly tag: Tag } | { readonly digest: Digest }): Promise<DeletePreview> {
  const byTag = 'tag' in target
  const digest = byTag ? (await metadata.findManifest(repo, { tag: target.tag }))?.digest : target.digest
  if (digest === undefined) throw new RegistryError('MANIFEST_UNKNOWN', { detail: byTag ? { tag: target.tag } : { digest: target.digest } })
  const graph = new LinkCache(metadata, repo)
  const root = await graph.links(digest)
  if (root === undefined) throw new RegistryError('MANIFEST_UNKNOWN', { detail: { digest } })
  const described = byTag ? { tag: target.tag, digest } : { digest }
  if (!byTag && root.parents.length > 0) {
    return {
      repository: repo, target: described, tags: [], manifests: [], freedBytes: 0,
      refused: { reason: 'manifest is referenced by an index in this repository: delete the index first', referencedBy: root.parents },
    }
  }
  const removedTags = new Set<string>(byTag ? [target.tag] : root.tags)
  // Deleted by digest, the manifest goes whatever reaches it; by tag, it stays while something keeps it.
  const deleted = byTag ? undefined : digest
  const keeps = async (candidate: Digest): Promise<boolean> => {
    const seen = new Set<string>([candidate])
    const queue: Digest[] = [candidate]
    while (queue.length > 0 && seen.size <= VISIT_MAX) {
      const at = queue.shift()!
      const links = await graph.links(at)
      if (links === undefined) continue
      const ups = [...links.parents, ...(links.subject !== undefined ? [links.subject] : [])].filter((d) => d !== deleted)
      if (links.tags.some((t) => !removedTags.has(t))) return true
      // An untagged manifest nothing refers to is its own root (pushed by digest), unless it is the target.
      if (at !== digest && links.parents.length === 0 && links.subject === undefined) return true
      for (const up of ups) if (!seen.has(up)) { seen.add(up); queue.push(up) }
    }
    return false
  }
  // Everything the target reaches: its children and referrers, transitively.
  const reached: Digest[] = [digest]
  for (let i = 0; i < reached.length && reached.length < VISIT_MAX; i++) {
    const links = await graph.links(reached[i]!)
    for (const next of [...links?.children ?? [], ...links?.referrers ?? []]) if (!reached.includes(next)) reached.push(next)
  }
  const removed: Digest[] = byTag ? [] : [digest]
  for (const candidate of reached) {
    if (candidate === deleted) continue
    if (!await keeps(candidate)) removed.push(candidate)
  }
  const manifests = await Promise.all(removed.filter((d) => d !== deleted).map(async (d) => ({ digest: d, kind: await kindOf(metadata, repo, d) })))
  return {
    repository: repo,
    target: described,
    tags: [...removedTags].sort() as Tag[],
    manifests,
    freedBytes: await metadata.bytesFreedWithout(repo, removed),
  }
}

async function kindOf(metadata: MetadataStore, repo: RepoName, digest: Digest): Promise<ManifestKind> {
  const found = await metadata.findManifestWithBody(repo, { digest })
  return found === undefined ? 'unknown' : classifyManifest(found.record.mediaType, parseBody(found.body))
}

/** manifestLinks, each read once per preview. */
class LinkCache {
  private readonly known = new Map<string, Promise<ManifestLinks | undefined>>()
  constructor(private readonly metadata: MetadataStore, private readonly repo: RepoName) {}

  links(digest: Digest): Promise<ManifestLinks | undefined> {
    let found = this.known.get(digest)
    if (found === undefined) {
      found = this.metadata.manifestLinks(this.repo, digest)
      this.known.set(digest, found)
    }
    return found
  }
}
