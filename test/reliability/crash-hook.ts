/**
 * Preloaded into a wharf server (NODE_OPTIONS=--import) by the crash tests to kill it at an exact
 * point that a random delay rarely hits. WHARF_CRASH_HOOK is JSON: { "point": ..., "nth": N }.
 *   before-blob-rename  the Nth rename into blobs/ is about to run (upload fsynced, not yet a blob)
 *   after-blob-rename   the Nth rename into blobs/ is done (blob file durable, metadata not written)
 *   before-blob-rm      the Nth removal (rm or unlink) of a file under blobs/ (GC: record already deleted)
 *   after-blob-rm       the Nth removal of a file under blobs/ is done
 * The process SIGKILLs itself, like a power cut as far as the process is concerned.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module'

const spec = process.env.WHARF_CRASH_HOOK
if (spec !== undefined && spec !== '') {
  const { point, nth } = JSON.parse(spec) as { point: string; nth: number }
  const require = createRequire(import.meta.url)
  const fsp = require('node:fs/promises') as typeof import('node:fs/promises')
  const die = (): never => {
    process.kill(process.pid, 'SIGKILL')
    throw new Error('unreachable')
  }
  let renames = 0
  let removals = 0
  const rename = fsp.rename
  fsp.rename = async (from, to) => {
    const intoBlobs = String(to).includes(`${'/'}blobs${'/'}`)
    if (intoBlobs) renames++
    if (intoBlobs && point === 'before-blob-rename' && renames === nth) die()
    await rename(from, to)
    if (intoBlobs && point === 'after-blob-rename' && renames === nth) die()
  }
  const removing = async (file: unknown, remove: () => Promise<void>): Promise<void> => {
    const inBlobs = String(file).includes(`${'/'}blobs${'/'}`)
    if (inBlobs) removals++
    if (inBlobs && point === 'before-blob-rm' && removals === nth) die()
    await remove()
    if (inBlobs && point === 'after-blob-rm' && removals === nth) die()
  }
  const rm = fsp.rm
  fsp.rm = (file, options) => removing(file, () => rm(file, options))
  const unlink = fsp.unlink
  fsp.unlink = (file) => removing(file, () => unlink(file))
  syncBuiltinESMExports()
}
