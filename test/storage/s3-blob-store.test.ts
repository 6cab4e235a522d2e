import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import type { Digest } from '../../src/oci/digest.js'
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/storage/s3-blob-store.js'
import { Bucket } from '../../src/storage/s3/bucket.js'
import { freeLowPort, radosgwForTest, type Radosgw } from '../support/radosgw.js'
import { chunksOf, digestOf, newUploadId, putBlob, readAll, runBlobStoreContract } from './blob-store-contract.js'

const MiB = 1024 * 1024

/** One radosgw for the whole file; each store gets a bucket of its own. */
const rgw = await radosgwForTest(t)

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-s3-buffers-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function storeOptions(rgw: Radosgw, bucket: string, extra: Partial<S3BlobStoreOptions> = {}): S3BlobStoreOptions {
  return {
    endpoint: rgw.endpoint, bucket, region: rgw.region, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey,
    forcePathStyle: true, partSize: 5 * MiB, ...extra,
  }
}

async function openStore(t: Test, rgw: Radosgw, bucket: string, extra: Partial<S3BlobStoreOptions> = {}): Promise<S3BlobStore> {
  const store = await S3BlobStore.open(storeOptions(rgw, bucket, { bufferDirectory: await tempDir(t), ...extra }))
  t.teardown(() => store.close())
  return store
}

/** Every key in the bucket, as the S3 API lists it. */
async function bucketKeys(rgw: Radosgw, bucket: string): Promise<string[]> {
  const raw = new Bucket(storeOptions(rgw, bucket))
  try {
    const keys: string[] = []
    for await (const object of raw.list('', 1000)) keys.push(object.key)
    return keys.sort()
  } finally {
    raw.close()
  }
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

if (rgw !== undefined) {
  t.test('BlobStore contract: S3BlobStore on radosgw (5 MiB parts)', async (t) => {
    runBlobStoreContract(t, async (sub) => openStore(sub, rgw, await rgw.createBucket()))
  })

  t.test('an upload started on one node is continued, re-read and committed on another', async (t) => {
    const bucket = await rgw.createBucket()
    const first = await openStore(t, rgw, bucket)
    const second = await openStore(t, rgw, bucket)
    const id = newUploadId()
    await first.createUpload(id)
    // 7 MiB: one full part and a 2 MiB tail; the second node's 4 MiB fill the tail into a part.
    const a = randomBytes(7 * MiB)
    const b = randomBytes(4 * MiB)
    t.equal(await first.appendUpload(id, chunksOf(a)), a.length)
    t.equal(await second.uploadSize(id), a.length, 'the second node sees the first one\'s bytes')
    t.equal(await second.appendUpload(id, chunksOf(b.subarray(0, 1000), b.subarray(1000))), a.length + b.length)
    t.equal(await first.uploadSize(id), a.length + b.length, 'and the first sees the second one\'s')
    const whole = Buffer.concat([a, b])
    const reread = await readAll(await second.readUpload(id))
    t.ok(reread.equals(whole), 'readUpload on the second node gives exactly the bytes of both appends')
    const digest = digestOf(whole)
    await second.commitUpload(id, digest)
    t.ok((await readAll(await first.readBlob(digest))).equals(whole), 'the first node reads the committed blob')
    t.equal(await first.uploadSize(id), undefined)
    t.same(await bucketKeys(rgw, bucket), [`blobs/sha256/${digest.slice(7)}`], 'nothing of the upload is left in the bucket')
  })

  t.test('an aborted append keeps every part stored before the abort, and its buffer file is gone', async (t) => {
    const bufferDirectory = await tempDir(t)
    const bucket = await rgw.createBucket()
    const store = await openStore(t, rgw, bucket, { bufferDirectory })
    const id = newUploadId()
    await store.createUpload(id)
    const data = randomBytes(14 * MiB)
    const controller = new AbortController()
    async function* source(): AsyncIterable<Uint8Array> {
      for (let offset = 0; offset < data.length; offset += MiB) {
        // After 12 MiB: two 5 MiB parts are stored and recorded, the third is being filled.
        if (offset === 12 * MiB) controller.abort(new Error('client gone'))
        yield data.subarray(offset, offset + MiB)
      }
    }
    await t.rejects(store.appendUpload(id, source(), controller.signal), { message: 'client gone' }, 'rejects with the signal\'s reason')
    t.equal(await store.uploadSize(id), 10 * MiB, 'the two recorded parts survive')
    t.same(await readdir(bufferDirectory), [], 'no buffer file left')
    t.equal(await store.appendUpload(id, chunksOf(data.subarray(10 * MiB))), data.length, 'continues from there')
    const digest = digestOf(data)
    await store.commitUpload(id, digest)
    t.ok((await readAll(await store.readBlob(digest))).equals(data))
    t.same(await bucketKeys(rgw, bucket), [`blobs/sha256/${digest.slice(7)}`], 'no part or tail left behind')
  })

  t.test('an upload cancelled on one node while another appends is not brought back by that append', async (t) => {
    const bucket = await rgw.createBucket()
    const appender = await openStore(t, rgw, bucket)
    const canceller = await openStore(t, rgw, bucket)
    const id = newUploadId()
    await appender.createUpload(id)
    async function* source(): AsyncIterable<Uint8Array> {
      yield randomBytes(6 * MiB)
      // Between two chunks of the append: one part is stored and recorded, 1 MiB is buffered.
      await canceller.deleteUpload(id)
      yield randomBytes(1000)
    }
    await t.rejects(appender.appendUpload(id, source()), { name: 'UploadNotFoundError' })
    t.equal(await canceller.uploadSize(id), undefined, 'still cancelled')
    t.same(await collect(canceller.listUploads()), [], 'not listed')
    t.same(await bucketKeys(rgw, bucket), [], 'the tail the append stored was removed again')
  })

  t.test('with a prefix every object lands under it, and a store without it sees none of them', async (t) => {
    const bucket = await rgw.createBucket()
    const store = await openStore(t, rgw, bucket, { prefix: 'tenant-a/wharf' })
    const digests = [await putBlob(store, randomBytes(100)), await putBlob(store, randomBytes(6 * MiB))]
    const open = newUploadId()
    await store.createUpload(open)
    await store.appendUpload(open, chunksOf(randomBytes(5 * MiB + 10)))
    await store.probeWritable()
    const keys = await bucketKeys(rgw, bucket)
    t.ok(keys.length >= 5, `objects stored: ${keys.join(', ')}`)
    t.ok(keys.every((key) => key.startsWith('tenant-a/wharf/')), 'every key starts with the prefix and its added slash')
    t.same(keys.filter((key) => key.includes('/blobs/')), digests.map((d) => `tenant-a/wharf/blobs/sha256/${d.slice(7)}`).sort())
    t.same(keys.filter((key) => key.includes('/uploads/')).map((key) => key.split('/').slice(0, 4).join('/')),
      keys.filter((key) => key.includes('/uploads/')).map(() => `tenant-a/wharf/uploads/${open}`), 'uploads/<id>/... under the prefix')
    const unprefixed = await openStore(t, rgw, bucket)
    t.same(await collect(unprefixed.listBlobs()), [], 'no blobs outside the prefix')
    t.same(await collect(unprefixed.listUploads()), [])
    t.same(await collect(store.listUploads()), [open])
  })

  t.test('listings page through ListObjectsV2: 2 keys a page lists all 5 blobs and uploads', async (t) => {
    const store = await openStore(t, rgw, await rgw.createBucket(), { listPageSize: 2 })
    const digests = new Set<Digest>()
    for (let i = 0; i < 5; i++) digests.add(await putBlob(store, randomBytes(10 + i)))
    const listed = await collect(store.listBlobs())
    t.equal(listed.length, 5)
    t.same(new Set(listed.map((b) => b.digest)), digests)
    t.same(new Set(await collect(store.listBlobDigests())), digests)
    const ids = Array.from({ length: 5 }, () => newUploadId())
    for (const id of ids) {
      await store.createUpload(id)
      await store.appendUpload(id, chunksOf(Buffer.from(id)))
    }
    t.same((await collect(store.listUploads())).sort(), [...ids].sort(), 'each upload once, though it has several objects')
  })

  t.test('a presigned URL fetched with plain HTTP gives the blob\'s bytes', async (t) => {
    const store = await openStore(t, rgw, await rgw.createBucket())
    const data = randomBytes(6 * MiB + 3)
    const digest = await putBlob(store, data)
    const url = await store.presignBlob(digest, 300)
    t.ok(url.startsWith(`${rgw.endpoint}/`), 'on the S3 endpoint')
    t.notOk(url.includes(rgw.secretAccessKey), 'the URL carries a signature, not the secret')
    const response = await fetch(url)
    t.equal(response.status, 200)
    t.ok(Buffer.from(await response.arrayBuffer()).equals(data), 'the blob\'s bytes')
    const unsigned = await fetch(url.split('?')[0]!)
    t.equal(unsigned.status, 403, 'the same URL without its signature is refused')
  })

  t.test('a 64 MiB upload streams through one part buffer and leaves no file in bufferDirectory', async (t) => {
    const bufferDirectory = await tempDir(t)
    const store = await openStore(t, rgw, await rgw.createBucket(), { bufferDirectory, partSize: 8 * MiB })
    const id = newUploadId()
    await store.createUpload(id)
    const hash = createHash('sha256')
    let buffersSeen = 0
    async function* bytes(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 64; i++) {
        const chunk = randomBytes(MiB)
        hash.update(chunk)
        if (i % 16 === 15) buffersSeen = Math.max(buffersSeen, (await readdir(bufferDirectory)).length)
        yield chunk
      }
    }
    t.equal(await store.appendUpload(id, bytes()), 64 * MiB)
    t.equal(buffersSeen, 1, 'one part buffer while the append runs')
    t.same(await readdir(bufferDirectory), [], 'none after it')
    const digest = `sha256:${hash.digest('hex')}` as Digest
    await store.commitUpload(id, digest)
    const blobHash = createHash('sha256')
    for await (const chunk of await store.readBlob(digest)) blobHash.update(chunk as Buffer)
    t.equal(`sha256:${blobHash.digest('hex')}`, digest, 'the blob assembled from 8 parts has the digest')
    t.equal(await store.blobSize(digest), 64 * MiB)
    t.same(await readdir(bufferDirectory), [], 'still none after the commit')
  })

  t.test('wrong credentials give a clear error that never shows the secret', async (t) => {
    const bucket = await rgw.createBucket()
    const secret = `wrong-${randomBytes(12).toString('hex')}`
    const err = await S3BlobStore.open(storeOptions(rgw, bucket, { secretAccessKey: secret })).then(() => undefined, (e: unknown) => e as Error)
    t.ok(err instanceof Error, 'open rejects')
    t.match(err?.message, bucket, 'naming the bucket')
    t.match(err?.message, /403/, 'and the refusal')
    t.notOk(err?.message.includes(secret), 'without the secret key')
    t.notOk(JSON.stringify(err).includes(secret), 'anywhere in the error')
    const missing = await S3BlobStore.open(storeOptions(rgw, 'no-such-bucket-here')).then(() => undefined, (e: unknown) => e as Error)
    t.match(missing?.message, /no-such-bucket-here.*404/, 'a missing bucket is named too')
    const nobody = `http://127.0.0.1:${await freeLowPort()}`
    const unreachable = await S3BlobStore.open({ ...storeOptions(rgw, bucket), endpoint: nobody }).then(() => undefined, (e: unknown) => e as Error)
    t.match(unreachable?.message, new RegExp(`${bucket}.*ECONNREFUSED`), 'an endpoint nobody answers on is reported as such')
  })

  t.test('a part whose bytes do not match its Content-MD5 is refused by S3 and not stored', async (t) => {
    const bucket = await rgw.createBucket()
    const raw = new Bucket(storeOptions(rgw, bucket))
    t.teardown(() => raw.close())
    const bytes = randomBytes(4096)
    const good = createHash('md5').update(bytes).digest('base64')
    const wrong = createHash('md5').update('something else').digest('base64')
    t.ok(await raw.put('checked', bytes, bytes.length, undefined, undefined, good), 'the right MD5 is accepted')
    const err = await raw.put('damaged', bytes, bytes.length, undefined, undefined, wrong).then(() => undefined, (e: unknown) => e as Error)
    t.match(err?.message, /BadDigest|InvalidDigest/, `refused: ${err?.message}`)
    t.same(await bucketKeys(rgw, bucket), ['checked'], 'nothing stored under the refused key')
  })

  t.test('part sizes below 5 MiB are refused', async (t) => {
    await t.rejects(S3BlobStore.open(storeOptions(rgw, 'unused', { partSize: MiB })), /at least 5242880 bytes/)
  })
}
