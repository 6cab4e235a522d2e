import { createHash, randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import type { Digest } from '../../src/oci/digest.js'
import { BlobNotFoundError, UploadNotFoundError, type BlobStore } from '../../src/storage/blob-store.js'

/**
 * The behaviour every BlobStore backend must have. `makeStore` opens a fresh, empty store for one
 * subtest and registers its own cleanup on that subtest.
 */
export type BlobStoreFactory = (t: Test) => Promise<BlobStore>

const MiB = 1024 * 1024

export function digestOf(data: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest
}

export async function readAll(stream: Readable | AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array))
  return Buffer.concat(chunks)
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

export async function* chunksOf(...chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const chunk of chunks) yield chunk
}

async function* slowChunks(data: Buffer, chunkSize: number, delayMs: number): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += chunkSize) {
    await sleep(delayMs)
    yield data.subarray(offset, offset + chunkSize)
  }
}

let idCounter = 0
export function newUploadId(): string {
  idCounter++
  return `${randomBytes(8).toString('hex')}-${idCounter}`
}

/** Writes `data` as one upload and commits it; returns the digest. */
export async function putBlob(store: BlobStore, data: Buffer, algorithm: 'sha256' | 'sha512' = 'sha256'): Promise<Digest> {
  const id = newUploadId()
  await store.createUpload(id)
  await store.appendUpload(id, chunksOf(data))
  const digest = digestOf(data, algorithm)
  await store.commitUpload(id, digest)
  return digest
}

export function runBlobStoreContract(t: Test, makeStore: BlobStoreFactory): void {
  t.test('a new upload is empty and readable', async (t) => {
    const store = await makeStore(t)
    const id = newUploadId()
    t.equal(await store.uploadSize(id), undefined, 'no upload before createUpload')
    await store.createUpload(id)
    t.equal(await store.uploadSize(id), 0)
    t.same(await readAll(await store.readUpload(id)), Buffer.alloc(0))
    t.ok((await collect(store.listUploads())).includes(id), 'listed')
  })

  t.test('several appends accumulate in order and report the new size', async (t) => {
    const store = await makeStore(t)
    const id = newUploadId()
    await store.createUpload(id)
    const a = randomBytes(1000)
    const b = randomBytes(1)
    const c = randomBytes(70_000)
    t.equal(await store.appendUpload(id, chunksOf(a)), 1000)
    t.equal(await store.appendUpload(id, chunksOf(b)), 1001)
    t.equal(await store.appendUpload(id, chunksOf(c.subarray(0, 5), c.subarray(5))), 71_001, 'several chunks in one append')
    t.equal(await store.uploadSize(id), 71_001)
    t.same(await readAll(await store.readUpload(id)), Buffer.concat([a, b, c]))
  })

  t.test('zero-byte appends change nothing and a zero-byte blob commits', async (t) => {
    const store = await makeStore(t)
    const id = newUploadId()
    await store.createUpload(id)
    t.equal(await store.appendUpload(id, chunksOf()), 0, 'empty source')
    t.equal(await store.appendUpload(id, chunksOf(Buffer.alloc(0))), 0, 'one empty chunk')
    const empty = digestOf(Buffer.alloc(0))
    await store.commitUpload(id, empty)
    t.equal(await store.blobSize(empty), 0)
    t.same(await readAll(await store.readBlob(empty)), Buffer.alloc(0))
    t.equal(await store.uploadSize(id), undefined)
  })

  t.test('a large stream (>= 8 MiB, odd chunk sizes) appends and commits intact', async (t) => {
    const store = await makeStore(t)
    const id = newUploadId()
    await store.createUpload(id)
    const size = 8 * MiB + 12_345
    const hash = createHash('sha256')
    async function* big(): AsyncIterable<Uint8Array> {
      let left = size
      let i = 0
      while (left > 0) {
        const n = Math.min(left, (i++ % 3 === 0) ? 1 * MiB + 17 : 300_001)
        const chunk = randomBytes(n)
        hash.update(chunk)
        left -= n
        yield chunk
      }
    }
    t.equal(await store.appendUpload(id, big()), size)
    const second = randomBytes(MiB)
    hash.update(second)
    t.equal(await store.appendUpload(id, chunksOf(second)), size + MiB, 'a second large append continues it')
    const digest = `sha256:${hash.digest('hex')}` as Digest
    const rehash = createHash('sha256')
    for await (const chunk of await store.readUpload(id)) rehash.update(chunk as Buffer)
    t.equal(`sha256:${rehash.digest('hex')}`, digest, 'readUpload streams the same bytes')
    await store.commitUpload(id, digest)
    t.equal(await store.blobSize(digest), size + MiB)
    const blobHash = createHash('sha256')
    for await (const chunk of await store.readBlob(digest)) blobHash.update(chunk as Buffer)
    t.equal(`sha256:${blobHash.digest('hex')}`, digest, 'readBlob streams the committed bytes')
  })

  t.test('commitUpload turns the upload into a blob and removes the upload', async (t) => {
    const store = await makeStore(t)
    const data = randomBytes(4096)
    const id = newUploadId()
    await store.createUpload(id)
    await store.appendUpload(id, chunksOf(data))
    const digest = digestOf(data)
    t.equal(await store.blobSize(digest), undefined, 'no blob before commit')
    await store.commitUpload(id, digest)
    t.equal(await store.blobSize(digest), 4096)
    t.same(await readAll(await store.readBlob(digest)), data)
    t.equal(await store.uploadSize(id), undefined, 'upload gone')
    t.notOk((await collect(store.listUploads())).includes(id), 'not listed any more')
    await t.rejects(store.appendUpload(id, chunksOf(Buffer.from('x'))), UploadNotFoundError, 'no append after commit')
    await t.rejects(store.readUpload(id), UploadNotFoundError)
  })

  t.test('commitUpload of a blob that already exists keeps the existing bytes and drops the upload', async (t) => {
    const store = await makeStore(t)
    const data = randomBytes(1000)
    const digest = await putBlob(store, data)
    // Same content again: the ordinary duplicate push.
    const again = newUploadId()
    await store.createUpload(again)
    await store.appendUpload(again, chunksOf(data))
    await store.commitUpload(again, digest)
    t.equal(await store.uploadSize(again), undefined, 'duplicate upload dropped')
    // Different bytes under the same name (the caller should never do this): the existing blob wins.
    const impostor = newUploadId()
    await store.createUpload(impostor)
    await store.appendUpload(impostor, chunksOf(Buffer.from('not the same bytes')))
    await store.commitUpload(impostor, digest)
    t.equal(await store.uploadSize(impostor), undefined, 'impostor upload dropped')
    t.equal(await store.blobSize(digest), 1000)
    t.same(await readAll(await store.readBlob(digest)), data, 'blob bytes unchanged')
    t.same((await collect(store.listBlobs())).map((b) => b.digest), [digest], 'one blob')
  })

  t.test('writeUpload creates a whole upload that commits like an appended one', async (t) => {
    const store = await makeStore(t)
    const data = randomBytes(3 * MiB + 123)
    const id = newUploadId()
    t.equal(await store.writeUpload(id, chunksOf(data.subarray(0, 4096), data.subarray(4096))), data.length, 'resolves with the size')
    t.equal(await store.uploadSize(id), data.length)
    t.same(await readAll(await store.readUpload(id)), data, 'the upload holds the bytes')
    await t.rejects(store.writeUpload(id, chunksOf(Buffer.from('x'))), 'an existing upload is not overwritten')
    t.same(await readAll(await store.readUpload(id)), data, 'and keeps its bytes')
    const digest = digestOf(data)
    await store.commitUpload(id, digest)
    t.same(await readAll(await store.readBlob(digest)), data, 'committed')
    t.equal(await store.uploadSize(id), undefined, 'upload gone')
    // A whole upload that a later append extends commits with every byte.
    const extended = newUploadId()
    await store.writeUpload(extended, chunksOf(Buffer.from('abc')))
    t.equal(await store.appendUpload(extended, chunksOf(Buffer.from('def'))), 6)
    const both = Buffer.from('abcdef')
    await store.commitUpload(extended, digestOf(both))
    t.same(await readAll(await store.readBlob(digestOf(both))), both)
    // Written, then deleted (a digest mismatch): nothing stays, and committing it fails.
    const dropped = newUploadId()
    await store.writeUpload(dropped, chunksOf(Buffer.from('dropped')))
    await store.deleteUpload(dropped)
    t.equal(await store.uploadSize(dropped), undefined)
    await t.rejects(store.commitUpload(dropped, digestOf(Buffer.from('dropped'))), UploadNotFoundError)
    t.equal(await store.blobSize(digestOf(Buffer.from('dropped'))), undefined)
  })

  t.test('concurrent commits into one blob directory and into new ones all land', async (t) => {
    const store = await makeStore(t)
    const blobs = Array.from({ length: 64 }, (_, i) => randomBytes(100 + i))
    const digests = await Promise.all(blobs.map(async (data) => {
      const id = newUploadId()
      await store.writeUpload(id, chunksOf(data))
      const digest = digestOf(data)
      await store.commitUpload(id, digest)
      return digest
    }))
    for (const [i, digest] of digests.entries()) t.same(await readAll(await store.readBlob(digest)), blobs[i], `blob ${i}`)
    t.same(await collect(store.listUploads()), [], 'no uploads left')
  })

  t.test('commitUpload of an unknown upload rejects and creates no blob', async (t) => {
    const store = await makeStore(t)
    const digest = digestOf(Buffer.from('never uploaded'))
    await t.rejects(store.commitUpload(newUploadId(), digest))
    t.equal(await store.blobSize(digest), undefined)
  })

  t.test('deleteUpload removes an upload and is idempotent', async (t) => {
    const store = await makeStore(t)
    const id = newUploadId()
    await store.createUpload(id)
    await store.appendUpload(id, chunksOf(randomBytes(100)))
    await store.deleteUpload(id)
    t.equal(await store.uploadSize(id), undefined)
    await t.resolves(store.deleteUpload(id), 'second delete is fine')
    await t.resolves(store.deleteUpload(newUploadId()), 'deleting a never-created upload is fine')
    await t.rejects(store.appendUpload(id, chunksOf(Buffer.from('x'))), UploadNotFoundError, 'append to a deleted upload')
    t.equal(await store.uploadSize(id), undefined, 'append did not recreate it')
    await t.rejects(store.readUpload(id), UploadNotFoundError)
  })

  t.test('operations on an unknown upload', async (t) => {
    const store = await makeStore(t)
    const id = newUploadId()
    t.equal(await store.uploadSize(id), undefined)
    await t.rejects(store.appendUpload(id, chunksOf(Buffer.from('x'))), UploadNotFoundError)
    t.equal(await store.uploadSize(id), undefined, 'append did not create it')
    await t.rejects(store.readUpload(id), UploadNotFoundError)
  })

  t.test('blobSize and readBlob of a missing blob', async (t) => {
    const store = await makeStore(t)
    const digest = digestOf(Buffer.from('missing'))
    t.equal(await store.blobSize(digest), undefined)
    const err = await store.readBlob(digest).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof BlobNotFoundError, 'rejects with BlobNotFoundError')
    t.equal((err as BlobNotFoundError).digest, digest, 'naming the digest')
    await t.rejects(store.readBlob(digest, { start: 0, end: 0 }), BlobNotFoundError, 'also with a range')
  })

  t.test('readBlob with inclusive ranges', async (t) => {
    const store = await makeStore(t)
    const data = randomBytes(3 * MiB + 7)
    const digest = await putBlob(store, data)
    const cases: Array<[number, number]> = [[0, 0], [0, 9], [1, 3], [data.length - 1, data.length - 1], [100, data.length - 1], [MiB - 1, 2 * MiB + 1], [0, data.length - 1]]
    for (const [start, end] of cases) {
      const got = await readAll(await store.readBlob(digest, { start, end }))
      t.equal(got.length, end - start + 1, `length of ${start}-${end}`)
      t.ok(got.equals(data.subarray(start, end + 1)), `bytes of ${start}-${end}`)
    }
    t.ok((await readAll(await store.readBlob(digest))).equals(data), 'without a range: everything')
  })

  t.test('deleteBlob removes a blob and is idempotent', async (t) => {
    const store = await makeStore(t)
    const keep = await putBlob(store, Buffer.from('keep me'))
    const digest = await putBlob(store, Buffer.from('delete me'))
    await store.deleteBlob(digest)
    t.equal(await store.blobSize(digest), undefined)
    await t.rejects(store.readBlob(digest), BlobNotFoundError)
    await t.resolves(store.deleteBlob(digest), 'again')
    await t.resolves(store.deleteBlob(digestOf(Buffer.from('never there'))), 'never existed')
    t.same((await collect(store.listBlobs())).map((b) => b.digest), [keep], 'the other blob stays')
    t.same(await readAll(await store.readBlob(keep)), Buffer.from('keep me'))
    // The same content can come back after a delete.
    t.equal(await putBlob(store, Buffer.from('delete me')), digest)
    t.equal(await store.blobSize(digest), 9)
  })

  t.test('listBlobs lists every blob with size and modification time', async (t) => {
    const store = await makeStore(t)
    t.same(await collect(store.listBlobs()), [], 'empty store')
    const before = Date.now() - 2000
    const expected = new Map<string, number>()
    for (const size of [0, 1, 10, 5000]) expected.set(await putBlob(store, randomBytes(size)), size)
    expected.set(await putBlob(store, randomBytes(33), 'sha512'), 33)
    const listed = await collect(store.listBlobs())
    t.equal(listed.length, expected.size)
    for (const blob of listed) {
      t.equal(blob.size, expected.get(blob.digest), `size of ${blob.digest.slice(0, 20)}`)
      t.ok(blob.modifiedAt instanceof Date && blob.modifiedAt.getTime() >= before && blob.modifiedAt.getTime() <= Date.now() + 2000, 'modifiedAt is a recent Date')
    }
    t.same(new Set(listed.map((b) => b.digest)), new Set(expected.keys()))
  })

  t.test('listUploads lists open uploads only', async (t) => {
    const store = await makeStore(t)
    t.same(await collect(store.listUploads()), [])
    const ids = [newUploadId(), newUploadId(), newUploadId()]
    for (const id of ids) await store.createUpload(id)
    t.same((await collect(store.listUploads())).sort(), [...ids].sort())
    await store.deleteUpload(ids[0]!)
    await store.appendUpload(ids[1]!, chunksOf(Buffer.from('abc')))
    await store.commitUpload(ids[1]!, digestOf(Buffer.from('abc')))
    t.same(await collect(store.listUploads()), [ids[2]])
  })

  t.test('sha512 blobs are stored and read like sha256 ones', async (t) => {
    const store = await makeStore(t)
    const data = randomBytes(2000)
    const d512 = await putBlob(store, data, 'sha512')
    const d256 = await putBlob(store, data, 'sha256')
    t.equal(await store.blobSize(d512), 2000)
    t.equal(await store.blobSize(d256), 2000)
    t.same(await readAll(await store.readBlob(d512, { start: 10, end: 19 })), data.subarray(10, 20))
    await store.deleteBlob(d256)
    t.equal(await store.blobSize(d512), 2000, 'deleting the sha256 blob keeps the sha512 one')
  })

  t.test('concurrent appends to different uploads do not mix', async (t) => {
    const store = await makeStore(t)
    const payloads = Array.from({ length: 6 }, (_, i) => randomBytes(200_000 + i * 1000))
    const ids = payloads.map(() => newUploadId())
    await Promise.all(ids.map((id) => store.createUpload(id)))
    const sizes = await Promise.all(ids.map((id, i) => store.appendUpload(id, slowChunks(payloads[i]!, 16_384 + i, 1))))
    t.same(sizes, payloads.map((p) => p.length))
    await Promise.all(ids.map((id, i) => store.appendUpload(id, slowChunks(payloads[i]!, 50_000, 0))))
    for (let i = 0; i < ids.length; i++) {
      t.ok((await readAll(await store.readUpload(ids[i]!))).equals(Buffer.concat([payloads[i]!, payloads[i]!])), `upload ${i} intact`)
    }
    await Promise.all(ids.map((id, i) => store.commitUpload(id, digestOf(Buffer.concat([payloads[i]!, payloads[i]!])))))
    t.equal((await collect(store.listBlobs())).length, ids.length)
  })

  t.test('an aborted append keeps a prefix and the upload can continue from its size', async (t) => {
    const store = await makeStore(t)
    const id = newUploadId()
    await store.createUpload(id)
    const data = randomBytes(2 * MiB)
    const controller = new AbortController()
    async function* source(): AsyncIterable<Uint8Array> {
      for (let offset = 0; offset < data.length; offset += 64 * 1024) {
        if (offset === MiB) controller.abort()
        yield data.subarray(offset, offset + 64 * 1024)
        await sleep(1)
      }
    }
    await t.rejects(store.appendUpload(id, source(), controller.signal), 'aborted append rejects')
    const survived = await store.uploadSize(id)
    t.ok(survived !== undefined && survived <= data.length, `size after abort: ${survived}`)
    const prefix = await readAll(await store.readUpload(id))
    t.equal(prefix.length, survived)
    t.ok(prefix.equals(data.subarray(0, prefix.length)), 'what survived is a prefix of what was sent')
    t.equal(await store.appendUpload(id, chunksOf(data.subarray(prefix.length))), data.length, 'continues from its size')
    await store.commitUpload(id, digestOf(data))
    t.ok((await readAll(await store.readBlob(digestOf(data)))).equals(data))
  })

  t.test('upload ids that are not plain names are rejected', async (t) => {
    const store = await makeStore(t)
    const bad = ['', '.', '..', '../escape', '../../metadata.db', 'a/b', 'a\\b', '/abs', 'nul\0byte', '%2e%2e%2f']
    for (const id of bad) {
      await t.rejects(store.createUpload(id), `createUpload(${JSON.stringify(id)})`)
      await t.rejects(store.appendUpload(id, chunksOf(Buffer.from('x'))), `appendUpload(${JSON.stringify(id)})`)
      await t.rejects(store.readUpload(id), `readUpload(${JSON.stringify(id)})`)
      await t.rejects(store.commitUpload(id, digestOf(Buffer.from('x'))), `commitUpload(${JSON.stringify(id)})`)
      const size = await store.uploadSize(id).catch(() => undefined)
      t.equal(size, undefined, `uploadSize(${JSON.stringify(id)}) finds nothing`)
    }
    t.same(await collect(store.listUploads()), [], 'no upload was created')
    t.same(await collect(store.listBlobs()), [], 'no blob was created')
  })
}
