import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3'
import type { Bucket } from './bucket.js'

/** Part copies in flight at once during an assembly. */
const COPY_CONCURRENCY = 4

/**
 * Makes the object `target` from the objects `sources` in order, copied inside the bucket (no
 * byte passes through this process): an empty object for none, one CopyObject for one, else a
 * multipart upload of one UploadPartCopy per source. Every source but the last must hold at least
 * 5 MiB (S3's minimum part size), as full upload parts do.
 */
export async function assembleObject(bucket: Bucket, sources: readonly string[], target: string): Promise<void> {
  if (sources.length === 0) {
    await bucket.put(target, new Uint8Array(0), 0)
    return
  }
  const { client, name } = bucket
  if (sources.length === 1) {
    await bucket.call('CopyObject', target, () => client.send(new CopyObjectCommand({ Bucket: name, Key: target, CopySource: copySource(name, sources[0]!) })))
    return
  }
  const created = await bucket.call('CreateMultipartUpload', target, () => client.send(new CreateMultipartUploadCommand({ Bucket: name, Key: target })))
  const uploadId = created?.UploadId
  if (uploadId === undefined) throw new Error(`S3 CreateMultipartUpload of s3://${name}/${target} gave no upload id`)
  try {
    const etags: string[] = new Array<string>(sources.length)
    let next = 0
    const copier = async (): Promise<void> => {
      for (let i = next++; i < sources.length; i = next++) {
        const out = await bucket.call('UploadPartCopy', target, () => client.send(new UploadPartCopyCommand({
          Bucket: name, Key: target, UploadId: uploadId, PartNumber: i + 1, CopySource: copySource(name, sources[i]!),
        })))
        etags[i] = out?.CopyPartResult?.ETag ?? ''
      }
    }
    await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, sources.length) }, copier))
    await bucket.call('CompleteMultipartUpload', target, () => client.send(new CompleteMultipartUploadCommand({
      Bucket: name, Key: target, UploadId: uploadId,
      MultipartUpload: { Parts: etags.map((etag, i) => ({ PartNumber: i + 1, ETag: etag })) },
    })))
  } catch (err) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: name, Key: target, UploadId: uploadId })).catch(() => undefined)
    throw err
  }
}

/** x-amz-copy-source: bucket/key, URL-encoded with the slashes kept. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`
}
