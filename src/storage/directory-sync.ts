import { open } from 'node:fs/promises'

/** fsync a directory so a rename or unlink in it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

interface Waiter {
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

interface DirectoryState {
  running: boolean
  /** Callers whose change is done but not covered by the fsync running now (if any). */
  waiters: Waiter[]
}

/**
 * Shares directory fsyncs between concurrent commits into one directory. A caller asks only after
 * its own rename is done; an fsync already running may have started before that rename, so the
 * caller waits for the next fsync, which starts after the running one ends and covers every caller
 * that asked before it started. Nobody is answered before an fsync that started after their change.
 */
export class DirectorySyncer {
  private readonly directories = new Map<string, DirectoryState>()

  sync(dir: string): Promise<void> {
    let state = this.directories.get(dir)
    if (state === undefined) {
      state = { running: false, waiters: [] }
      this.directories.set(dir, state)
    }
    const joined = state
    const done = new Promise<void>((resolve, reject) => { joined.waiters.push({ resolve, reject }) })
    if (!joined.running) this.start(dir, joined)
    return done
  }

  private start(dir: string, state: DirectoryState): void {
    const batch = state.waiters
    state.waiters = []
    state.running = true
    const settle = (outcome: (waiter: Waiter) => void): void => {
      state.running = false
      if (state.waiters.length > 0) this.start(dir, state)
      else this.directories.delete(dir)
      for (const waiter of batch) outcome(waiter)
    }
    fsyncDir(dir).then(() => settle((w) => w.resolve()), (err: unknown) => settle((w) => w.reject(err)))
  }
}
