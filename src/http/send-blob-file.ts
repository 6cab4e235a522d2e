import type { FastifyReply } from 'fastify'
import type { OpenedBlob } from '../registry/blobs.js'

type BlobFile = NonNullable<OpenedBlob['file']>

/**
 * Large reads cost fewer syscalls and callbacks per byte (4 MiB measured best of 1-8 MiB); a sender
 * holds at most two (one being written, one being read), so a slow client pins 2 × CHUNK_BYTES at most.
 */
export const CHUNK_BYTES = 4 << 20
/**
 * Free buffers kept for the next chunks (enough for four concurrent pulls): reusing them spares an
 * allocation, its page faults and its GC per chunk.
 */
const POOL_MAX = 8
const pool: Buffer[] = []

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES)
}

function giveBack(buffer: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(buffer)
}

/**
 * Sends `file` as the body of the reply (status and headers already set on `reply`), written to
 * the socket from pooled buffers instead of a stream piped through Fastify. A buffer goes back to
 * the pool only once its write completed (the socket, or TLS, no longer needs it); one the
 * connection dropped is left to the garbage collector. The file is closed however it ends. The
 * reply's finish and close events still fire, so onResponse hooks, logs and metrics see it.
 */
export function sendBlobFile(reply: FastifyReply, file: BlobFile): void {
  reply.hijack()
  const response = reply.raw
  response.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string | number | string[]>)
  let closed = false
  const gone = new Promise<false>((resolve) => response.once('close', () => { closed = true; resolve(false) }))
  const write = (buffer: Buffer, count: number): Promise<boolean> => Promise.race([gone, new Promise<boolean>((resolve) => {
    response.write(count === buffer.length ? buffer : buffer.subarray(0, count), (err) => {
      if (err == null) giveBack(buffer)
      resolve(err == null)
    })
  })])
  const pump = async (): Promise<void> => {
    let offset = 0
    let previous: Promise<boolean> = Promise.resolve(true)
    while (offset < file.length) {
      const buffer = takeBuffer()
      const count = await file.read(buffer, offset, Math.min(buffer.length, file.length - offset))
      // Content-Length is out already: a short file can only end the connection.
      if (count === 0) throw new Error(`blob file ended at ${offset} of ${file.length} bytes`)
      // Waiting for the previous write before queueing this one is the backpressure.
      if (!await previous || closed) return
      previous = write(buffer, count)
      offset += count
    }
    if (await previous && !closed) response.end()
  }
  pump().catch((err: unknown) => {
    if (!closed) reply.log.error({ err }, 'blob read failed while sending')
    response.destroy()
  }).finally(() => {
    file.close().catch((err: unknown) => reply.log.warn({ err }, 'closing a blob file failed'))
  })
}
