import { createHash, randomBytes, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, unlink, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { UploadNotFoundError } from '../blob-store.js'
import { untilAborted } from '../abortable-source.js'
import { S3RequestError, type Bucket } from './bucket.js'
import { readState, writeState, type UploadKeys, type UploadState } from './upload-state.js'

/** Tries of one part or tail PUT, and the pause before the second (doubled before the third). */
const STORE_ATTEMPTS = 3
const RETRY_DELAY_MS = 200

/** What an append needs from its store. */
export interface AppendTarget {
  readonly bucket: Bucket
  readonly keys: UploadKeys
  /** Local directory for the part being filled (never more than one part per append). */
  readonly bufferDirectory: string
}

/**
 * Appends `source` to the upload `id`: the current tail and the new bytes fill a part buffer on
 * local disk; each full part is stored as its own object and recorded in the state at once, and
 * what is left becomes a new tail object. Callers serialize appends per upload. Rejects with the
 * signal's reason when `signal` aborts; the state then names what was stored before.
 */
export async function appendToUpload(target: AppendTarget, id: string, source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<number> {
  const { bucket, keys } = target
  const current = await readState(bucket, keys, id)
  if (current === undefined) throw new UploadNotFoundError(id)
  let { state, etag } = current
  // Tails replaced by a state already written: removed once the append is over.
  const staleTails: string[] = []
  // Objects this append stored: removed again when the upload turns out cancelled meanwhile.
  const stored: string[] = []
  let buffer: PartBuffer | undefined
  try {
    for await (const chunk of untilAborted(source, signal)) {
      for (let offset = 0; offset < chunk.length;) {
        // Opened at the first byte: an empty append reads and writes nothing.
        buffer ??= await PartBuffer.open(target, id, state, signal)
        const take = Math.min(chunk.length - offset, state.partSize - buffer.length)
        await buffer.write(chunk.subarray(offset, offset + take))
        offset += take
        if (buffer.length < state.partSize) continue
        stored.push(keys.part(id, state.parts + 1))
        await buffer.store(bucket, keys.part(id, state.parts + 1), signal)
        const parts = state.parts + 1
        const next: UploadState = { size: parts * state.partSize, partSize: state.partSize, parts, tailSize: 0 }
        etag = await writeState(bucket, keys, id, next, etag, signal)
        if (state.tail !== undefined) staleTails.push(state.tail)
        state = next
        buffer.clear()
      }
    }
    if (buffer !== undefined && buffer.length > 0) {
      const tail = `tail-${randomBytes(8).toString('hex')}`
      stored.push(`${keys.folder(id)}${tail}`)
      await buffer.store(bucket, `${keys.folder(id)}${tail}`, signal)
      const next: UploadState = { size: state.parts * state.partSize + buffer.length, partSize: state.partSize, parts: state.parts, tail, tailSize: buffer.length }
      etag = await writeState(bucket, keys, id, next, etag, signal)
      if (state.tail !== undefined) staleTails.push(state.tail)
      state = next
    }
    return state.size
  } catch (err) {
    if (err instanceof UploadNotFoundError) await bucket.deleteMany(stored).catch(() => undefined)
    if (signal?.aborted === true) throw signal.reason
    throw err
  } finally {
    await buffer?.close()
    for (const tail of staleTails) await bucket.delete(`${keys.folder(id)}${tail}`).catch(() => undefined)
  }
}

/**
 * The part being filled: a file in the buffer directory, removed on close. The MD5 of the bytes
 * written goes with the PUT (Content-MD5), so S3 refuses a part that is not what was written here
 * (a bad disk under the buffer, a damaged transfer).
 */
class PartBuffer {
  length = 0
  private md5: Hash = createHash('md5')

  private constructor(private readonly file: string, private readonly handle: FileHandle) {}

  /** A buffer holding the upload's current tail, if it has one. */
  static async open(target: AppendTarget, id: string, state: UploadState, signal?: AbortSignal): Promise<PartBuffer> {
    const file = path.join(target.bufferDirectory, `wharf-s3-part-${randomBytes(8).toString('hex')}`)
    const buffer = new PartBuffer(file, await open(file, 'w+', 0o600))
    try {
      if (state.tail !== undefined && state.tailSize > 0) await buffer.load(target, id, state.tail, state.tailSize, signal)
      return buffer
    } catch (err) {
      await buffer.close()
      throw err
    }
  }

  private async load(target: AppendTarget, id: string, tail: string, size: number, signal?: AbortSignal): Promise<void> {
    const key = `${target.keys.folder(id)}${tail}`
    const got = await target.bucket.get(key, undefined, signal)
    if (got === undefined) {
      // Cancelled (and cleaned up) since the state was read, or damaged.
      if (await target.bucket.head(target.keys.state(id)) === undefined) throw new UploadNotFoundError(id)
      throw new Error(`upload ${id}: its tail s3://${target.bucket.name}/${key} is missing`)
    }
    for await (const chunk of got.body) await this.write(chunk as Buffer)
    if (this.length !== size) throw new Error(`upload ${id}: its tail s3://${target.bucket.name}/${key} holds ${this.length} bytes, its state says ${size}`)
  }

  async write(bytes: Uint8Array): Promise<void> {
    this.md5.update(bytes)
    for (let done = 0; done < bytes.length;) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, this.length)
      done += bytesWritten
      this.length += bytesWritten
    }
  }

  /**
   * Stores the buffered bytes as the object `key`, streamed from the file with its length. The SDK
   * cannot retry a streamed body, so a transient failure is retried here with a fresh stream.
   */
  async store(bucket: Bucket, key: string, signal?: AbortSignal): Promise<void> {
    const contentMd5 = this.md5.copy().digest('base64')
    for (let attempt = 1; ; attempt++) {
      // Its own descriptor: destroying a stream made from the handle would close the handle.
      const body = createReadStream(this.file, { start: 0, end: this.length - 1, highWaterMark: 1 << 20 })
      try {
        await bucket.put(key, body, this.length, undefined, signal, contentMd5)
        return
      } catch (err) {
        if (attempt >= STORE_ATTEMPTS || !(err instanceof S3RequestError) || !err.transient || signal?.aborted === true) throw err
      } finally {
        body.destroy()
      }
      await sleep(RETRY_DELAY_MS * attempt, undefined, signal !== undefined ? { signal } : {})
    }
  }

  /** Starts the next part; the file's old bytes are overwritten, never read past `length`. */
  clear(): void {
    this.length = 0
    this.md5 = createHash('md5')
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined)
    await unlink(this.file).catch(() => undefined)
  }
}
