import type { Writable } from 'node:stream'
import type { RequestContext } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import { createDigester, digestAlgorithm, digestHex, type Digest } from '../oci/digest.js'
import { parseManifest } from '../oci/manifest.js'
import type { BlobService } from '../registry/blobs.js'
import type { ManifestService } from '../registry/manifests.js'
import type { ExportRequest, ImageExporter, PreparedExport } from './archive-types.js'
import { dockerArchiveFiles } from './docker-archive.js'
import { blobPath, jsonFile, type SmallFile } from './oci-layout.js'
import { tarSize, TarWriter, type TarEntryHead } from './tar-writer.js'

/** A blob of the archive: a manifest (its bytes, already read) or a blob streamed from the store. */
interface ArchiveBlob {
  readonly digest: Digest
  readonly size: number
  readonly mediaType: string
  readonly body?: Buffer
}

/**
 * Image archives out of the registry: an OCI image layout in a tar (`oci`), plus Docker's
 * manifest.json and repositories for `docker load` (`docker`). Everything is resolved, and every
 * manifest and blob found present, before the first byte; blobs then stream from the store, each
 * once, checked against its digest on the way.
 */
export class OciArchiveExporter implements ImageExporter {
  private readonly manifests: ManifestService
  private readonly blobs: BlobService

  constructor(registry: { readonly manifests: ManifestService; readonly blobs: BlobService }) {
    this.manifests = registry.manifests
    this.blobs = registry.blobs
  }

  async prepare(ctx: RequestContext, request: ExportRequest): Promise<PreparedExport> {
    const repo = request.repository
    const top = await this.manifests.get(ctx, repo, request.reference)
    const blobs = new Map<Digest, ArchiveBlob>()
    await this.collect(ctx, request, { digest: top.record.digest, size: top.record.size, mediaType: top.record.mediaType, body: top.body }, blobs)

    const tag = 'tag' in request.reference ? request.reference.tag : undefined
    const fullName = request.host !== undefined && request.host !== '' ? `${request.host}/${repo}` : repo
    const annotations: Record<string, string> = { 'io.containerd.image.name': tag !== undefined ? `${fullName}:${tag}` : `${fullName}@${top.record.digest}` }
    if (tag !== undefined) annotations['org.opencontainers.image.ref.name'] = tag
    const small: SmallFile[] = [
      jsonFile('oci-layout', { imageLayoutVersion: '1.0.0' }),
      jsonFile('index.json', {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: top.record.mediaType, digest: top.record.digest, size: top.record.size, annotations }],
      }),
    ]
    if (request.format === 'docker') {
      small.push(...dockerArchiveFiles({ top: blobs.get(top.record.digest)!, blobs, fullName, tag, ...(request.platform !== undefined ? { platform: request.platform } : {}) }))
    }

    const ordered = [...blobs.values()]
    const directories = [...new Set(ordered.map((blob) => `blobs/${digestAlgorithm(blob.digest)}/`))]
    const heads: TarEntryHead[] = [
      { name: 'blobs/', size: 0 },
      ...directories.map((name) => ({ name, size: 0 })),
      ...ordered.map((blob) => ({ name: blobPath(blob.digest), size: blob.size })),
      ...small.map((file) => ({ name: file.name, size: file.data.length })),
    ]
    const safe = (text: string): string => text.replace(/[^A-Za-z0-9._-]+/g, '_')
    const fileName = `${safe(repo)}_${tag !== undefined ? safe(tag) : safe(digestHex(top.record.digest).slice(0, 12))}.tar`
    return {
      fileName,
      size: tarSize(heads),
      write: async (sink: Writable) => {
        const tar = new TarWriter(sink)
        await tar.directory('blobs/')
        for (const directory of directories) await tar.directory(directory)
        for (const blob of ordered) await this.writeBlob(ctx, request, tar, blob)
        for (const file of small) await tar.file(file.name, file.data.length, file.data)
        await tar.end()
      },
    }
  }

  /** Adds `blob` and (for a manifest) all it references, depth first; a missing one throws before anything is written. */
  private async collect(ctx: RequestContext, request: ExportRequest, blob: ArchiveBlob, into: Map<Digest, ArchiveBlob>): Promise<void> {
    if (into.has(blob.digest)) return
    into.set(blob.digest, blob)
    if (blob.body === undefined) return
    for (const reference of parseManifest(blob.body, blob.mediaType).references) {
      if (into.has(reference.digest)) continue
      // Foreign layers (urls) are not the registry's to give; loaders fetch them from their urls.
      if (reference.kind === 'external') continue
      if (reference.kind === 'manifest') {
        const child = await this.manifests.get(ctx, request.repository, { digest: reference.digest })
        await this.collect(ctx, request, { digest: child.record.digest, size: child.record.size, mediaType: child.record.mediaType, body: child.body }, into)
      } else {
        const stat = await this.blobs.stat(ctx, request.repository, reference.digest)
        into.set(reference.digest, { digest: reference.digest, size: stat.size, mediaType: reference.mediaType })
      }
    }
  }

  private async writeBlob(ctx: RequestContext, request: ExportRequest, tar: TarWriter, blob: ArchiveBlob): Promise<void> {
    const name = blobPath(blob.digest)
    if (blob.body !== undefined) return tar.file(name, blob.size, blob.body)
    const { stream } = await this.blobs.open(ctx, request.repository, blob.digest)
    try {
      await tar.file(name, blob.size, verified(stream, blob.digest))
    } finally {
      // Closed whatever happened (the client left, the sink failed): no file handle outlives the export.
      stream.destroy()
    }
  }
}

/**
 * The stored bytes, checked against their digest: the last chunk is held back until the digest
 * is known, so a damaged blob never arrives whole (the download ends short of its Content-Length).
 */
async function* verified(source: AsyncIterable<Uint8Array>, digest: Digest): AsyncIterable<Uint8Array> {
  const digester = createDigester(digestAlgorithm(digest))
  let held: Uint8Array | undefined
  for await (const chunk of source) {
    digester.update(chunk)
    if (held !== undefined) yield held
    held = chunk
  }
  const actual = digester.digest()
  if (actual !== digest) throw new RegistryError('UNKNOWN', { message: 'stored blob does not match its digest', detail: { digest, actual } })
  if (held !== undefined) yield held
}
