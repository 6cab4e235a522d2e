/**
 * Webhook delivery through outages and restarts, from a real `wharf serve` to a real receiver:
 * slow, down (connection refused) and back, hanging, and wharf stopped with events pending.
 * Every event arrives exactly once, in order; a push never waits for a receiver.
 */
import t from 'tap'
import { makeBlob, scrape, waitFor, sleep } from '../support/index.js'
import { Receiver } from './receiver.js'
import { endpointStatus, startWithEndpoints } from './support.js'

const FAST_RETRIES = { backoffSeconds: 1, maxBackoffSeconds: 2 }

t.test('a slow receiver, then down for a while, then back: every event exactly once, in order', async (t) => {
  const receiver = await Receiver.start()
  t.teardown(() => receiver.stop())
  receiver.delayMs = 300
  const { wharf, client } = await startWithEndpoints([{ name: 'hook', url: receiver.url, timeoutSeconds: 5, ...FAST_RETRIES }])
  t.teardown(() => wharf.stop({ removeStorage: true }))

  const pushed: string[] = []
  for (let i = 0; i < 5; i++) pushed.push((await client.pushBlob('seq/a', makeBlob(100 + i))).digest)
  await waitFor('the first five through the slow receiver', async () => receiver.events.length >= 5, 15000)

  await receiver.stop()
  for (let i = 0; i < 5; i++) pushed.push((await client.pushBlob('seq/a', makeBlob(200 + i))).digest)
  const failing = await waitFor('failed attempts while the receiver is down', async () => {
    const status = await endpointStatus(client, 'hook')
    return status.failedAttempts >= 2 && status
  }, 15000)
  t.match(failing.lastError, /ECONNREFUSED/, 'the admin API says why')
  t.ok(failing.pending >= 1, 'events wait in the queue')
  t.ok(failing.oldestPendingAgeSeconds > 0)
  t.equal(failing.delivered, 5)
  const down = await scrape(t, client.base)
  const hook = { endpoint: 'hook' }
  t.ok(down.get('wharf_notifications_failed_attempts_total', hook) >= 2, 'metrics show the failed deliveries')
  t.ok(down.get('wharf_notifications_pending', hook) >= 1 && down.get('wharf_notifications_consecutive_failures', hook) >= 2)
  t.equal(down.get('wharf_notifications_delivered_total', hook), 5)

  await receiver.listen()
  await waitFor('every event after the receiver came back', async () => receiver.events.length >= 10, 15000)
  await waitFor('an empty queue', async () => (await endpointStatus(client, 'hook')).pending === 0, 5000)
  await sleep(300)
  const events = receiver.events
  t.equal(events.length, 10, 'no event twice')
  t.same(events.map((e) => e.target.digest), pushed, 'in push order')
  t.equal(new Set(events.map((e) => e.id)).size, 10)
  t.match(await endpointStatus(client, 'hook'), { delivered: 10, pending: 0, consecutiveFailures: 0, nextAttemptAt: null })
  const back = await scrape(t, client.base)
  t.same([back.get('wharf_notifications_delivered_total', { endpoint: 'hook' }), back.get('wharf_notifications_pending', { endpoint: 'hook' }),
    back.get('wharf_notifications_consecutive_failures', { endpoint: 'hook' })], [10, 0, 0], 'and their end')
})

t.test('a receiver that never answers slows no push; the timeout ends the attempt and it is retried', async (t) => {
  const receiver = await Receiver.start()
  t.teardown(() => receiver.stop())
  receiver.delayMs = Number.POSITIVE_INFINITY
  const { wharf, client } = await startWithEndpoints([{ name: 'hook', url: receiver.url, timeoutSeconds: 5, ...FAST_RETRIES }])
  t.teardown(() => wharf.stop({ removeStorage: true }))

  const started = Date.now()
  const image = await client.pushImage('busy/app', { tag: 'v1' })
  const pushed = await client.pushBlob('busy/app', makeBlob(4096))
  const elapsed = Date.now() - started
  t.ok(elapsed < 2500, `the pushes took ${elapsed} ms, not the receiver's timeout (5 s)`)

  const timedOut = await waitFor('a timed-out attempt', async () => {
    const status = await endpointStatus(client, 'hook')
    return status.failedAttempts >= 1 && status
  }, 15000)
  t.equal(timedOut.lastError, 'no answer within 5 s')
  receiver.delayMs = 0
  await waitFor('delivery once the receiver answers', async () => receiver.events.length >= 4, 20000)
  await waitFor('an empty queue', async () => (await endpointStatus(client, 'hook')).pending === 0, 5000)
  await sleep(300)
  t.same(receiver.events.map((e) => e.target.digest), [image.config.digest, image.layers[0]!.digest, image.manifest.digest, pushed.digest])
})

t.test('wharf stopped (SIGTERM) with events pending delivers them after a restart', async (t) => {
  const receiver = await Receiver.start()
  t.teardown(() => receiver.stop())
  await receiver.stop()
  const endpoints = [{ name: 'hook', url: receiver.url, ...FAST_RETRIES }]
  const first = await startWithEndpoints(endpoints)
  const storage = first.wharf.storage
  const image = await first.client.pushImage('restart/app', { tag: 'v1' })
  t.equal((await first.client.deleteManifest('restart/app', 'v1')).status, 202)
  // At once: the last events were published a moment ago; a graceful stop queues them before the store closes.
  await first.wharf.stop()
  t.equal(first.wharf.child.exitCode, 0, 'a clean stop')
  t.equal(receiver.events.length, 0, 'nothing delivered while the receiver was down')

  await receiver.listen()
  const second = await startWithEndpoints(endpoints, storage)
  t.teardown(() => second.wharf.stop({ removeStorage: true }))
  await waitFor('the queued events after the restart', async () => receiver.events.length >= 4, 15000)
  await waitFor('an empty queue', async () => (await endpointStatus(second.client, 'hook')).pending === 0, 5000)
  await sleep(300)
  const events = receiver.events
  t.same(events.map((e) => [e.action, e.target.digest]), [
    ['push', image.config.digest], ['push', image.layers[0]!.digest], ['push', image.manifest.digest], ['delete', image.manifest.digest],
  ], 'each once, in order')
  t.equal(new Set(events.map((e) => e.source.instanceID)).size, 1, 'as the first process made them')
  const status = await endpointStatus(second.client, 'hook')
  t.match(status, { delivered: 4, pending: 0 })
  t.ok(status.failedAttempts >= 1, 'the failed attempts of the first run are remembered')
})

t.test('an error status is a failed delivery: retried until the receiver takes it, once', async (t) => {
  const receiver = await Receiver.start()
  t.teardown(() => receiver.stop())
  receiver.status = 503
  const { wharf, client } = await startWithEndpoints([{ name: 'hook', url: receiver.url, ...FAST_RETRIES }])
  t.teardown(() => wharf.stop({ removeStorage: true }))
  const blob = await client.pushBlob('status/app', makeBlob(512))
  const failing = await waitFor('two failed attempts', async () => {
    const status = await endpointStatus(client, 'hook')
    return status.failedAttempts >= 2 && status
  }, 15000)
  t.equal(failing.lastError, 'HTTP 503')
  t.equal(failing.pending, 1)
  t.ok(failing.nextAttemptAt !== null, 'the next attempt is scheduled')
  receiver.status = 204
  await waitFor('delivery once the receiver takes it', async () => receiver.events.length >= 1, 15000)
  await waitFor('an empty queue', async () => (await endpointStatus(client, 'hook')).pending === 0, 5000)
  await sleep(300)
  t.same(receiver.events.map((e) => e.target.digest), [blob.digest])
})
