import type { MetadataMaintenance } from '../metadata/metadata-store.js'
import { createDigester, digestAlgorithm, digestOf, type Digest } from '../oci/digest.js'
import type { BlobStore } from '../storage/blob-store.js'

export interface FsckReport {
  readonly blobsChecked: number
  readonly bytesVerified: number
  readonly manifestsChecked: number
  /** Blob records whose file is absent. */
  readonly missingBlobs: readonly string[]
  /** Blob files whose size or digest does not match their name or record. */
  readonly corruptBlobs: ReadonlyArray<{ readonly digest: string; readonly reason: string }>
  /** Blob files no record names. */
  readonly orphanFiles: readonly string[]
  readonly corruptManifests: readonly string[]
  readonly linksWithoutBlob: number
  readonly tagsWithoutManifest: number
  /** References from manifests to blobs or manifests absent from their repository (not repairable: reported). */
  readonly missingReferences: ReadonlyArray<{ readonly repo: string; readonly manifest: string; readonly child: string; readonly kind: string }>
  /**
   * References of manifests in pull-through cache repositories to what was not pulled yet: not a
   * problem (the cache fetches them from the upstream when pulled).
   */
  readonly notYetCached: number
  readonly uploadFilesWithoutSession: number
  readonly uploadSessionsWithoutFile: number
  readonly repaired: boolean
  readonly ok: boolean
}

/**
 * Verifies the store against its metadata: every blob file re-hashed and sized, every record and
 * relation resolved. With `repair`, removes what cannot be right: orphan and corrupt files, records
 * of missing blobs, dangling links and tags, broken upload sessions. Run it with no server on the
 * storage (wharf fsck checks that).
 */
export async function checkStore(metadata: MetadataMaintenance, store: BlobStore, options: { readonly repair: boolean; readonly isCached?: (repo: string) => boolean }): Promise<FsckReport> {
  const records = new Map((await metadata.listBlobRecords()).map((r) => [r.digest as string, r.size]))
  const seen = new Set<string>()
  const corruptBlobs: Array<{ digest: string; reason: string }> = []
  const orphanFiles: string[] = []
  let bytesVerified = 0
  for await (const file of store.listBlobs()) {
    seen.add(file.digest)
    const recorded = records.get(file.digest)
    if (recorded === undefined) { orphanFiles.push(file.digest); continue }
    if (recorded !== file.size) { corruptBlobs.push({ digest: file.digest, reason: `size ${file.size}, recorded ${recorded}` }); continue }
    const digester = createDigester(digestAlgorithm(file.digest))
    for await (const chunk of await store.readBlob(file.digest)) digester.update(chunk as Buffer)
    bytesVerified += file.size
    const actual = digester.digest()
    if (actual !== file.digest) corruptBlobs.push({ digest: file.digest, reason: `content hashes to ${actual}` })
  }
  const missingBlobs = [...records.keys()].filter((digest) => !seen.has(digest))

  const corruptManifests: string[] = []
  let manifestsChecked = 0
  for (let after = ''; ;) {
    const page = await metadata.listManifestContents(after, 500)
    for (const { digest, body } of page) {
      manifestsChecked++
      if (digestOf(body, digestAlgorithm(digest)) !== digest) corruptManifests.push(digest)
    }
    if (page.length < 500) break
    after = page[page.length - 1]!.digest
  }

  const sessions = await metadata.listUploads()
  const sessionIds = new Set(sessions.map((s) => s.id))
  const uploadFiles = new Set<string>()
  for await (const id of store.listUploads()) uploadFiles.add(id)
  const filesWithoutSession = [...uploadFiles].filter((id) => !sessionIds.has(id))
  const sessionsWithoutFile = sessions.filter((s) => !uploadFiles.has(s.id))

  if (options.repair) {
    for (const digest of orphanFiles) await store.deleteBlob(digest as Digest)
    const bad = [...missingBlobs, ...corruptBlobs.map((c) => c.digest)] as Digest[]
    await metadata.forgetBlobs(bad)
    for (const { digest } of corruptBlobs) await store.deleteBlob(digest as Digest)
    for (const id of filesWithoutSession) await store.deleteUpload(id)
    for (const session of sessionsWithoutFile) await metadata.deleteUpload(session.id)
  }
  // Dangling rows are counted after blob repairs, which can create some (links of forgotten blobs are removed with them).
  const dangling = await metadata.findDanglingRows()
  if (options.repair) await metadata.removeDanglingRows()
  const isCached = options.isCached ?? ((): boolean => false)
  const missingReferences = dangling.missingReferences.filter((r) => !isCached(r.repo))
  const notYetCached = dangling.missingReferences.length - missingReferences.length
  const ok = missingBlobs.length + corruptBlobs.length + orphanFiles.length + corruptManifests.length
    + dangling.linksWithoutBlob.length + dangling.tagsWithoutManifest.length + missingReferences.length
    + filesWithoutSession.length + sessionsWithoutFile.length === 0
  return {
    blobsChecked: seen.size,
    bytesVerified,
    manifestsChecked,
    missingBlobs,
    corruptBlobs,
    orphanFiles,
    corruptManifests,
    linksWithoutBlob: dangling.linksWithoutBlob.length,
    tagsWithoutManifest: dangling.tagsWithoutManifest.length,
    missingReferences,
    notYetCached,
    uploadFilesWithoutSession: filesWithoutSession.length,
    uploadSessionsWithoutFile: sessionsWithoutFile.length,
    repaired: options.repair,
    ok,
  }
}
