import type { Readable } from 'node:stream'
import type { RequestContext } from '../context/request-context.js'
import { RegistryError, isRegistryError } from '../errors/registry-error.js'
import { isDigest, type Digest } from '../oci/digest.js'
import type { RepoName, Tag } from '../oci/names.js'
import type { Registry } from '../registry/registry.js'
import { invalidArchive, planImport, type ArchiveContents, type ImportPlan } from './archive-plan.js'
import type { ImageImporter, ImportedImage, ImportProgress, ImportRequest, ImportResult } from './archive-types.js'
import { Staging } from './staging.js'
import { readTar, TarError, type TarEntry } from './tar-reader.js'

/** Small JSON files of an archive, read whole; nothing else is ever held in memory. */
const METADATA_FILES = new Set(['manifest.json', 'index.json', 'oci-layout', 'repositories'])
/** Files of legacy `docker save` that no image needs (v1 layer metadata). */
const IGNORED_FILE = /^[^/]+\/(?:json|VERSION)$/
const BLOB_PATH = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/

export interface ArchiveImporterOptions {
  /** Cap of a manifest and of each metadata file (manifest.json, index.json): the server's manifest limit. */
  readonly manifestMaxBytes: number
}

/**
 * Imports `docker save` archives and OCI layouts in a tar. The archive is read once: every file
 * that may be a blob streams into an upload session (hashed; OCI blobs checked against their
 * names), metadata is read under a cap. Only then is the import planned and checked (every
 * referenced blob present, sizes right), blobs committed, manifests put through the registry
 * (children first, so all its rules and events apply) and tags set. A failure at any point removes
 * what was staged or stored by this import.
 */
export class ArchiveImporter implements ImageImporter {
  private readonly registry: Registry
  private readonly options: ArchiveImporterOptions

  constructor(registry: Registry, options: ArchiveImporterOptions) {
    this.registry = registry
    this.options = options
  }

  async import(ctx: RequestContext, archive: Readable | AsyncIterable<Uint8Array>, request: ImportRequest, onProgress?: (progress: ImportProgress) => void): Promise<ImportResult> {
    const staging = new Staging(this.registry, ctx, request.repository)
    const undo: Array<() => Promise<unknown>> = []
    try {
      const contents = await this.read(archive, staging, onProgress)
      const plan = await planImport({
        contents, repository: request.repository, manifestMaxBytes: this.options.manifestMaxBytes,
        read: (file) => staging.read(file),
        present: async (digest) => await this.registry.metadata.getRepositoryBlob(request.repository, digest) !== undefined,
      })
      const images = this.tagsOf(plan, request.tags)
      await this.store(ctx, request.repository, plan, images, staging, undo)
      return {
        repository: request.repository, format: plan.format, images,
        blobs: { count: plan.blobs.size, bytes: [...plan.blobs.values()].reduce((sum, file) => sum + file.size, 0) },
      }
    } catch (err) {
      // Newest first: tags and indexes before what they reference.
      for (const step of undo.reverse()) await step().catch(() => undefined)
      throw asRegistryError(err)
    } finally {
      await staging.discard()
    }
  }

  /** Reads the whole archive: metadata in memory (capped), every other file staged. */
  private async read(archive: AsyncIterable<Uint8Array>, staging: Staging, onProgress?: (progress: ImportProgress) => void): Promise<ArchiveContents> {
    const contents: ArchiveContents = { metadata: new Map(), files: new Map(), links: new Map() }
    let bytes = 0
    const counted = async function* (): AsyncIterable<Uint8Array> {
      for await (const chunk of archive) {
        bytes += chunk.byteLength
        yield chunk
      }
    }
    for await (const entry of readTar(counted())) {
      if (entry.type === 'symlink' || entry.type === 'hardlink') contents.links.set(entry.path, entry.linkTarget!)
      else if (entry.type === 'file') await this.readFile(entry, contents, staging)
      onProgress?.({ bytes, blobs: contents.files.size })
    }
    onProgress?.({ bytes, blobs: contents.files.size })
    return contents
  }

  private async readFile(entry: TarEntry, contents: ArchiveContents, staging: Staging): Promise<void> {
    if (METADATA_FILES.has(entry.path)) {
      if (entry.size > this.options.manifestMaxBytes) {
        throw new RegistryError('SIZE_INVALID', { message: `${entry.path} of ${entry.size} bytes exceeds the limit of ${this.options.manifestMaxBytes}`, detail: { path: entry.path, size: entry.size, limit: this.options.manifestMaxBytes } })
      }
      const parts: Uint8Array[] = []
      for await (const chunk of entry.body) parts.push(chunk)
      contents.metadata.set(entry.path, Buffer.concat(parts))
      return
    }
    if (IGNORED_FILE.test(entry.path)) return
    const named = BLOB_PATH.exec(entry.path)
    const expected = named !== null ? `${named[1]}:${named[2]}` : undefined
    if (expected !== undefined && !isDigest(expected)) throw invalidArchive(`${entry.path} is no digest name`, { path: entry.path })
    const file = await staging.stage(entry.body, expected as Digest | undefined)
    if (expected !== undefined && file.digest !== expected) {
      throw new RegistryError('DIGEST_INVALID', { message: `${entry.path} does not match its digest name`, detail: { path: entry.path, expected, actual: file.digest } })
    }
    contents.files.set(entry.path, file)
  }

  /** The tags each top-level image gets: the request's (one image only), else the archive's own. */
  private tagsOf(plan: ImportPlan, requested: readonly Tag[]): ImportedImage[] {
    if (requested.length > 0) {
      if (plan.images.length !== 1) {
        throw new RegistryError('TAG_INVALID', { message: `the archive holds ${plan.images.length} images: tags can be given for an archive of one image only`, detail: { images: plan.images.map((image) => image.digest) } })
      }
      return [{ digest: plan.images[0]!.digest, mediaType: plan.images[0]!.mediaType, tags: [...new Set(requested)] }]
    }
    const claimed = new Set<Tag>()
    return plan.images.map((image) => {
      // A tag named by two images goes to the first.
      const tags = image.archiveTags.filter((tag) => !claimed.has(tag))
      tags.forEach((tag) => claimed.add(tag))
      return { digest: image.digest, mediaType: image.mediaType, tags }
    })
  }

  /** Commits blobs, puts manifests (children first), then sets tags; records how to undo each step. */
  private async store(ctx: RequestContext, repo: RepoName, plan: ImportPlan, images: readonly ImportedImage[], staging: Staging, undo: Array<() => Promise<unknown>>): Promise<void> {
    const { metadata, manifests } = this.registry
    for (const [digest, file] of plan.blobs) {
      const linked = await metadata.getRepositoryBlob(repo, digest) !== undefined
      await staging.commit(file)
      if (!linked) undo.push(() => metadata.unlinkBlob(repo, digest))
    }
    for (const manifest of plan.manifests) {
      const existed = await metadata.findManifest(repo, { digest: manifest.digest }) !== undefined
      await manifests.put(ctx, repo, { digest: manifest.digest }, manifest.mediaType, manifest.body, [])
      if (!existed) undo.push(() => metadata.deleteManifest(repo, manifest.digest))
    }
    for (const image of images) {
      if (image.tags.length === 0) continue
      const fresh = (await Promise.all(image.tags.map(async (tag) => await metadata.findManifest(repo, { tag }) === undefined ? tag : undefined))).filter((tag) => tag !== undefined)
      const body = plan.manifests.find((m) => m.digest === image.digest)!.body
      await manifests.put(ctx, repo, { digest: image.digest }, image.mediaType, body, image.tags)
      undo.push(() => Promise.all(fresh.map((tag) => metadata.deleteTag(repo, tag))))
    }
  }
}

function asRegistryError(err: unknown): unknown {
  if (isRegistryError(err)) return err
  if (err instanceof TarError) return new RegistryError('BLOB_UPLOAD_INVALID', { message: `invalid archive: ${err.message}`, detail: { reason: err.message } })
  return err
}
