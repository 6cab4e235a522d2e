import { Worker } from 'node:worker_threads'
import type { ReadOperation, SqliteMaintenanceReader } from './maintenance-reader.js'
import type { ReadRequest } from './reader-worker.js'
import type { WriteResponse } from './writer-worker.js'
import { METADATA_THREAD_LIMITS } from './thread-limits.js'

/**
 * The serving thread's side of reader-worker.ts, started on first use. A reader thread that dies
 * fails the reads in flight only; the next read starts a new one (it holds no state).
 */
export class ReaderThread {
  private readonly file: string
  private worker: Worker | undefined
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>()
  private nextCallId = 1
  private closed = false

  constructor(file: string) {
    this.file = file
  }

  call<K extends ReadOperation>(operation: K, ...args: Parameters<SqliteMaintenanceReader[K]>): Promise<ReturnType<SqliteMaintenanceReader[K]>> {
    if (this.closed) return Promise.reject(new Error('metadata store is closed'))
    const worker = this.worker ?? this.start()
    const id = this.nextCallId++
    return new Promise((resolve, reject) => {
      if (this.calls.size === 0) worker.ref()
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject })
      worker.postMessage({ id, operation, args } satisfies ReadRequest)
    })
  }

  private start(): Worker {
    const worker = new Worker(new URL('./reader-worker.js', import.meta.url), { workerData: { file: this.file }, resourceLimits: METADATA_THREAD_LIMITS })
    this.worker = worker
    worker.unref()
    worker.on('message', (message: WriteResponse | 'ready' | 'closed') => {
      if (typeof message === 'string') return
      const call = this.calls.get(message.id)
      if (call === undefined) return
      this.calls.delete(message.id)
      if (this.calls.size === 0) worker.unref()
      if (message.ok) call.resolve(message.value)
      else call.reject(Object.assign(new Error(message.error.message), { name: message.error.name, ...(message.error.code !== undefined ? { code: message.error.code } : {}) }))
    })
    const fail = (err: Error): void => {
      if (this.worker !== worker) return
      this.worker = undefined
      for (const call of this.calls.values()) call.reject(err)
      this.calls.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the metadata reader thread exited (code ${code})`)))
    return worker
  }

  async close(): Promise<void> {
    this.closed = true
    const worker = this.worker
    this.worker = undefined
    for (const call of this.calls.values()) call.reject(new Error('metadata store is closed'))
    this.calls.clear()
    await worker?.terminate()
  }
}
