/**
 * Datasyncs of upload files that outlive the chunk that started them: a chunked push gets its
 * bytes to disk while the client sends the next chunk, so the fsync at commit has little left
 * (without this, every byte of a chunked push is flushed only at the end, after the last chunk).
 * A failed one fails the commit: Linux reports a writeback error to the descriptors open when it
 * happened, and the one commit opens later may never see it.
 */
interface UploadSyncState { unsynced: number; readonly running: Set<Promise<void>>; failure?: unknown }

export class UploadSyncs {
  private readonly uploads = new Map<string, UploadSyncState>()
  /** Uploads fsynced whole on their own handle and unchanged since: the commit need not sync them again. */
  private readonly wholeSynced = new Set<string>()

  markSynced(id: string): void {
    this.wholeSynced.add(id)
  }

  /** The upload is about to change: it is no longer synced whole. */
  clearSynced(id: string): void {
    this.wholeSynced.delete(id)
  }

  /** Whether the upload was synced whole (and clears it: the commit consumes it). */
  takeSynced(id: string): boolean {
    return this.wholeSynced.delete(id)
  }

  /** Bytes of the upload written since its last datasync started. */
  unsynced(id: string): number {
    return this.uploads.get(id)?.unsynced ?? 0
  }

  /** Records what a chunk left: its unsynced bytes and the datasync it leaves running, if any. */
  track(id: string, unsynced: number, running: Promise<void> | undefined): void {
    this.wholeSynced.delete(id)
    let upload = this.uploads.get(id)
    if (upload === undefined) {
      upload = { unsynced, running: new Set() }
      this.uploads.set(id, upload)
    }
    upload.unsynced = unsynced
    if (running === undefined) return
    const entry = upload
    const settled: Promise<void> = running.then(
      () => { entry.running.delete(settled) },
      (err: unknown) => { entry.running.delete(settled); entry.failure ??= err })
    entry.running.add(settled)
  }

  /** Waits for the upload's datasyncs; rejects with the first failure any of them had. */
  async settle(id: string): Promise<void> {
    const upload = this.uploads.get(id)
    if (upload === undefined) return
    await Promise.all(upload.running)
    if (upload.failure !== undefined) throw upload.failure
  }

  /** The upload became a blob or went away. */
  forget(id: string): void {
    this.uploads.delete(id)
    this.wholeSynced.delete(id)
  }
}
