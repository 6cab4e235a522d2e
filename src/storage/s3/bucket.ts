import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import type { Readable } from 'node:stream'

/** Where a bucket is and how to sign for it. */
export interface BucketOptions {
  /** The S3 endpoint, e.g. http://127.0.0.1:7480 for radosgw; omitted for AWS itself. */
  readonly endpoint?: string
  readonly bucket: string
  readonly region: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  /** bucket in the path rather than the host name (radosgw, MinIO). */
  readonly forcePathStyle?: boolean
}

export function createS3Client(options: BucketOptions): S3Client {
  const config: S3ClientConfig = {
    region: options.region,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    forcePathStyle: options.forcePathStyle ?? false,
    // Checksums on every request make the SDK send streamed bodies chunked, which radosgw answers with 411.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
  }
  return new S3Client(config)
}

/** An object as listed: key, size, last modification. */
export interface ListedObject {
  readonly key: string
  readonly size: number
  readonly modifiedAt: Date
}

/** A condition on a PUT: the object must not exist ('absent'), or must still have this ETag. */
export type PutCondition = { readonly ifAbsent: true } | { readonly ifEtag: string }

/** A failed S3 call, with S3's (or Node's) error code and the HTTP status when there was an answer. */
export class S3RequestError extends Error {
  constructor(message: string, readonly code: string, readonly status: number | undefined) {
    super(message)
    this.name = 'S3RequestError'
  }

  /** Worth another try: no answer at all, a timeout, throttling or a server error. */
  get transient(): boolean {
    return this.status === undefined || this.status === 408 || this.status === 429 || this.status >= 500
  }
}

/** Thrown when a conditional PUT finds the object absent or changed (HTTP 412). */
export class PreconditionFailedError extends Error {
  constructor(key: string) {
    super(`S3 object ${key} changed or exists`)
    this.name = 'PreconditionFailedError'
  }
}

/**
 * The object calls the blob store makes, with S3 errors turned into errors that name the bucket
 * and key (never the credentials): "missing" answers become undefined or false.
 */
export class Bucket {
  readonly client: S3Client
  readonly name: string

  constructor(options: BucketOptions) {
    this.client = createS3Client(options)
    this.name = options.bucket
  }

  /** Rejects with a clear error when the bucket is unreachable, missing or the keys are refused. */
  async check(): Promise<void> {
    await this.call('HeadBucket', '', () => this.client.send(new HeadBucketCommand({ Bucket: this.name })))
  }

  /** The object's bytes (or an inclusive range of them) as a stream; undefined when absent. */
  async get(key: string, range?: { readonly start: number; readonly end: number }, signal?: AbortSignal): Promise<{ body: Readable; etag: string | undefined } | undefined> {
    const out = await this.call('GetObject', key, () => this.client.send(new GetObjectCommand({
      Bucket: this.name, Key: key, ...(range !== undefined ? { Range: `bytes=${range.start}-${range.end}` } : {}),
    }), signal !== undefined ? { abortSignal: signal } : {}), isMissingKey)
    if (out === undefined) return undefined
    // In Node the SDK's body is the response stream itself (an IncomingMessage).
    return { body: out.Body as Readable, etag: out.ETag }
  }

  async head(key: string): Promise<{ size: number; modifiedAt: Date } | undefined> {
    const out = await this.call('HeadObject', key, () => this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key })), isMissingKey)
    if (out === undefined) return undefined
    return { size: out.ContentLength ?? 0, modifiedAt: out.LastModified ?? new Date(0) }
  }

  /**
   * Writes an object of `length` bytes (ContentLength is always sent); resolves with its ETag.
   * With `contentMd5` (base64), S3 refuses a body whose MD5 differs (BadDigest).
   */
  async put(key: string, body: Readable | Uint8Array | string, length: number, condition?: PutCondition, signal?: AbortSignal, contentMd5?: string): Promise<string | undefined> {
    const out = await this.call('PutObject', key, () => this.client.send(new PutObjectCommand({
      Bucket: this.name, Key: key, Body: body, ContentLength: length,
      ...(contentMd5 !== undefined ? { ContentMD5: contentMd5 } : {}),
      ...(condition !== undefined && 'ifAbsent' in condition ? { IfNoneMatch: '*' } : {}),
      // Unquoted: radosgw compares If-Match with the bare ETag and refuses the quoted form.
      ...(condition !== undefined && 'ifEtag' in condition ? { IfMatch: condition.ifEtag.replaceAll('"', '') } : {}),
    }), signal !== undefined ? { abortSignal: signal } : {}), undefined, condition !== undefined)
    return out?.ETag
  }

  /** Deleting an absent object is not an error (S3 answers 204 either way). */
  async delete(key: string): Promise<void> {
    await this.call('DeleteObject', key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key })))
  }

  /** Deletes up to 1000 objects in one request. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return
    const out = await this.call(`DeleteObjects (${keys.length} keys)`, keys[0]!, () => this.client.send(new DeleteObjectsCommand({
      Bucket: this.name, Delete: { Objects: keys.map((key) => ({ Key: key })), Quiet: true },
    })))
    const failed = (out?.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey')
    if (failed.length > 0) throw new Error(`S3 DeleteObjects in bucket ${this.name} failed for ${failed[0]!.Key}: ${failed[0]!.Code ?? 'unknown error'}`)
  }

  /**
   * Objects under `prefix`, one page of `pageSize` keys at a time. With `delimiter`, the common
   * prefixes (one level of "folders") come as keys ending in the delimiter, size 0.
   */
  async *list(prefix: string, pageSize: number, delimiter?: string): AsyncIterable<ListedObject> {
    let token: string | undefined
    do {
      const out = await this.call('ListObjectsV2', prefix, () => this.client.send(new ListObjectsV2Command({
        Bucket: this.name, Prefix: prefix, MaxKeys: pageSize,
        ...(delimiter !== undefined ? { Delimiter: delimiter } : {}),
        ...(token !== undefined ? { ContinuationToken: token } : {}),
      })))
      for (const folder of out?.CommonPrefixes ?? []) {
        if (folder.Prefix !== undefined) yield { key: folder.Prefix, size: 0, modifiedAt: new Date(0) }
      }
      for (const object of out?.Contents ?? []) {
        if (object.Key !== undefined) yield { key: object.Key, size: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) }
      }
      token = out?.IsTruncated === true ? out.NextContinuationToken : undefined
    } while (token !== undefined)
  }

  /**
   * Runs one S3 call. Errors become an Error naming the operation, bucket and key; those `missing`
   * accepts resolve undefined; with `conditional`, HTTP 412 becomes PreconditionFailedError.
   */
  async call<T>(operation: string, key: string, send: () => Promise<T>, missing?: (err: unknown) => boolean, conditional = false): Promise<T | undefined> {
    try {
      return await send()
    } catch (err) {
      if (missing?.(err) === true) return undefined
      if (conditional && statusOf(err) === 412) throw new PreconditionFailedError(key)
      throw this.describe(operation, key, err)
    }
  }

  /** An Error for a failed call: operation, s3://bucket/key, the S3 code and HTTP status. */
  describe(operation: string, key: string, err: unknown): Error {
    if (isAbort(err)) return err as Error
    const e = err as { name?: string; Code?: string; message?: string; code?: string }
    const status = statusOf(err)
    // S3's error code, else Node's (ECONNREFUSED), else the class name.
    const code = e.Code ?? e.code ?? e.name ?? 'Error'
    // The SDK's message for radosgw's answers is often just "UnknownError": the code says more.
    const detail = e.message !== undefined && e.message !== 'UnknownError' && e.message !== code ? `: ${e.message}` : ''
    const hint = status === 403 ? ' (check the access key and secret key)' : ''
    return new S3RequestError(`S3 ${operation} of s3://${this.name}/${key} failed: ${code}${status !== undefined ? ` (HTTP ${status})` : ''}${detail}${hint}`, code, status)
  }

  close(): void {
    this.client.destroy()
  }
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode
}

/** NoSuchKey (GET) or a bare 404 (HEAD has no body); a missing bucket is never "missing key". */
function isMissingKey(err: unknown): boolean {
  const name = (err as { name?: string }).name
  return name === 'NoSuchKey' || (name === 'NotFound' && statusOf(err) === 404)
}

function isAbort(err: unknown): boolean {
  return (err as { name?: string }).name === 'AbortError'
}
