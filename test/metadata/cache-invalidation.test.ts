/**
 * Manifest-cache invalidation goes through the coordination interface: two stores on one database
 * (two nodes, as far as the cache knows) that share an invalidation channel never serve a moved tag
 * from a stale cache; without the shared channel one would, which is what a multi-node
 * Coordination must broadcast.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { InProcessCoordination } from '../../src/coordination/in-process.js'
import { SqliteMetadataStore } from '../../src/metadata/sqlite-metadata-store.js'
import { manifestPut, randomDigest, ref, repo, tag } from './metadata-store-contract.js'

async function twoStores(t: Test, shared: boolean): Promise<{ reader: SqliteMetadataStore; writer: SqliteMetadataStore; seen: Array<string | undefined> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-invalidation-'))
  const file = path.join(dir, 'metadata.db')
  const channel = new InProcessCoordination()
  const seen: Array<string | undefined> = []
  channel.onInvalidate((r) => seen.push(r))
  const writer = new SqliteMetadataStore(file, { invalidation: channel })
  await writer.ready
  const reader = new SqliteMetadataStore(file, shared ? { invalidation: channel } : {})
  await reader.ready
  t.teardown(async () => {
    await reader.close()
    await writer.close()
    await rm(dir, { recursive: true, force: true })
  })
  return { reader, writer, seen }
}

async function moveTagUnderACachedRead(t: Test, shared: boolean): Promise<{ read: string | undefined; first: string; second: string; seen: Array<string | undefined> }> {
  const { reader, writer, seen } = await twoStores(t, shared)
  const r = repo('team/app')
  const first = manifestPut(r, [ref(randomDigest(), 1, 'external')], { tags: ['latest'] })
  const second = manifestPut(r, [ref(randomDigest(), 1, 'external')], { tags: ['latest'] })
  t.match(await writer.putManifest(first.put), { ok: true })
  t.equal((await reader.findManifest(r, { tag: tag('latest') }))?.digest, first.digest, 'the reader has read (and cached) latest')
  t.match(await writer.putManifest(second.put), { ok: true })
  return { read: (await reader.findManifest(r, { tag: tag('latest') }))?.digest, first: first.digest, second: second.digest, seen }
}

t.test('a write announced on the shared channel drops the other store\'s cached manifests', async (t) => {
  const { read, second, seen } = await moveTagUnderACachedRead(t, true)
  t.equal(read, second, 'the reader sees where the tag points now')
  t.same(seen, ['team/app', 'team/app'], 'each manifest write announced its repository on the channel')
})

t.test('control: without the shared channel the other store serves its stale cache', async (t) => {
  const { read, first } = await moveTagUnderACachedRead(t, false)
  t.equal(read, first, 'stale: this is what a multi-node Coordination must prevent by broadcasting')
})
