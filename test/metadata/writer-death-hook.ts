/**
 * Preloaded into a wharf server (NODE_OPTIONS=--import) by writer-death.test.ts: when the server
 * posts its Nth write (WHARF_KILL_WRITER_AT) to the metadata writer thread, the thread is
 * terminated instead, as if it had crashed.
 */
import { isMainThread, Worker } from 'node:worker_threads'

const nth = Number(process.env.WHARF_KILL_WRITER_AT ?? '')
if (isMainThread && Number.isInteger(nth) && nth > 0) {
  let writes = 0
  const postMessage = Worker.prototype.postMessage
  Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: never) {
    const isWrite = typeof message === 'object' && message !== null && 'operation' in message
    if (isWrite && ++writes === nth) {
      void this.terminate()
      return
    }
    postMessage.call(this, message, transfer)
  }
}
