import { GetObjectCommand } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { Readable } from 'node:stream'
import { isDigest, type Digest } from '../oci/digest.js'
import type { ByteRange } from '../oci/range.js'
import { BlobNotFoundError, UploadNotFoundError, type BlobStore } from './blob-store.js'
import { assembleObject } from './s3/assemble.js'
import { Bucket, type BucketOptions } from './s3/bucket.js'
import { appendToUpload } from './s3/upload-append.js'
import { emptyState, readState, UploadKeys, writeState } from './s3/upload-state.js'

const MiB = 1024 * 1024
/** S3's smallest part of a multipart upload (all but the last). */
const MIN_PART_SIZE = 5 * MiB

export interface S3BlobStoreOptions extends BucketOptions {
  /** Prepended to every key, e.g. "wharf/" (a missing trailing slash is added). */
  readonly prefix?: string
  /** Local directory for the part an append is filling; default os.tmpdir(). */
  readonly bufferDirectory?: string
  /** Bytes per upload part object; default 8 MiB, at least 5 MiB. */
  readonly partSize?: number
  /** Keys per ListObjectsV2 page; default 1000. */
  readonly listPageSize?: number
}

/**
 * Blobs and uploads as objects in one S3 bucket:
 *   <prefix>blobs/<alg>/<hex>     one object per blob, written once by commitUpload
 *   <prefix>uploads/<id>/...      an upload's state, full parts and tail (see s3/upload-state.ts)
 * Every node sharing the bucket can continue, read and commit any upload: nothing about an
 * upload lives in one process, and no upload is held in memory (parts fill a local file).
 */
export class S3BlobStore implements BlobStore {
  private readonly bucket: Bucket
  private readonly prefix: string
  private readonly uploads: UploadKeys
  private readonly partSize: number
  private readonly listPageSize: number
  private readonly bufferDirectory: string

  private constructor(options: S3BlobStoreOptions) {
    const prefix = options.prefix ?? ''
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`
    this.partSize = options.partSize ?? 8 * MiB
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_SIZE) throw new Error(`S3 partSize must be at least ${MIN_PART_SIZE} bytes (5 MiB)`)
    this.listPageSize = options.listPageSize ?? 1000
    if (!Number.isSafeInteger(this.listPageSize) || this.listPageSize < 1 || this.listPageSize > 1000) throw new Error('S3 listPageSize must be 1 to 1000')
    this.bufferDirectory = options.bufferDirectory ?? tmpdir()
    this.bucket = new Bucket(options)
    this.uploads = new UploadKeys(`${this.prefix}uploads/`)
  }

  /** Opens the store after checking that the bucket answers to these credentials. */
  static async open(options: S3BlobStoreOptions): Promise<S3BlobStore> {
    const store = new S3BlobStore(options)
    try {
      await store.bucket.check()
    } catch (err) {
      store.bucket.close()
      throw err
    }
    return store
  }

  private blobKey(digest: Digest): string {
    const [algorithm, hex] = digest.split(':') as [string, string]
    return `${this.prefix}blobs/${algorithm}/${hex}`
  }

  async createUpload(id: string): Promise<void> {
    await writeState(this.bucket, this.uploads, id, emptyState(this.partSize), undefined)
  }

  async writeUpload(id: string, source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<number> {
    await this.createUpload(id)
    return this.appendUpload(id, source, signal)
  }

  async appendUpload(id: string, source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<number> {
    return appendToUpload({ bucket: this.bucket, keys: this.uploads, bufferDirectory: this.bufferDirectory }, id, source, signal)
  }

  async uploadSize(id: string): Promise<number | undefined> {
    return (await readState(this.bucket, this.uploads, id))?.state.size
  }

  async readUpload(id: string): Promise<Readable> {
    const current = await readState(this.bucket, this.uploads, id)
    if (current === undefined) throw new UploadNotFoundError(id)
    const keys = this.uploads.objects(id, current.state)
    const bucket = this.bucket
    async function* bytes(): AsyncIterable<Uint8Array> {
      for (const key of keys) {
        const got = await bucket.get(key)
        if (got === undefined) throw new Error(`upload ${id}: s3://${bucket.name}/${key} is gone (committed or cancelled meanwhile)`)
        yield* got.body as AsyncIterable<Uint8Array>
      }
    }
    return Readable.from(bytes(), { objectMode: false })
  }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    const current = await readState(this.bucket, this.uploads, id)
    if (current === undefined) throw new UploadNotFoundError(id)
    const target = this.blobKey(digest)
    // Content-addressed: a blob that exists already has these bytes.
    if (await this.bucket.head(target) === undefined) await assembleObject(this.bucket, this.uploads.objects(id, current.state), target)
    await this.deleteUpload(id)
  }

  /** The state goes first, so the upload is gone at once; its objects follow, a page at a time. */
  async deleteUpload(id: string): Promise<void> {
    await this.bucket.delete(this.uploads.state(id))
    const folder = this.uploads.folder(id)
    let page: string[] = []
    for await (const object of this.bucket.list(folder, this.listPageSize)) {
      page.push(object.key)
      if (page.length === this.listPageSize) {
        await this.bucket.deleteMany(page)
        page = []
      }
    }
    await this.bucket.deleteMany(page)
  }

  /** Ids with any object under uploads/: open uploads and leftovers of interrupted deletes. */
  async *listUploads(): AsyncIterable<string> {
    for await (const folder of this.bucket.list(this.uploads.all, this.listPageSize, '/')) {
      const id = this.uploads.idOf(folder.key)
      if (id !== undefined) yield id
    }
  }

  async blobSize(digest: Digest): Promise<number | undefined> {
    return (await this.bucket.head(this.blobKey(digest)))?.size
  }

  async blobInfo(digest: Digest): Promise<{ readonly size: number; readonly modifiedAt: Date } | undefined> {
    return this.bucket.head(this.blobKey(digest))
  }

  async readBlob(digest: Digest, range?: ByteRange): Promise<Readable> {
    const got = await this.bucket.get(this.blobKey(digest), range)
    if (got === undefined) throw new BlobNotFoundError(digest)
    return got.body
  }

  async deleteBlob(digest: Digest): Promise<void> {
    await this.bucket.delete(this.blobKey(digest))
  }

  async *listBlobs(): AsyncIterable<{ readonly digest: Digest; readonly size: number; readonly modifiedAt: Date }> {
    const root = `${this.prefix}blobs/`
    // Anything that is not <alg>/<hex> (objects put there by hand) is skipped.
    for await (const object of this.bucket.list(root, this.listPageSize)) {
      const digest = object.key.slice(root.length).replace('/', ':')
      if (isDigest(digest)) yield { digest: digest as Digest, size: object.size, modifiedAt: object.modifiedAt }
    }
  }

  async *listBlobDigests(): AsyncIterable<Digest> {
    for await (const blob of this.listBlobs()) yield blob.digest
  }

  /** PUTs and DELETEs a small object beside blobs/ and uploads/, never inside them. */
  async probeWritable(): Promise<void> {
    const key = `${this.prefix}.write-probe-${process.pid}-${randomBytes(4).toString('hex')}`
    await this.bucket.put(key, 'probe', 5)
    await this.bucket.delete(key)
  }

  async presignBlob(digest: Digest, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.bucket.client, new GetObjectCommand({ Bucket: this.bucket.name, Key: this.blobKey(digest) }), { expiresIn: expiresInSeconds })
  }

  async close(): Promise<void> {
    this.bucket.close()
  }
}
