import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import type { Clock } from '../context/clock.js'
import { fsyncDir } from '../storage/directory-sync.js'

/**
 * What the files of identities (htpasswd, robots.json) share: atomic replacement, and noticing
 * that another process (the CLI, an editor) changed them.
 */

/** Where problems with these files are reported (the server's pino logger fits). */
export interface FileLogger {
  error(fields: object, message: string): void
  info(fields: object, message: string): void
}

/** What identifies one version of a file; a different signature means the file changed. */
export function signatureOf(stats: { ino: number; size: number; mtimeMs: number; ctimeMs: number } | undefined): string {
  return stats === undefined ? 'missing' : `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`
}

/** The file's current signature ('missing' when it does not exist). */
export async function currentSignature(file: string): Promise<string> {
  try {
    return signatureOf(await stat(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing'
    throw err
  }
}

/**
 * Replaces `file` with `text` so that a reader or a crash sees either the old or the new file,
 * never part of one: a temp file in the same directory, fsync, rename, fsync of the directory.
 * The file keeps its mode; a new file gets `newFileMode`. With `expectedSignature`, the file must
 * still be the version the caller read (else ConcurrentChangeError, nothing written): two
 * commands editing at once then retry instead of one silently undoing the other.
 */
export async function replaceFile(file: string, text: string, options: { newFileMode: number; expectedSignature?: string }): Promise<void> {
  const dir = path.dirname(file)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const existing = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  const mode = existing !== undefined ? existing.mode & 0o7777 : options.newFileMode
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temp, 'wx', mode).catch((err: NodeJS.ErrnoException) => {
    // The error names the temp file; say which file could not be changed, and why a directory matters.
    err.message = `cannot write ${file}: a new version is written beside it and renamed over it, so ${dir} must be writable (${err.message})`
    throw err
  })
  try {
    await handle.writeFile(text)
    // The umask may have narrowed the mode given to open; the file's own mode is what is kept.
    await handle.chmod(mode)
    await handle.sync()
  } catch (err) {
    await handle.close().catch(() => undefined)
    await rm(temp, { force: true })
    throw err
  }
  await handle.close()
  try {
    // Looked at again just before the rename: the window for an unlocked writer is that short.
    if (options.expectedSignature !== undefined && await currentSignature(file) !== options.expectedSignature) {
      throw new ConcurrentChangeError(file)
    }
    await rename(temp, file)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
  await fsyncDir(dir)
}

export class ConcurrentChangeError extends Error {
  constructor(file: string) {
    super(`${file} was changed by another process while it was being edited`)
  }
}

/** A lock file older than this was left by a process that died while editing. */
const STALE_LOCK_MS = 30_000
const LOCK_WAIT_MS = 10_000

/**
 * Runs `edit` holding `.<name>.lock` beside the file (created exclusively; removed after), so that
 * two commands editing at once take turns instead of one undoing the other.
 */
async function withEditLock<T>(file: string, edit: () => Promise<T>): Promise<T> {
  const dir = path.dirname(file)
  const lock = path.join(dir, `.${path.basename(file)}.lock`)
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const handle = await open(lock, 'wx', 0o600)
      await handle.writeFile(`pid ${process.pid}\n`).finally(() => handle.close())
      break
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') { await mkdir(dir, { recursive: true, mode: 0o700 }); continue }
      if (code !== 'EEXIST') throw err
      const held = await stat(lock).catch(() => undefined)
      if (held !== undefined && Date.now() - held.mtimeMs > STALE_LOCK_MS) { await rm(lock, { force: true }); continue }
      if (Date.now() > deadline) {
        throw Object.assign(new Error(`${file} is being edited by another process (${lock} exists; remove it if no wharf command is running)`), { code: 'EBUSY' })
      }
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 40))
    }
  }
  try {
    return await edit()
  } finally {
    await rm(lock, { force: true })
  }
}

/**
 * Read, change, replace, holding the file's edit lock; again (a few times) when something that
 * does not take the lock (an editor, Apache's htpasswd) replaced the file in between. `change`
 * gets the file's text (undefined when it does not exist) and returns the new text, or undefined
 * to write nothing.
 */
export async function editFile<T>(file: string, newFileMode: number, change: (text: string | undefined) => { text: string | undefined; result: T }): Promise<T> {
  // No directory yet: nothing to remove, and nothing is created for an edit that writes nothing.
  if (await currentSignature(path.dirname(file)) === 'missing') {
    const outcome = change(undefined)
    if (outcome.text === undefined) return outcome.result
  }
  return withEditLock(file, async () => {
    for (let attempt = 1; ; attempt++) {
      const { text, signature } = await readWithSignature(file)
      const outcome = change(text)
      if (outcome.text === undefined) return outcome.result
      try {
        await replaceFile(file, outcome.text, { newFileMode, expectedSignature: signature })
        return outcome.result
      } catch (err) {
        if (!(err instanceof ConcurrentChangeError) || attempt >= 5) throw err
      }
    }
  })
}

/** The file's text and the signature of the version read (undefined text: no such file). */
export async function readWithSignature(file: string): Promise<{ text: string | undefined; signature: string }> {
  // Stat before reading: a change after the stat shows as a new signature at the next check.
  const signature = await currentSignature(file)
  if (signature === 'missing') return { text: undefined, signature }
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (handle === undefined) return { text: undefined, signature: 'missing' }
  try {
    return { text: await handle.readFile('utf8'), signature }
  } finally {
    await handle.close()
  }
}

/**
 * A file a server reads and keeps in memory, parsed again when it changes on disk. The disk is
 * looked at no more than once per `intervalMs`, so checking before each login costs a `stat` per
 * second at most.
 */
export class WatchedFile<T> {
  private value: T | undefined
  private signature = ''
  private checkedAt = Number.NEGATIVE_INFINITY
  private pending: Promise<T> | undefined

  constructor(
    readonly file: string,
    /**
     * Turns the file's text into the value; called again on each change. Undefined text: no such
     * file, or it could not be read (`error` says why).
     */
    private readonly parse: (text: string | undefined, error?: Error) => T,
    private readonly clock: Clock,
    private readonly intervalMs = 1000,
  ) {}

  /** The value for the file as it is now (at most `intervalMs` old). */
  async current(): Promise<T> {
    if (this.value !== undefined && this.clock.now() - this.checkedAt < this.intervalMs) return this.value
    this.pending ??= this.refresh().finally(() => { this.pending = undefined })
    return this.pending
  }

  /** Reads the file now if it changed, whatever the interval. */
  async reload(): Promise<T> {
    this.checkedAt = Number.NEGATIVE_INFINITY
    return this.current()
  }

  private async refresh(): Promise<T> {
    this.checkedAt = this.clock.now()
    try {
      const signature = await currentSignature(this.file)
      if (this.value !== undefined && signature === this.signature) return this.value
      const read = await readWithSignature(this.file)
      this.value = this.parse(read.text)
      this.signature = read.signature
    } catch (err) {
      // Unreadable (permissions, I/O): nothing from it is trusted until it can be read again,
      // which is tried at every interval; the same error is reported once.
      const unreadable = `unreadable:${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`
      if (this.value !== undefined && this.signature === unreadable) return this.value
      this.value = this.parse(undefined, err as Error)
      this.signature = unreadable
    }
    return this.value
  }
}
