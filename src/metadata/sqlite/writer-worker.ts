import { parentPort, workerData } from 'node:worker_threads'
import { openDatabase } from './schema.js'
import { SqliteWriter, type WriteOperation } from './writer.js'

/** A request from the serving thread: run `operation` with `args`; answer under `id`. */
export interface WriteRequest {
  readonly id: number
  readonly operation: WriteOperation
  readonly args: readonly unknown[]
}

export type WriteResponse =
  | { readonly id: number; readonly ok: true; readonly value: unknown; readonly commit?: CommitTiming }
  | { readonly id: number; readonly ok: false; readonly error: { readonly message: string; readonly code?: string; readonly name: string }; readonly commit?: CommitTiming }

/** How long a batch's transaction took, commit included; sent with the batch's first answer (no message of its own). */
export interface CommitTiming {
  readonly writes: number
  readonly ms: number
}

/**
 * The writing thread. Commits fsync the WAL (synchronous=FULL); doing that here keeps the serving
 * thread answering reads meanwhile. Group commit: requests that arrive while a batch commits are
 * run together in the next transaction, each in its own savepoint (a failing one rolls back alone),
 * so one fsync makes a whole batch durable. Nobody is answered before the commit.
 */
const db = openDatabase((workerData as { file: string }).file)
const writer = new SqliteWriter(db)
let pending: WriteRequest[] = []
const port = parentPort!
// One transaction function for every request (inside the batch's transaction it is a savepoint):
// db.transaction() builds four wrappers each time it is called.
const runRequest = db.transaction((request: WriteRequest): unknown => (writer[request.operation] as (...args: unknown[]) => unknown).apply(writer, request.args as unknown[]))

function describe(error: unknown): { message: string; code?: string; name: string } {
  const e = error as { message?: string; code?: string; name?: string }
  return { message: e.message ?? String(error), name: e.name ?? 'Error', ...(e.code !== undefined ? { code: e.code } : {}) }
}

function flush(): void {
  const batch = pending
  pending = []
  const responses: WriteResponse[] = []
  const started = performance.now()
  try {
    db.exec('BEGIN IMMEDIATE')
    for (const request of batch) {
      try {
        const value = runRequest(request)
        responses.push({ id: request.id, ok: true, value })
      } catch (error) {
        responses.push({ id: request.id, ok: false, error: describe(error) })
      }
    }
    db.exec('COMMIT')
  } catch (error) {
    // The commit itself failed (disk full, I/O error): nothing of the batch is durable.
    if (db.inTransaction) db.exec('ROLLBACK')
    for (const request of batch) port.postMessage({ id: request.id, ok: false, error: describe(error) } satisfies WriteResponse)
    return
  }
  const commit: CommitTiming = { writes: batch.length, ms: performance.now() - started }
  responses[0] = { ...responses[0]!, commit }
  for (const response of responses) port.postMessage(response)
}

port.postMessage('ready')

port.on('message', (message: WriteRequest | 'close') => {
  if (message === 'close') {
    if (pending.length > 0) flush()
    db.close()
    port.postMessage('closed')
    return
  }
  pending.push(message)
  if (pending.length === 1) setImmediate(flush)
})
