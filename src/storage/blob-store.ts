import type { Readable } from 'node:stream'
import type { Digest } from '../oci/digest.js'
import type { ByteRange } from '../oci/range.js'

/**
 * Content-addressed bytes: blobs keyed by digest and in-progress uploads keyed by session id.
 * The store knows nothing of repositories or tags. Any backend (filesystem now, object storage
 * later) implements this and passes test/storage/blob-store-contract.ts.
 */
export interface BlobStore {
  /** Creates an empty upload. */
  createUpload(id: string): Promise<void>
  /**
   * Appends every chunk of `source` to the upload and resolves with its new size. Bytes become
   * durable only at commitUpload; after a crash the upload's size says what survived. `signal`
   * stops the append at once, even while `source` has nothing to give (a stalled client): bytes
   * already written stay and the call rejects with the signal's reason.
   */
  appendUpload(id: string, source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<number>
  /**
   * Creates the upload `id` holding every byte of `source` (a whole blob in one request) and
   * resolves with its size; rejects when `id` exists. Same outcome as createUpload then appendUpload,
   * in fewer steps: a store may make the bytes durable here so that commitUpload has less to do.
   * On failure the upload may hold a prefix; the caller deletes it.
   */
  writeUpload(id: string, source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<number>
  /** Size of the upload, undefined when there is none. */
  uploadSize(id: string): Promise<number | undefined>
  /** Streams the upload's bytes (to re-hash an upload whose hash state was lost). */
  readUpload(id: string): Promise<Readable>
  /**
   * Makes the upload durable as the blob `digest` (the caller has verified the digest) and removes
   * the upload. When the blob already exists its bytes are kept and the upload is dropped.
   */
  commitUpload(id: string, digest: Digest): Promise<void>
  /** Removes an upload; an absent one is not an error. */
  deleteUpload(id: string): Promise<void>
  /** Ids of uploads present in the store (crash leftovers included). */
  listUploads(): AsyncIterable<string>

  /** Size of the blob, undefined when absent. */
  blobSize(digest: Digest): Promise<number | undefined>
  /** Streams a blob or an inclusive range of it; rejects with BlobNotFoundError when absent. */
  readBlob(digest: Digest, range?: ByteRange): Promise<Readable>
  /**
   * Opens a blob or an inclusive range of it for a caller that reads into its own buffers (no
   * stream, no buffer per chunk); rejects with BlobNotFoundError when absent. Optional: without
   * it callers use readBlob.
   */
  openBlobFile?(digest: Digest, range?: ByteRange): Promise<BlobFile>
  /**
   * A URL that fetches the blob with a plain HTTP GET, without credentials, until it expires after
   * `expiresInSeconds`: for redirecting clients to object storage. It does not check that the blob
   * exists. Optional: stores that cannot hand out such URLs leave it out and callers stream instead.
   */
  presignBlob?(digest: Digest, expiresInSeconds: number): Promise<string>
  /** Removes a blob; an absent one is not an error. */
  deleteBlob(digest: Digest): Promise<void>
  /** Every blob present with its size and modification time, for consistency checks. */
  listBlobs(): AsyncIterable<{ readonly digest: Digest; readonly size: number; readonly modifiedAt: Date }>
  /** Every blob present, digests only: the cheap listing for scans that look closer at few of them. */
  listBlobDigests(): AsyncIterable<Digest>
  /** Size and modification time of a blob, undefined when absent. */
  blobInfo(digest: Digest): Promise<{ readonly size: number; readonly modifiedAt: Date } | undefined>

  /**
   * Writes, fsyncs and removes a small file where the store keeps its own files: rejects when the
   * storage cannot take writes (read-only, full, gone). For readiness checks; absent: not checked.
   */
  probeWritable?(): Promise<void>

  close(): Promise<void>
}

/** An open blob (or range of one), read at offsets into the caller's buffers. Close it once done. */
export interface BlobFile {
  /** Bytes of the blob or range. */
  readonly length: number
  /** Reads up to `length` bytes at `offset` (counted from the range's start) into `buffer`; resolves with the count, 0 at the end. */
  read(buffer: Uint8Array, offset: number, length: number): Promise<number>
  close(): Promise<void>
}

export class BlobNotFoundError extends Error {
  readonly digest: string
  constructor(digest: string) {
    super(`blob ${digest} not found in storage`)
    this.name = 'BlobNotFoundError'
    this.digest = digest
  }
}

export class UploadNotFoundError extends Error {
  constructor(id: string) {
    super(`upload ${id} not found in storage`)
    this.name = 'UploadNotFoundError'
  }
}
