/**
 * Events after commit, observed by a subscriber of a Wharf composed in this process: the exact
 * sequence a session of pushes, mounts, deletes, tag moves and a collection produces, each event
 * naming the request that caused it; and subscribers that throw, reject or never finish change
 * nothing for clients.
 */
import t from 'tap'
import type { RegistryEvent } from '../../src/events/events.js'
import { descriptor, makeBlob, MediaTypes, ociIndex, ociManifest, request, uniqueRepo, waitFor, type HttpResponse } from '../support/index.js'
import { startComposed } from './in-process.js'

const HOUR = 60 * 60 * 1000

t.test('one subscriber sees every change, in order, after it was committed, with the request that made it', async (t) => {
  let offset = 0
  const { wharf, client } = await startComposed(t, {
    config: (base) => ({ ...base, retention: [{ repositories: 'events/**', maxAgeSeconds: 60, untaggedMaxAgeSeconds: 60 }] }),
    overrides: { clock: () => ({ now: () => Date.now() + offset }) },
  })
  const seen: RegistryEvent[] = []
  wharf.components.events.subscribe((event) => { seen.push(event) })
  const repo = uniqueRepo('events/app')
  const other = uniqueRepo('events/other')
  const ids: string[] = []
  const expect = async (what: string, status: number, res: Promise<HttpResponse>): Promise<HttpResponse> => {
    const response = await res
    t.equal(response.status, status, what)
    ids.push(response.header('x-request-id')!)
    return response
  }

  const layer = makeBlob('layer bytes')
  const config = makeBlob(JSON.stringify({ architecture: 'amd64', os: 'linux' }))
  await expect('monolithic blob push', 201, client.request(`/v2/${repo}/blobs/uploads/?digest=${layer.digest}`, { method: 'POST', body: layer.data }))
  const { location } = await client.startUpload(repo)
  await expect('session upload', 201, client.putUpload(location, config.digest, config.data))
  const first = ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: [descriptor(layer, MediaTypes.ociLayer)] })
  const second = ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: [descriptor(layer, MediaTypes.ociLayer)], annotations: { n: '2' } })
  await expect('manifest tagged v1', 201, client.putManifest(repo, 'v1', first))
  await expect('same manifest, same tag', 201, client.putManifest(repo, 'v1', first))
  await expect('v1 moves to a new manifest', 201, client.putManifest(repo, 'v1', second, { query: '?tag=old' }))
  await expect('mount', 201, client.request(`/v2/${other}/blobs/uploads/?mount=${layer.digest}&from=${repo}`, { method: 'POST' }))
  await expect('blob delete', 202, client.delete(`/v2/${other}/blobs/${layer.digest}`))
  await expect('tag delete', 202, client.delete(`/v2/${repo}/manifests/v1`))
  await expect('manifest delete', 202, client.delete(`/v2/${repo}/manifests/${first.digest}`))
  await expect('a HEAD pulls nothing', 200, client.head(`/v2/${repo}/manifests/old`, { accept: MediaTypes.ociManifest }))
  await expect('manifest pull by tag', 200, client.get(`/v2/${repo}/manifests/old`, { accept: MediaTypes.ociManifest }))
  await expect('blob pull', 200, client.get(`/v2/${repo}/blobs/${config.digest}`))
  offset = 2 * HOUR
  await expect('a dry run commits nothing, so publishes nothing', 200, request(client.base, '/_wharf/v1/gc?dryRun=true', { method: 'POST' }))
  const gc = await expect('collection', 200, request(client.base, '/_wharf/v1/gc', { method: 'POST' }))
  const report = gc.json<{ bytesFreed: number; durationMs: number }>()

  const anonymous = { kind: 'anonymous' }
  const system = { kind: 'system', job: 'gc' }
  const expected = [
    { type: 'repository.created', repo, requestId: ids[0], caller: anonymous },
    { type: 'blob.pushed', repo, digest: layer.digest, size: layer.size, requestId: ids[0], caller: anonymous },
    { type: 'blob.pushed', repo, digest: config.digest, size: config.size, requestId: ids[1], caller: anonymous },
    { type: 'manifest.pushed', repo, digest: first.digest, mediaType: MediaTypes.ociManifest, size: first.body.length, tags: ['v1'], requestId: ids[2], caller: anonymous },
    { type: 'tag.moved', repo, tag: 'v1', digest: first.digest, requestId: ids[2], caller: anonymous },
    { type: 'manifest.pushed', repo, digest: first.digest, mediaType: MediaTypes.ociManifest, size: first.body.length, tags: ['v1'], requestId: ids[3], caller: anonymous },
    { type: 'manifest.pushed', repo, digest: second.digest, mediaType: MediaTypes.ociManifest, size: second.body.length, tags: ['v1', 'old'], requestId: ids[4], caller: anonymous },
    { type: 'tag.moved', repo, tag: 'v1', digest: second.digest, previous: first.digest, requestId: ids[4], caller: anonymous },
    { type: 'tag.moved', repo, tag: 'old', digest: second.digest, requestId: ids[4], caller: anonymous },
    { type: 'repository.created', repo: other, requestId: ids[5], caller: anonymous },
    { type: 'blob.mounted', repo: other, digest: layer.digest, size: layer.size, from: repo, requestId: ids[5], caller: anonymous },
    { type: 'blob.deleted', repo: other, digest: layer.digest, requestId: ids[6], caller: anonymous },
    { type: 'tag.deleted', repo, tag: 'v1', digest: second.digest, requestId: ids[7], caller: anonymous },
    { type: 'manifest.deleted', repo, digest: first.digest, requestId: ids[8], caller: anonymous },
    { type: 'manifest.pulled', repo, digest: second.digest, mediaType: MediaTypes.ociManifest, size: second.body.length, tag: 'old', requestId: ids[10], caller: anonymous },
    { type: 'blob.pulled', repo, digest: config.digest, size: config.size, requestId: ids[11], caller: anonymous },
    { type: 'tag.deleted', repo, tag: 'old', digest: second.digest, requestId: ids[13], caller: system },
    { type: 'manifest.deleted', repo, digest: second.digest, requestId: ids[13], caller: system },
    {
      type: 'collection.finished', requestId: ids[13], caller: system,
      summary: {
        tagsRemoved: 1, manifestsRemoved: 1, repositoriesRemoved: 2, linksRemoved: 2, blobsRemoved: 2, bytesFreed: report.bytesFreed,
        uploadsPurged: 0, orphanFilesRemoved: 0, durationMs: report.durationMs,
      },
    },
  ]
  await waitFor('every event', async () => (seen.length >= expected.length ? true : undefined))
  t.equal(report.bytesFreed, layer.size + config.size, 'the collection freed both blobs')
  t.same(seen.map(({ at: _at, origin: _origin, ...rest }) => rest), expected)
  const host = new URL(client.base).host
  t.same(seen.find((e) => e.requestId === ids[10])?.origin, { address: '127.0.0.1', host, method: 'GET' }, 'a request\'s events say where it came from')
  t.ok(seen.every((e) => typeof e.at === 'number' && Object.isFrozen(e)), 'each event has its time and cannot be changed by a subscriber')
  t.ok(seen.slice(-3).every((e) => e.at >= Date.now() + HOUR), 'event times come from the clock dependency')
  t.equal(new Set(ids).size, ids.length, 'one request id per request')
})

t.test('subscribers that throw, reject or never finish neither fail nor delay requests', async (t) => {
  const { wharf, client, logs } = await startComposed(t)
  let releaseSlow!: () => void
  const slowGate = new Promise<void>((resolve) => { releaseSlow = resolve })
  let slowCalls = 0
  let slowDone = 0
  let healthy = 0
  const events = wharf.components.events
  events.subscribe(() => { throw new Error('subscriber bug') })
  events.subscribe(async () => { throw new Error('async subscriber bug') })
  events.subscribe(() => new Promise<void>(() => { /* never settles */ }))
  events.subscribe(async () => { slowCalls++; await slowGate; slowDone++ })
  events.subscribe(() => { healthy++ })
  t.teardown(() => releaseSlow())

  const repo = uniqueRepo('events/faulty')
  const started = Date.now()
  const image = await client.pushImage(repo, { tag: 'latest' })
  const put = await client.putManifest(repo, 'again', image.manifest)
  t.equal(put.status, 201, 'writes succeed')
  t.equal((await client.delete(`/v2/${repo}/manifests/again`)).status, 202)
  const pulled = await client.get(`/v2/${repo}/manifests/latest`, { accept: MediaTypes.ociManifest })
  t.equal(pulled.status, 200)
  t.ok(pulled.body.equals(image.manifest.body), 'reads see what was written')
  t.ok(Date.now() - started < 5000, 'requests were not held up')
  await waitFor('delivery to every subscriber', async () => (healthy >= 8 && slowCalls >= 8 ? true : undefined))
  t.equal(slowDone, 0, 'the slow subscriber is still waiting: no response waited for it')
  const failures = logs.filter((l) => l.msg === 'event subscriber failed')
  t.equal(failures.length, healthy * 2, 'every throw and rejection was logged, once each')
  t.ok(failures.every((l) => typeof l.reqId === 'string' && typeof l.event === 'string'), 'with the event and its request id')
  t.same(logs.filter((l) => (l.level as number) >= 50 && l.msg !== 'event subscriber failed'), [], 'no request failed')
  releaseSlow()
  await waitFor('the slow subscriber finishing', async () => (slowDone === slowCalls ? true : undefined))
})

t.test('a DELETE refused because the manifest or blob is referenced (409) publishes nothing', async (t) => {
  const { wharf, client } = await startComposed(t)
  const seen: RegistryEvent[] = []
  wharf.components.events.subscribe((event) => { seen.push(event) })
  const repo = uniqueRepo('events/held')
  const image = await client.pushImage(repo, { tag: 'child' })
  const index = ociIndex([descriptor(image.manifest, undefined, { platform: { os: 'linux', architecture: 'amd64' } })])
  await client.pushManifest(repo, 'latest', index)
  t.equal((await client.delete(`/v2/${repo}/manifests/${image.manifest.digest}`)).status, 409, 'the child an index references')
  t.equal((await client.delete(`/v2/${repo}/blobs/${image.layers[0]!.digest}`)).status, 409, 'a layer the child references')
  // Events arrive in order: once the next delete's event is seen, anything the refusals published would be too.
  t.equal((await client.delete(`/v2/${repo}/manifests/child`)).status, 202, 'a tag delete goes through')
  await waitFor('the tag delete\'s event', async () => (seen.some((e) => e.type === 'tag.deleted') ? true : undefined))
  t.same(seen.filter((e) => e.type === 'manifest.deleted' || e.type === 'blob.deleted'), [], 'no manifest.deleted or blob.deleted')
  t.match(seen.at(-1), { type: 'tag.deleted', repo, tag: 'child', digest: image.manifest.digest })
})

t.test('a subscriber of some event types gets only those, in order with the others', async (t) => {
  const { wharf, client } = await startComposed(t)
  const all: RegistryEvent[] = []
  const some: RegistryEvent[] = []
  wharf.components.events.subscribe((event) => { some.push(event) }, { types: ['manifest.pushed', 'collection.finished'] })
  wharf.components.events.subscribe((event) => { all.push(event) })
  const repo = uniqueRepo('events/filtered')
  const image = await client.pushImage(repo, { tag: 'v1' })
  t.equal((await client.get(`/v2/${repo}/manifests/v1`, { accept: MediaTypes.ociManifest })).status, 200)
  t.equal((await request(client.base, '/_wharf/v1/gc', { method: 'POST' })).status, 200)
  await waitFor('the collection event', async () => (all.some((e) => e.type === 'collection.finished') ? true : undefined))
  await waitFor('the filtered collection event', async () => (some.some((e) => e.type === 'collection.finished') ? true : undefined))
  t.same(some.map((e) => e.type), ['manifest.pushed', 'collection.finished'])
  t.equal(some[0]!.type === 'manifest.pushed' ? some[0]!.digest : undefined, image.manifest.digest)
  t.same(all.map((e) => e.type), ['repository.created', 'blob.pushed', 'blob.pushed', 'manifest.pushed', 'tag.moved', 'manifest.pulled', 'collection.finished'],
    'the unfiltered subscriber still sees everything')
})
