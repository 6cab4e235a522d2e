import type { FileHandle } from 'node:fs/promises'

const BATCH_BYTES = 1 << 20
const SYNC_EVERY_BYTES = 32 << 20

/**
 * Writes a stream of chunks to a file at a position: chunks are gathered into 1 MiB vectored
 * writes, one write in flight while the next batch fills (so at most ~2 MiB is buffered), and
 * every 32 MiB an fdatasync starts in the background, so the disk flushes while the network still
 * delivers and the final fsync at commit has little left to do.
 */
export class SyncingFileSink {
  private readonly handle: FileHandle
  private batch: Buffer[] = []
  private batchBytes = 0
  private writing: Promise<void> | undefined
  private syncing: Promise<void> | undefined
  private unsynced = 0
  /** The first failed write or sync; nothing is written after it and every later call rethrows it. */
  private failure: unknown
  /** Offset at which the next byte lands (bytes handed to write() so far, from the start offset). */
  position: number
  private written: number

  /** `unsynced`: bytes an earlier chunk of the same file left unsynced, counted towards the next datasync. */
  constructor(handle: FileHandle, start: number, unsynced = 0) {
    this.handle = handle
    this.position = start
    this.written = start
    this.unsynced = unsynced
  }

  /** Bytes written since the last datasync started. */
  get unsyncedBytes(): number {
    return this.unsynced
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    this.batch.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    this.batchBytes += chunk.byteLength
    this.position += chunk.byteLength
    if (this.batchBytes >= BATCH_BYTES) {
      await this.writing
      // A failed write leaves the file short: writing the next batch after it would leave a hole.
      if (this.failure !== undefined) throw this.failure
      this.startWrite()
    }
  }

  /** Writes what is buffered and waits for every write and sync in flight. */
  async flush(): Promise<void> {
    await this.flushWrites()
    await this.syncing
    if (this.failure !== undefined) throw this.failure
  }

  /** Writes what is buffered and waits for the writes, not for a datasync in flight (see syncInBackground). */
  async flushWrites(): Promise<void> {
    await this.writing
    if (this.failure !== undefined) throw this.failure
    if (this.batchBytes > 0) this.startWrite()
    await this.writing
    if (this.failure !== undefined) throw this.failure
  }

  /**
   * After flushWrites: the datasync still running, or one started now when at least `minBytes`
   * are unsynced; undefined when there is none. It rejects if the sync fails. The handle must stay
   * open until it settles.
   */
  syncInBackground(minBytes: number): Promise<void> | undefined {
    if (this.syncing === undefined && this.unsynced >= minBytes && this.unsynced > 0) this.startSync()
    if (this.syncing === undefined) return this.failure === undefined ? undefined : Promise.reject(this.failure)
    return this.syncing.then(() => { if (this.failure !== undefined) throw this.failure })
  }

  /** Waits for operations in flight without writing more (error paths, before closing the handle). */
  async settle(): Promise<void> {
    await Promise.allSettled([this.writing, this.syncing])
  }

  private startWrite(): void {
    const buffers = this.batch
    const offset = this.written
    const bytes = this.batchBytes
    this.batch = []
    this.batchBytes = 0
    this.written += bytes
    // Failures are recorded, not left as rejected promises nobody awaits while the network is slow.
    this.writing = writeAll(this.handle, buffers, offset).then(() => {
      this.unsynced += bytes
      if (this.unsynced >= SYNC_EVERY_BYTES && this.syncing === undefined) this.startSync()
    }, (err: unknown) => {
      this.failure ??= err
    })
  }

  private startSync(): void {
    this.unsynced = 0
    this.syncing = this.handle.datasync().then(() => { this.syncing = undefined }, (err: unknown) => {
      this.syncing = undefined
      this.failure ??= err
    })
  }
}

async function writeAll(handle: FileHandle, buffers: Buffer[], offset: number): Promise<void> {
  let remaining = buffers
  let position = offset
  while (remaining.length > 0) {
    const { bytesWritten } = await handle.writev(remaining, position)
    position += bytesWritten
    // A short write (rare on regular files) leaves a tail to write again.
    let skip = bytesWritten
    const rest: Buffer[] = []
    for (const buffer of remaining) {
      if (skip >= buffer.length) { skip -= buffer.length; continue }
      rest.push(skip > 0 ? buffer.subarray(skip) : buffer)
      skip = 0
    }
    remaining = rest
  }
}
