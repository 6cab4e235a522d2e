import { randomBytes } from 'node:crypto'
import { mkdtemp, open, readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import type { Digest } from '../../src/oci/digest.js'
import { FilesystemBlobStore } from '../../src/storage/fs-blob-store.js'
import { DirectorySyncer } from '../../src/storage/directory-sync.js'
import { SyncingFileSink } from '../../src/storage/syncing-file-sink.js'
import { UploadSyncs } from '../../src/storage/upload-syncs.js'
import { listFiles } from '../support/index.js'
import { chunksOf, digestOf, newUploadId, putBlob, readAll, runBlobStoreContract } from './blob-store-contract.js'

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-fsstore-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function openStore(t: Test): Promise<{ store: FilesystemBlobStore; root: string; parent: string }> {
  const parent = await tempDir(t)
  const root = path.join(parent, 'data')
  const store = await FilesystemBlobStore.open(root)
  t.teardown(() => store.close())
  return { store, root, parent }
}

t.test('BlobStore contract: FilesystemBlobStore', async (t) => {
  runBlobStoreContract(t, async (sub) => (await openStore(sub)).store)
})

t.test('open creates blobs/ and uploads/ and nothing else', async (t) => {
  const { root } = await openStore(t)
  t.same((await readdir(root)).sort(), ['blobs', 'uploads'])
})

t.test('layout: blobs/<alg>/<first two hex>/<hex> holding exactly the bytes', async (t) => {
  const { store, root } = await openStore(t)
  const data = randomBytes(777)
  const d256 = await putBlob(store, data)
  const d512 = await putBlob(store, data, 'sha512')
  const hex256 = d256.slice(7)
  const hex512 = d512.slice(7)
  t.same(await listFiles(path.join(root, 'blobs')), [`sha256/${hex256.slice(0, 2)}/${hex256}`, `sha512/${hex512.slice(0, 2)}/${hex512}`].sort())
  t.ok((await readFile(path.join(root, 'blobs', 'sha256', hex256.slice(0, 2), hex256))).equals(data))
  t.equal(store.blobPath(d256), path.join(root, 'blobs', 'sha256', hex256.slice(0, 2), hex256))
  t.same(await listFiles(path.join(root, 'uploads')), [], 'no leftovers in uploads/ after commit')
})

t.test('uploads live at uploads/<id> while open, and leave nothing behind after commit, delete or duplicate', async (t) => {
  const { store, root } = await openStore(t)
  const id = newUploadId()
  await store.createUpload(id)
  await store.appendUpload(id, [Buffer.from('hello')] as unknown as AsyncIterable<Uint8Array>)
  t.same(await listFiles(path.join(root, 'uploads')), [id])
  t.equal((await readFile(path.join(root, 'uploads', id))).toString(), 'hello')
  await store.commitUpload(id, digestOf(Buffer.from('hello')))
  const dup = newUploadId()
  await store.createUpload(dup)
  await store.appendUpload(dup, [Buffer.from('hello')] as unknown as AsyncIterable<Uint8Array>)
  await store.commitUpload(dup, digestOf(Buffer.from('hello')))
  const gone = newUploadId()
  await store.createUpload(gone)
  await store.deleteUpload(gone)
  t.same(await listFiles(path.join(root, 'uploads')), [], 'uploads/ is empty')
  t.equal((await listFiles(path.join(root, 'blobs'))).length, 1, 'one blob file')
})

t.test('createUpload never reuses an existing id', async (t) => {
  const { store } = await openStore(t)
  const id = newUploadId()
  await store.createUpload(id)
  await store.appendUpload(id, [Buffer.from('abc')] as unknown as AsyncIterable<Uint8Array>)
  await t.rejects(store.createUpload(id))
  t.equal(await store.uploadSize(id), 3, 'existing upload untouched')
})

t.test('ids longer than 64 characters or with unusual characters are refused and nothing escapes the root', async (t) => {
  const { store, root, parent } = await openStore(t)
  for (const id of ['x'.repeat(65), 'a b', 'a.b', '..%2f..%2fx', '../data-sibling', '../../escape']) {
    await t.rejects(store.createUpload(id), JSON.stringify(id))
  }
  t.same(await readdir(parent), ['data'], 'nothing beside the root')
  t.same(await listFiles(root), [])
  await store.createUpload('x'.repeat(64))
  t.equal(await store.uploadSize('x'.repeat(64)), 0, '64 characters are fine')
})

t.test('listBlobs ignores files that are not blobs, listUploads includes crash leftovers', async (t) => {
  const { store, root } = await openStore(t)
  const digest = await putBlob(store, Buffer.from('real'))
  await mkdir(path.join(root, 'blobs', 'sha256', 'zz'), { recursive: true })
  await writeFile(path.join(root, 'blobs', 'sha256', 'zz', 'not-a-digest'), 'junk')
  await writeFile(path.join(root, 'blobs', 'sha256', 'README'), 'junk')
  await mkdir(path.join(root, 'blobs', 'md5', 'ab'), { recursive: true })
  await writeFile(path.join(root, 'blobs', 'md5', 'ab', 'ab'.padEnd(32, '0')), 'junk')
  const listed: string[] = []
  for await (const blob of store.listBlobs()) listed.push(blob.digest)
  t.same(listed, [digest])
  await writeFile(path.join(root, 'uploads', 'leftover-from-crash'), 'partial')
  const uploads: string[] = []
  for await (const id of store.listUploads()) uploads.push(id)
  t.same(uploads, ['leftover-from-crash'])
  t.equal(await store.uploadSize('leftover-from-crash'), 7)
})

t.test('a store reopened on the same directory sees blobs and open uploads', async (t) => {
  const { store, root } = await openStore(t)
  const digest = await putBlob(store, Buffer.from('persisted'))
  const id = newUploadId()
  await store.createUpload(id)
  await store.appendUpload(id, [Buffer.from('half')] as unknown as AsyncIterable<Uint8Array>)
  await store.close()
  const again = await FilesystemBlobStore.open(root)
  t.teardown(() => again.close())
  t.equal(await again.blobSize(digest), 9)
  t.same(await readAll(await again.readBlob(digest as Digest)), Buffer.from('persisted'))
  t.equal(await again.uploadSize(id), 4)
  await again.appendUpload(id, [Buffer.from('-done')] as unknown as AsyncIterable<Uint8Array>)
  await again.commitUpload(id, digestOf(Buffer.from('half-done')))
  t.equal((await stat(again.blobPath(digestOf(Buffer.from('half-done'))))).size, 9)
})

t.test('the upload sink stops at the first failed write: no later batch lands after the hole, and the failure is reported', async (t) => {
  const dir = await tempDir(t)
  const file = path.join(dir, 'upload')
  await writeFile(file, '')
  const real = await open(file, 'r+')
  t.teardown(() => real.close())
  // A disk that fails the second 1 MiB batch once (EIO), as a flaky device or a full quota does.
  let writes = 0
  const faulty = new Proxy(real, {
    get(target, property) {
      if (property === 'writev') {
        return async (buffers: Buffer[], position: number) => {
          writes++
          // The disk answers later, as a real one does, while the network delivers more chunks.
          await new Promise((resolve) => setTimeout(resolve, 20))
          if (writes === 2) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' })
          return target.writev(buffers, position)
        }
      }
      const value = Reflect.get(target, property) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
  const sink = new SyncingFileSink(faulty, 0)
  const data = randomBytes(4 << 20)
  let failure: unknown
  try {
    for (let offset = 0; offset < data.length; offset += 64 * 1024) await sink.write(data.subarray(offset, offset + 64 * 1024))
    await sink.flush()
  } catch (err) {
    failure = err
  } finally {
    await sink.settle()
  }
  t.equal((failure as { code?: string } | undefined)?.code, 'EIO', 'the write failure is reported to the caller')
  t.equal(writes, 2, 'no write was started after the failed one')
  const written = await readFile(file)
  t.equal(written.length, 1 << 20, 'the file ends where the last good write ended (no hole, no later bytes)')
  t.ok(written.equals(data.subarray(0, 1 << 20)), 'and holds exactly the bytes before the failure')
})

t.test('a chunk of 8 MiB or more leaves a datasync running past its answer; a later chunk and the commit see the whole blob', async (t) => {
  const { store } = await openStore(t)
  const id = newUploadId()
  await store.createUpload(id)
  const parts = [randomBytes(9 << 20), randomBytes(5 << 20), randomBytes(12 << 20)]
  for (const part of parts) await store.appendUpload(id, chunksOf(part))
  const whole = Buffer.concat(parts)
  const digest = digestOf(whole)
  await store.commitUpload(id, digest)
  t.same(await readAll(await store.readBlob(digest)), whole, 'the blob holds every chunk in order')
  t.equal(await store.uploadSize(id), undefined, 'the upload is gone')
})

t.test('a failed background datasync fails the commit of its upload until the upload is dropped', async (t) => {
  const syncs = new UploadSyncs()
  syncs.track('u1', 0, Promise.reject(Object.assign(new Error('EIO: injected'), { code: 'EIO' })))
  syncs.track('u1', 3, undefined)
  await t.rejects(syncs.settle('u1'), { code: 'EIO' }, 'the commit is refused: those bytes may not be on disk')
  await t.rejects(syncs.settle('u1'), { code: 'EIO' }, 'and stays refused on a retry (a new descriptor would not see the error)')
  t.equal(syncs.unsynced('u1'), 3)
  syncs.forget('u1')
  await syncs.settle('u1')
  t.equal(syncs.unsynced('u1'), 0, 'a dropped upload starts afresh')
  let finish!: () => void
  syncs.track('u2', 0, new Promise<void>((resolve) => { finish = resolve }))
  let settled = false
  const waiting = syncs.settle('u2').then(() => { settled = true })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(settled, false, 'a commit waits for the sync still running')
  finish()
  await waiting
  t.equal(settled, true)
})

t.test('DirectorySyncer: concurrent syncs of one directory all resolve; a failing one rejects its callers only', async (t) => {
  const dir = await tempDir(t)
  const syncer = new DirectorySyncer()
  await t.resolves(Promise.all(Array.from({ length: 20 }, () => syncer.sync(dir))), 'every caller answered')
  const missing = path.join(dir, 'missing')
  const results = await Promise.allSettled([syncer.sync(missing), syncer.sync(missing), syncer.sync(dir)])
  t.same(results.map((r) => r.status), ['rejected', 'rejected', 'fulfilled'])
  await mkdir(missing)
  await t.resolves(syncer.sync(missing), 'a later sync of the directory, once it exists, works')
})

t.test('openBlobFile reads the blob or an inclusive range at offsets, and rejects a missing blob as not found', async (t) => {
  const { store } = await openStore(t)
  const data = randomBytes(10_000)
  const digest = await putBlob(store, data)
  const whole = await store.openBlobFile(digest)
  t.equal(whole.length, data.length)
  const buffer = Buffer.alloc(data.length + 10)
  t.equal(await whole.read(buffer, 0, buffer.length), data.length, 'a read asking for more stops at the end')
  t.ok(buffer.subarray(0, data.length).equals(data))
  t.equal(await whole.read(buffer, data.length, 10), 0, '0 at the end')
  await whole.close()
  const part = await store.openBlobFile(digest, { start: 100, end: 199 })
  t.equal(part.length, 100)
  t.equal(await part.read(buffer, 40, 1000), 60, 'never past the range')
  t.ok(buffer.subarray(0, 60).equals(data.subarray(140, 200)))
  await part.close()
  await t.rejects(store.openBlobFile(digestOf(Buffer.from('absent')) as Digest), { name: 'BlobNotFoundError' })
})
