/**
 * The upload purge (hourly in the server, and in every collection) works from a list of idle
 * sessions taken before its loop. A session a client used after that list was taken is live and
 * must survive: the purge re-checks each one under the session's lock.
 */
import { rm } from 'node:fs/promises'
import t from 'tap'
import { systemContext } from '../../src/context/request-context.js'
import type { MetadataMaintenance, MetadataStore } from '../../src/metadata/metadata-store.js'
import { makeBlob, RegistryClient, sleep, tempDir, uniqueRepo } from '../support/index.js'
import { startInProcess } from '../reliability/harness.js'

t.test('a session touched after the purge listed it as idle survives the purge and completes', async (t) => {
  // Runs between the purge's listing and its loop: what a PATCH arriving at that moment does.
  let afterListing: (() => Promise<void>) | undefined
  const storage = await tempDir('purge')
  const server = await startInProcess({
    storage,
    wrapMetadata: (metadata) => new Proxy(metadata, {
      get(target, property) {
        if (property === 'listUploads') {
          return async (updatedBefore?: number) => {
            const listed = await target.listUploads(updatedBefore)
            const hook = afterListing
            afterListing = undefined
            if (hook !== undefined) await hook()
            return listed
          }
        }
        const value = Reflect.get(target, property) as unknown
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
      },
    }) as MetadataStore & MetadataMaintenance,
  })
  t.teardown(async () => {
    await server.close()
    await rm(storage, { recursive: true, force: true })
  })
  const client = new RegistryClient(server.base)
  const repo = uniqueRepo('purge')
  const blob = makeBlob(3000)
  const live = await client.startUpload(repo)
  const idle = await client.startUpload(repo)
  await sleep(20)
  const idleBefore = Date.now()
  await sleep(20)

  afterListing = async () => {
    const res = await client.patch(live.location, blob.data.subarray(0, 1000), { contentRange: '0-999' })
    t.equal(res.status, 202, 'the live session gets a chunk after the listing')
  }
  const purged = await server.registry.uploads.purge(systemContext('purge'), idleBefore, { orphanFiles: false })
  t.equal(afterListing, undefined, 'the chunk arrived between the listing and the loop')
  t.equal(purged.sessions, 1, 'only the idle session was purged')

  t.equal((await client.get(idle.location)).status, 404, 'the idle session is gone')
  const status = await client.get(live.location)
  t.equal(status.status, 204, 'the live session survived')
  t.equal(status.header('range'), '0-999', 'with its bytes')
  t.equal((await client.patch(live.location, blob.data.subarray(1000), { contentRange: '1000-2999' })).status, 202)
  t.equal((await client.putUpload(live.location, blob.digest)).status, 201, 'and completes')
})
