/**
 * Webhook envelopes as registry:2 sends them, from a real `wharf serve` to a real receiver:
 * media type, fields, the signature over the exact body, configured headers; and the filters.
 */
import t from 'tap'
import { configBlob, descriptor, makeBlob, ociManifest, waitFor, sleep } from '../support/index.js'
import { Receiver } from './receiver.js'
import { endpointStatus, expectedSignature, startWithEndpoints } from './support.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('push, mount and delete events arrive in registry:2\'s envelope, signed, with the configured headers', async (t) => {
  const receiver = await Receiver.start()
  t.teardown(() => receiver.stop())
  const { wharf, client } = await startWithEndpoints([{
    name: 'main', url: receiver.url, secret: 's3cret', headers: { Authorization: 'Bearer hook-token' }, backoffSeconds: 1, maxBackoffSeconds: 2,
  }])
  t.teardown(() => wharf.stop({ removeStorage: true }))
  const started = Date.now()

  const config = configBlob()
  const layer = makeBlob(2048)
  await client.pushBlob('lib/app', config)
  await client.pushBlob('lib/app', layer)
  const manifest = ociManifest({ config: descriptor(config), layers: [descriptor(layer)] })
  const put = await client.putManifest('lib/app', 'v1', manifest, { headers: { 'user-agent': 'hook-test/1.0' } })
  t.equal(put.status, 201)
  t.equal((await client.mountBlob('lib/other', layer.digest, 'lib/app')).status, 201)
  t.equal((await client.deleteManifest('lib/app', 'v1')).status, 202, 'tag deleted')
  t.equal((await client.deleteManifest('lib/app', manifest.digest)).status, 202, 'manifest deleted')
  t.equal((await client.delete(`/v2/lib/other/blobs/${layer.digest}`)).status, 202, 'blob deleted')
  // A pull is not sent: pull is opt-in.
  t.equal((await client.getBlob('lib/app', config.digest)).status, 200)

  await waitFor('seven events', async () => receiver.events.length >= 7, 15000)
  await waitFor('an empty queue', async () => (await endpointStatus(client, 'main')).pending === 0, 5000)
  await sleep(300)
  const events = receiver.events
  t.equal(events.length, 7, 'each event once, no pull')

  for (const delivery of receiver.deliveries) {
    t.equal(delivery.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json')
    t.equal(delivery.headers.authorization, 'Bearer hook-token', 'configured header sent')
    t.equal(delivery.headers['x-wharf-signature-256'], expectedSignature('s3cret', delivery.body), 'HMAC-SHA256 of the exact body')
    t.same(Object.keys(JSON.parse(delivery.body) as object), ['events'])
  }

  t.same(events.map((e) => [e.action, e.target.repository, e.target.digest, e.target.tag]), [
    ['push', 'lib/app', config.digest, undefined],
    ['push', 'lib/app', layer.digest, undefined],
    ['push', 'lib/app', manifest.digest, 'v1'],
    ['mount', 'lib/other', layer.digest, undefined],
    ['delete', 'lib/app', manifest.digest, 'v1'],
    ['delete', 'lib/app', manifest.digest, undefined],
    ['delete', 'lib/other', layer.digest, undefined],
  ])
  const [configPush, layerPush, manifestPush, mount, tagDelete, manifestDelete, blobDelete] = events
  t.same(layerPush!.target, {
    mediaType: 'application/octet-stream', size: 2048, digest: layer.digest, length: 2048, repository: 'lib/app',
    url: `http://${wharf.address}/v2/lib/app/blobs/${layer.digest}`,
  })
  t.equal(configPush!.request.method, 'POST')
  t.same(manifestPush!.target, {
    mediaType: manifest.mediaType, size: manifest.body.length, digest: manifest.digest, length: manifest.body.length, repository: 'lib/app',
    url: `http://${wharf.address}/v2/lib/app/manifests/${manifest.digest}`, tag: 'v1',
  })
  t.same(manifestPush!.request, { id: put.headers['x-request-id'], addr: '127.0.0.1', host: wharf.address, method: 'PUT', useragent: 'hook-test/1.0' })
  t.same(manifestPush!.actor, {}, 'anonymous: no actor name')
  t.same(mount!.target, {
    mediaType: 'application/octet-stream', size: 2048, digest: layer.digest, length: 2048, repository: 'lib/other', fromRepository: 'lib/app',
    url: `http://${wharf.address}/v2/lib/other/blobs/${layer.digest}`,
  })
  t.same(tagDelete!.target, { digest: manifest.digest, repository: 'lib/app', tag: 'v1' })
  t.same(manifestDelete!.target, { digest: manifest.digest, repository: 'lib/app' })
  t.same(blobDelete!.target, { digest: layer.digest, repository: 'lib/other' })
  t.equal(blobDelete!.request.method, 'DELETE')

  t.equal(new Set(events.map((e) => e.id)).size, 7, 'every event has its own id')
  const port = new URL(wharf.url).port
  for (const event of events) {
    t.match(event.id, UUID)
    const at = Date.parse(event.timestamp)
    t.ok(at >= started - 1000 && at <= Date.now(), 'timestamp is when it happened')
    t.match(event.source.addr, new RegExp(`:${port}$`))
    t.match(event.source.instanceID, UUID)
  }
  t.equal(new Set(events.map((e) => e.source.instanceID)).size, 1)

  const status = await endpointStatus(client, 'main')
  t.match(status, { name: 'main', url: receiver.url, pending: 0, delivered: 7, failedAttempts: 0, lastError: null })
  t.ok(status.lastSuccessAt !== null && Date.parse(status.lastSuccessAt) >= started)
})

t.test('filters: actions (pull opt-in) and repository globs, per endpoint', async (t) => {
  const receivers = { team: await Receiver.start(), all: await Receiver.start(), otherDeletes: await Receiver.start() }
  t.teardown(() => Promise.all(Object.values(receivers).map((r) => r.stop())))
  const { wharf, client } = await startWithEndpoints([
    { name: 'team', url: receivers.team.url, actions: ['push', 'pull'], repositories: ['team/**'] },
    { name: 'all', url: receivers.all.url },
    { name: 'other-deletes', url: receivers.otherDeletes.url, actions: ['delete'], repositories: ['other/*'] },
  ])
  t.teardown(() => wharf.stop({ removeStorage: true }))

  const team = await client.pushImage('team/app', { tag: 'v1' })
  const other = await client.pushImage('other/x', { tag: 'v1' })
  t.equal((await client.getManifest('team/app', 'v1')).status, 200)
  t.equal((await client.head(`/v2/team/app/manifests/v1`)).status, 200, 'a HEAD is no pull')
  t.equal((await client.getBlob('team/app', team.layers[0]!.digest)).status, 200)
  t.equal((await client.getManifest('other/x', 'v1')).status, 200)
  t.equal((await client.deleteManifest('other/x', 'v1')).status, 202)
  t.equal((await client.deleteManifest('team/app', 'v1')).status, 202)

  await waitFor('every endpoint\'s events', async () =>
    receivers.team.events.length >= 5 && receivers.all.events.length >= 8 && receivers.otherDeletes.events.length >= 1, 15000)
  for (const name of ['team', 'all', 'other-deletes']) {
    await waitFor(`${name}'s empty queue`, async () => (await endpointStatus(client, name)).pending === 0, 5000)
  }
  await sleep(300)
  t.same(receivers.team.events.map((e) => [e.action, e.target.repository, e.target.digest, e.target.tag]), [
    ['push', 'team/app', team.config.digest, undefined],
    ['push', 'team/app', team.layers[0]!.digest, undefined],
    ['push', 'team/app', team.manifest.digest, 'v1'],
    ['pull', 'team/app', team.manifest.digest, 'v1'],
    ['pull', 'team/app', team.layers[0]!.digest, undefined],
  ])
  t.same(receivers.all.events.map((e) => [e.action, e.target.repository, e.target.digest]), [
    ['push', 'team/app', team.config.digest],
    ['push', 'team/app', team.layers[0]!.digest],
    ['push', 'team/app', team.manifest.digest],
    ['push', 'other/x', other.config.digest],
    ['push', 'other/x', other.layers[0]!.digest],
    ['push', 'other/x', other.manifest.digest],
    ['delete', 'other/x', other.manifest.digest],
    ['delete', 'team/app', team.manifest.digest],
  ])
  t.same(receivers.otherDeletes.events.map((e) => [e.action, e.target.repository, e.target.tag]), [['delete', 'other/x', 'v1']])
  t.match(await endpointStatus(client, 'team'), { delivered: 5, pending: 0 })
  t.match(await endpointStatus(client, 'all'), { delivered: 8, pending: 0 })
  t.match(await endpointStatus(client, 'other-deletes'), { delivered: 1, pending: 0 })
})

t.test('what a garbage collection removes is sent as delete events, under the request that ran it', async (t) => {
  const receiver = await Receiver.start()
  t.teardown(() => receiver.stop())
  const { wharf, client } = await startWithEndpoints([{ name: 'hook', url: receiver.url, actions: ['delete'] }], undefined, {
    gc: { intervalSeconds: 0, graceSeconds: 0 },
    retention: [{ repositories: 'ci/**', keepLast: 1, untaggedMaxAgeSeconds: 0 }],
  })
  t.teardown(() => wharf.stop({ removeStorage: true }))
  const old = await client.pushImage('ci/app', { tag: 'old' })
  await sleep(20)
  await client.pushImage('ci/app', { tag: 'new' })
  const run = await client.request('/_wharf/v1/gc', { method: 'POST' })
  t.equal(run.status, 200)
  t.same(run.json<{ tagsRemoved: unknown[] }>().tagsRemoved.length, 1)

  await waitFor('the collection\'s delete events', async () => receiver.events.length >= 2, 15000)
  await sleep(300)
  const events = receiver.events
  t.same(events.map((e) => [e.action, e.target]), [
    ['delete', { digest: old.manifest.digest, repository: 'ci/app', tag: 'old' }],
    ['delete', { digest: old.manifest.digest, repository: 'ci/app' }],
  ])
  for (const event of events) t.same(event.request, { id: run.headers['x-request-id'], addr: '127.0.0.1', host: wharf.address, method: 'POST' })
})
