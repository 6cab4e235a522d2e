import type { Readable, Writable } from 'node:stream'
import type { RequestContext } from '../context/request-context.js'
import type { Digest } from '../oci/digest.js'
import type { RepoName, Tag } from '../oci/names.js'

/**
 * Image archives in and out of the registry: what `docker save`, `podman save`, `skopeo copy
 * oci-archive:` and `tar -C layout -c .` make, and what `docker load` and `podman load` read.
 * Both directions stream: an archive is never held in memory, every blob is verified against its
 * digest, and an import that fails leaves nothing behind (no tag, no manifest, no blob link).
 */

/** What an archive turned out to be. */
export type ArchiveFormat =
  /** `docker save` before Docker 25: manifest.json, <id>/layer.tar or blobs/sha256/, no manifests inside. */
  | 'docker'
  /** An OCI image layout (oci-layout, index.json, blobs/) in a tar: `oci-archive`, `docker save` from 25 on. */
  | 'oci'

export interface ImportRequest {
  readonly repository: RepoName
  /**
   * Tags to set on the archive's image. Empty: the archive's own tags (manifest.json's RepoTags,
   * `org.opencontainers.image.ref.name`) that name `repository` or have no repository part;
   * an archive without any is imported untagged (by digest).
   */
  readonly tags: readonly Tag[]
}

export interface ImportProgress {
  /** Archive bytes read so far. */
  readonly bytes: number
  /** Blobs verified and staged so far. */
  readonly blobs: number
}

export interface ImportedImage {
  readonly digest: Digest
  readonly mediaType: string
  readonly tags: readonly Tag[]
}

export interface ImportResult {
  readonly repository: RepoName
  readonly format: ArchiveFormat
  /** The top-level manifests the archive named, each as stored (digests as in the archive where it held manifests). */
  readonly images: readonly ImportedImage[]
  readonly blobs: { readonly count: number; readonly bytes: number }
}

/** Export formats: `oci` is an OCI layout in a tar; `docker` adds manifest.json for `docker load` (both loaders read it). */
export type ExportFormat = 'oci' | 'docker'

export interface ExportRequest {
  readonly repository: RepoName
  readonly reference: { readonly tag: Tag } | { readonly digest: Digest }
  readonly format: ExportFormat
  /**
   * For `docker` from an index: the platform whose image manifest.json names (`os/arch[/variant]`),
   * default linux/amd64 or the index's only image. The OCI part always holds the whole index.
   */
  readonly platform?: string
  /**
   * The registry's host as clients name it (`registry.example:5000`): image names in the archive
   * (io.containerd.image.name, manifest.json's RepoTags) are `<host>/<repository>:<tag>`, so a
   * loaded image has the name it is pulled by. Absent: the bare repository name.
   */
  readonly host?: string
}

/** An export resolved and found complete; `write` streams exactly `size` bytes into the sink (never ending it). */
export interface PreparedExport {
  /** A safe file name for the archive: `<repository>_<tag>.tar`, '/' and other characters as '_'. */
  readonly fileName: string
  readonly size: number
  write(sink: Writable): Promise<void>
}

export interface ImageImporter {
  /** Reads `archive` to its end; rejects with a RegistryError (MANIFEST_INVALID, DIGEST_INVALID, ...) and stages nothing on any failure. */
  import(ctx: RequestContext, archive: Readable, request: ImportRequest, onProgress?: (progress: ImportProgress) => void): Promise<ImportResult>
}

export interface ImageExporter {
  /** Resolves what would be written (so HTTP can answer 404 before any byte); `write` then streams it. */
  prepare(ctx: RequestContext, request: ExportRequest): Promise<PreparedExport>
}
