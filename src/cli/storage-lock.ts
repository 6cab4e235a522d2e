import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { CommandFailure } from './failure.js'

/** The lock itself: a SQLite file whose POSIX lock this process holds. Never deleted. */
export const LOCK_FILE = 'wharf.lock'
/** Who holds the lock, for people and error messages only: nothing is decided from it. */
export const HOLDER_FILE = 'wharf.lock.holder'
/** What versions before the lock wrote; removed when the lock is taken. */
const LEGACY_PID_FILE = 'wharf.pid'

export interface StorageLock {
  /** Releases the lock (the kernel releases it too if the process dies first). */
  release(): Promise<void>
}

/** Another process holds the store's lock. */
export class StorageInUseError extends CommandFailure {}

// Open lock databases, so that garbage collection can never close one (and drop its lock) early.
const held = new Set<Database.Database>()

/**
 * Takes `storage` for this process (one writer per data directory: blob commits and garbage
 * collection coordinate through in-process locks) or fails at once with StorageInUseError.
 *
 * The lock is a POSIX record lock that SQLite takes on `wharf.lock` (Node has no flock), held
 * until the connection closes; the kernel drops it when the process dies, however it dies. It holds across PID namespaces (containers sharing a volume,
 * where every server is PID 1) because it belongs to the open file, not to a PID.
 */
export async function lockStorage(storage: string, command: string, hint: string): Promise<StorageLock> {
  await mkdir(storage, { recursive: true })
  const db = new Database(path.join(storage, LOCK_FILE), { timeout: 0 })
  try {
    db.pragma('locking_mode = EXCLUSIVE')
    // An empty exclusive transaction takes the lock and writes nothing (so there is nothing a
    // crash could leave half-written); exclusive locking mode keeps the lock after COMMIT.
    db.exec('BEGIN EXCLUSIVE; COMMIT')
  } catch (err) {
    db.close()
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err
    const holder = await readFile(path.join(storage, HOLDER_FILE), 'utf8').then((text) => text.trim(), () => 'holder unknown')
    throw new StorageInUseError(`${storage} is in use by another wharf process (${holder}); ${hint}`)
  }
  held.add(db)
  try {
    const temp = path.join(storage, `.${HOLDER_FILE}.tmp`)
    await writeFile(temp, `${command}, pid ${process.pid} on host ${hostname()}, since ${new Date().toISOString()}\n`)
    await rename(temp, path.join(storage, HOLDER_FILE))
    await rm(path.join(storage, LEGACY_PID_FILE), { force: true })
  } catch (err) {
    held.delete(db)
    db.close()
    throw err
  }
  let released = false
  return {
    async release() {
      if (released) return
      released = true
      // The note goes first: once the lock is free, the next holder's note must not be removed.
      await rm(path.join(storage, HOLDER_FILE), { force: true })
      held.delete(db)
      db.close()
    },
  }
}
