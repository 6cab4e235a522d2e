/**
 * The request context's abort signal: a client that disconnects in the middle of an upload aborts
 * the signal the registry streams under, the bytes that arrived stay durable and resumable, nothing
 * is logged as a server error, and the client's upload slot is free again.
 */
import { once } from 'node:events'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { makeBlob, uniqueRepo, waitFor } from '../support/index.js'
import { startComposed } from './in-process.js'

t.test('disconnecting mid-upload aborts the request signal; the session keeps what arrived', async (t) => {
  const signals: Array<AbortSignal | undefined> = []
  const { client, logs } = await startComposed(t, {
    config: (base) => ({ ...base, limits: { ...base.limits, uploadsPerClient: 1 } }),
    overrides: {
      blobStore: async (build) => {
        const inner = await build()
        // Every method passes through; appendUpload also records the signal it was given.
        return new Proxy(inner, {
          get(target, property) {
            if (property === 'appendUpload') {
              return (id: string, source: AsyncIterable<Uint8Array>, signal?: AbortSignal) => { signals.push(signal); return target.appendUpload(id, source, signal) }
            }
            const value = Reflect.get(target, property, target) as unknown
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
          },
        }) as BlobStore
      },
    },
  })
  const repo = uniqueRepo('signal')
  const blob = makeBlob(4 * 1024 * 1024)
  const { location } = await client.startUpload(repo)
  const url = new URL(client.base)
  const req = http.request({
    host: url.hostname, port: url.port, method: 'PATCH', path: location, agent: false,
    headers: { 'content-type': 'application/octet-stream', 'content-length': blob.size },
  })
  req.on('error', () => { /* destroyed on purpose */ })
  req.flushHeaders()
  // More than the store's 1 MiB write batch, so that some bytes are durable when the client leaves.
  const sent = 1536 * 1024
  for (let offset = 0; offset < sent; offset += 64 * 1024) {
    if (!req.write(blob.data.subarray(offset, offset + 64 * 1024))) await once(req, 'drain')
  }
  await waitFor('the chunk streaming into the store', async () => (signals.length === 1 ? true : undefined))
  const signal = signals[0]
  t.ok(signal, 'the upload streams under the request signal')
  t.equal(signal?.aborted, false, 'not aborted while the client is there')
  await sleep(100)
  req.destroy()
  await waitFor('the signal to abort', async () => (signal?.aborted === true ? true : undefined))
  t.match(signal?.reason, { code: 'ABORT_ERR', message: /client closed the connection/ })

  const status = await client.get(location)
  t.equal(status.status, 204, 'the session is still there')
  // "0-0" is what the spec's Range says for an empty upload too.
  const end = Number(status.header('range')!.split('-')[1])
  const kept = end === 0 ? 0 : end + 1
  t.ok(kept > 0 && kept <= sent, `kept a durable prefix (${kept} of ${sent} bytes sent)`)
  const resumed = await client.patch(location, blob.data.subarray(kept), { contentRange: `${kept}-${blob.size - 1}` })
  t.equal(resumed.status, 202, 'the one upload slot of this client was freed: no 429')
  t.equal((await client.putUpload(location, blob.digest)).status, 201, 'and the blob completes with the right digest')
  t.same(logs.filter((l) => (l.level as number) >= 50), [], 'no server error was logged')
})
