import Database from 'better-sqlite3'
import { parentPort, workerData } from 'node:worker_threads'
import { SqliteMaintenanceReader, type ReadOperation } from './maintenance-reader.js'
import type { WriteResponse } from './writer-worker.js'

/** A request from the serving thread: run `operation` with `args` in one read transaction; answer under `id`. */
export interface ReadRequest {
  readonly id: number
  readonly operation: ReadOperation
  readonly args: readonly unknown[]
}

/**
 * The maintenance reading thread: a read-only connection (it can never take the write lock), one
 * request at a time, each inside BEGIN ... COMMIT so all its statements see one snapshot.
 */
const db = new Database((workerData as { file: string }).file, { readonly: true })
db.pragma('busy_timeout = 10000')
// Its reads are scans that a page cache barely helps: 2 MiB instead of the 16 MiB default keeps a
// collection over a large store from growing the process by the size of the cache.
db.pragma('cache_size = -2048')
const reader = new SqliteMaintenanceReader(db)
const port = parentPort!

port.on('message', (message: ReadRequest | 'close') => {
  if (message === 'close') {
    db.close()
    port.postMessage('closed')
    return
  }
  let response: WriteResponse
  try {
    db.exec('BEGIN')
    try {
      const run = reader[message.operation] as (...args: unknown[]) => unknown
      response = { id: message.id, ok: true, value: run.apply(reader, [...message.args]) }
    } finally {
      db.exec('COMMIT')
    }
  } catch (error) {
    const e = error as { message?: string; code?: string; name?: string }
    response = { id: message.id, ok: false, error: { message: e.message ?? String(error), name: e.name ?? 'Error', ...(e.code !== undefined ? { code: e.code } : {}) } }
  }
  port.postMessage(response)
})
port.postMessage('ready')
