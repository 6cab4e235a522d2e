import { open, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { ConfigError } from '../config/config.js'

const PID_FILE = 'wharf.pid'

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM'
  }
}

/** The pid of a live server using `storage`, if any (a stale pid file is ignored). */
export async function runningServer(storage: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path.join(storage, PID_FILE), 'utf8')).trim())
    return Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Claims `storage` for this server process: one server per data directory, since blob commits and
 * garbage collection coordinate through in-process locks. Returns the release function.
 */
export async function claimStorage(storage: string): Promise<() => Promise<void>> {
  const file = path.join(storage, PID_FILE)
  const other = await runningServer(storage)
  if (other !== undefined) throw new ConfigError(`another wharf server (pid ${other}) is using ${storage}`)
  await rm(file, { force: true })
  const handle = await open(file, 'wx')
  try {
    await handle.writeFile(`${process.pid}\n`)
  } finally {
    await handle.close()
  }
  return async () => { await rm(file, { force: true }) }
}
