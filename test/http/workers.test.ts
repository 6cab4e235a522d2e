/**
 * `wharf serve --workers 2`: two worker processes share the port and the store (SQLite and files
 * on disk), their locks and leases held by the primary. Which worker answered a request is read
 * from the request log lines (pino writes each process's pid); requests on connections of their
 * own are spread over the workers by the primary. Pushes and pulls from both, a chunked upload
 * whose PATCHes land on different workers, a tag moved through one worker and read through the
 * other, online collections during pushes, a worker SIGKILLed and replaced, and a SIGTERM that
 * stops everything and frees the store.
 */
import { once } from 'node:events'
import t from 'tap'
import {
  configBlob, digestOf, errorCodes, makeBlob, ResponseError, RegistryClient, serverErrors, startWharf, tempDir, uniqueRepo, waitFor, writeConfig,
} from '../support/index.js'
import { Receiver } from '../notifications/receiver.js'
import { endpointStatus } from '../notifications/support.js'
import { logEntries, servedBy as servedByAny, servedByEach, workerPids as pidsOfWorkers, type LogEntry } from '../support/worker-logs.js'

const configFile = await writeConfig(await tempDir('workers'), { gc: { intervalSeconds: 0, graceSeconds: 0 }, log: { level: 'info', requests: true } })
const wharf = await startWharf({ extraArgs: ['--workers', '2', '--config', configFile], timeoutMs: 60_000 })
t.teardown(() => wharf.stop({ removeStorage: true }))
const client = new RegistryClient(wharf.url)
const entries = (): LogEntry[] => logEntries(wharf)
const workerPids = (): number[] => pidsOfWorkers(wharf)
const servedBy = (method: string, url: (u: string) => boolean): Set<number> => servedByAny(wharf, method, url)
const reachEvery = (pids: readonly number[], method: string, url: (u: string) => boolean): Promise<Set<number>> => servedByEach(wharf, pids, method, url)

t.test('the start-up: one "wharf listening" line, two workers on its port, the primary apart', async (t) => {
  t.equal(entries().filter((e) => e.msg === 'wharf listening').length, 1, 'said once')
  const pids = workerPids()
  t.equal(new Set(pids).size, 2, 'two workers listening')
  t.notOk(pids.includes(wharf.pid), 'the primary does not serve')
  t.ok(entries().filter((e) => e.msg === 'worker listening').every((e) => e.url === wharf.url), 'both on the announced URL')
})

t.test('concurrent pushes and pulls through both workers: every image whole', async (t) => {
  const repos = Array.from({ length: 4 }, () => uniqueRepo('workers'))
  const pushed = await Promise.all(repos.map(async (repo) => {
    const images = []
    for (let i = 0; i < 3; i++) images.push(await client.pushImage(repo, { tag: `v${i}`, layers: 2, layerSize: 20_000 }))
    return images
  }))
  const pulls = await Promise.all(repos.flatMap((repo, r) => pushed[r]!.map(async (image, i) => (await client.pullVerified(repo, `v${i}`)).digest === image.manifest.digest)))
  t.ok(pulls.every(Boolean), `${pulls.length} images pulled back whole, by tag`)
  const served = await reachEvery(workerPids(), 'PUT', (u) => repos.some((repo) => u.startsWith(`/v2/${repo}/manifests/`)))
  t.equal(served.size, 2, 'manifests were stored by both workers')
})

t.test('a chunked upload whose PATCHes land on different workers completes with the right digest', async (t) => {
  const repo = uniqueRepo('workers')
  const blob = makeBlob(6 * 65_536 + 123)
  const { location, uuid } = await client.startUpload(repo)
  let next = location
  for (let offset = 0; offset < blob.size; offset += 65_536) {
    const chunk = blob.data.subarray(offset, offset + 65_536)
    const res = await client.request(next, {
      method: 'PATCH', fresh: true, body: chunk,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` },
    })
    t.equal(res.status, 202, `PATCH at ${offset}`)
    t.equal(res.header('range'), `0-${offset + chunk.length - 1}`, 'the session has every byte so far')
    next = res.header('location') ?? next
  }
  await reachEvery(workerPids(), 'PATCH', (u) => u.includes(uuid))
  const done = await client.request(`${next}${next.includes('?') ? '&' : '?'}digest=${blob.digest}`, { method: 'PUT', fresh: true, headers: { 'content-length': 0 } })
  t.equal(done.status, 201, 'the upload closes')
  t.equal(done.header('docker-content-digest'), blob.digest)
  for (let i = 0; i < 2; i++) {
    const got = await client.request(`/v2/${repo}/blobs/${blob.digest}`, { fresh: true })
    t.equal(digestOf(got.body), blob.digest, `read back whole (${i + 1})`)
  }
})

t.test('a tag moved through one worker is read at once through the other (cached manifests dropped everywhere)', async (t) => {
  const repo = uniqueRepo('workers')
  const first = await client.pushImage(repo, { tag: 'latest' })
  let probe = 0
  const readTag = async (): Promise<string> => {
    const res = await client.request(`/v2/${repo}/manifests/latest?probe=${probe++}`, { fresh: true, headers: { accept: first.manifest.mediaType } })
    t.equal(res.status, 200)
    return res.header('docker-content-digest') ?? ''
  }
  const readsUntilBoth = async (since: number): Promise<string[]> => {
    const digests: string[] = []
    await waitFor('GETs of the tag through both workers', async () => {
      digests.push(await readTag())
      return servedBy('GET', (u) => u.startsWith(`/v2/${repo}/manifests/latest?probe=`) && Number(u.split('=')[1]) >= since).size === 2
    }, 10_000)
    return digests
  }
  t.same(new Set(await readsUntilBoth(0)), new Set([first.manifest.digest]), 'both workers have read (and cached) the first image')
  const moved = probe
  const second = await client.pushImage(repo, { tag: 'latest', config: configBlob({ second: true }) })
  t.same(new Set(await readsUntilBoth(moved)), new Set([second.manifest.digest]), 'every read after the PUT answered, sees the new image')
})

t.test('online collections on both workers during pushes keep every acknowledged image', async (t) => {
  const garbageRepo = uniqueRepo('workers-garbage')
  const garbage = await Promise.all(Array.from({ length: 8 }, () => client.pushBlob(garbageRepo, makeBlob(4096))))
  let pushing = true
  const collections = { done: 0, busy: 0, other: [] as string[] }
  // Two loops on connections of their own: collections asked of both workers, side by side.
  const collectors = Array.from({ length: 2 }, async () => {
    while (pushing || collections.done === 0) {
      const res = await client.request('/_wharf/v1/gc', { method: 'POST', fresh: true })
      if (res.status === 200) collections.done++
      else if (res.status === 409) collections.busy++
      else collections.other.push(`${res.status} ${res.text().slice(0, 200)}`)
    }
  })
  const acknowledged: Array<{ repo: string; tag: string; digest: string }> = []
  const refused: string[] = []
  await Promise.all(Array.from({ length: 3 }, async (_, c) => {
    const repo = uniqueRepo('workers-gc')
    for (let i = 0; i < 6; i++) {
      try {
        const image = await client.pushImage(repo, { tag: `v${i}`, layers: 2, layerSize: 8192 })
        acknowledged.push({ repo, tag: `v${i}`, digest: image.manifest.digest })
      } catch (err) {
        // Grace 0: a blob uploaded before a collection and referenced after it may be gone; the push is then refused, never half-stored.
        if (!(err instanceof ResponseError)) throw err
        refused.push(`client ${c}: ${err.response.method} ${err.response.status} ${errorCodes(err.response).join(',')}`)
      }
    }
  }))
  pushing = false
  await Promise.all(collectors)
  t.same(collections.other, [], 'every collection answered 200, or 409 while another worker\'s ran')
  t.ok(collections.done > 0, `${collections.done} collections ran (${collections.busy} refused as busy)`)
  t.ok(refused.every((line) => /PUT 400 MANIFEST_BLOB_UNKNOWN$/.test(line)), `refused pushes only for collected blobs: ${refused.join('; ') || 'none'}`)
  t.ok(acknowledged.length > 0, `${acknowledged.length} of 18 pushes acknowledged`)
  await client.gc()
  for (const image of acknowledged) t.equal((await client.pullVerified(image.repo, image.tag)).digest, image.digest, `${image.repo}:${image.tag} pulls whole`)
  for (const blob of garbage) t.equal((await client.headBlob(garbageRepo, blob.digest)).status, 404, 'an unreferenced blob was collected')
  t.same(client.serverErrorResponses, [], 'no 5xx')
})

t.test('a SIGKILLed worker is replaced and serving goes on', async (t) => {
  const repo = uniqueRepo('workers')
  const before = await client.pushImage(repo, { tag: 'before' })
  const [victim, survivor] = workerPids()
  process.kill(victim!, 'SIGKILL')
  await waitFor('a replacement worker', async () => entries().some((e) => e.msg === 'worker replaced'), 30_000)
  t.ok(entries().some((e) => e.msg === 'worker died; starting another' && e.signal === 'SIGKILL'), 'the primary logged the death')
  const replacement = workerPids().at(-1)!
  t.not(replacement, victim, 'a new process')
  const after = await client.pushImage(repo, { tag: 'after' })
  for (const [tag, image] of [['before', before], ['after', after]] as const) {
    t.equal((await client.pullVerified(repo, tag)).digest, image.manifest.digest, `${tag} pulls whole`)
  }
  const both = await waitFor('the survivor and the replacement to answer reads', async () => {
    const res = await client.request(`/v2/${repo}/manifests/before`, { fresh: true, headers: { accept: before.manifest.mediaType } })
    if (res.header('docker-content-digest') !== before.manifest.digest) return false
    const served = servedBy('GET', (u) => u === `/v2/${repo}/manifests/before`)
    return served.has(survivor!) && served.has(replacement) && served
  }, 10_000)
  t.equal(both.size, 2, 'the survivor and the replacement both answer')
})

t.test('SIGTERM stops the workers and the primary with status 0 and frees the store for the next server', async (t) => {
  const repo = uniqueRepo('workers')
  const image = await client.pushImage(repo, { tag: 'kept' })
  const pids = workerPids().slice(-2)
  await wharf.stop()
  t.equal(wharf.child.exitCode, 0, 'exit status 0')
  t.ok(entries().some((e) => e.pid === wharf.pid && e.msg === 'stopped'), 'the primary said it stopped')
  for (const pid of pids) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} is gone`)
  t.same(serverErrors(wharf).filter((line) => !line.includes('"worker died; starting another"')), [], 'no other error was logged')
  const next = await startWharf({ storage: wharf.storage })
  t.teardown(() => next.stop())
  const pulled = await new RegistryClient(next.url).pullVerified(repo, 'kept')
  t.equal(pulled.digest, image.manifest.digest, 'the next server took the store and serves what was pushed')
})

t.test('the drain with workers: every worker answers /readyz 503 and still serves; a second SIGTERM ends it, exit 0', async (t) => {
  const drainConfig = await writeConfig(await tempDir('workers-drain'), { http: { shutdownDrainSeconds: 600 }, log: { level: 'info', requests: true } })
  const draining = await startWharf({ extraArgs: ['--workers', '2', '--config', drainConfig], timeoutMs: 60_000 })
  t.teardown(() => draining.stop({ removeStorage: true }))
  const pids = pidsOfWorkers(draining)
  draining.child.kill('SIGTERM')
  const c = new RegistryClient(draining.url)
  await waitFor('/readyz 503 from both workers', async () => {
    const res = await c.request('/readyz', { fresh: true })
    if (res.status !== 503) return false
    const answered = new Set(logEntries(draining).filter((e) => e.msg === 'incoming request' && e.req?.url === '/readyz').map((e) => e.pid))
    return pids.every((pid) => answered.has(pid))
  }, 20_000)
  const blob = makeBlob('pushed while draining')
  t.equal((await c.request(`/v2/workers/drain/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data, fresh: true })).status, 201, 'a push is still served')
  t.equal(draining.child.exitCode, null, 'still running')
  const exited = once(draining.child, 'exit')
  draining.child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0, 'the second SIGTERM ended the drain: exit 0')
})

t.test('webhooks with workers: events queued by both workers are all delivered, each once', async (t) => {
  const receiver = await Receiver.start()
  t.teardown(() => receiver.stop())
  const hooksConfig = await writeConfig(await tempDir('workers-hooks'), {
    notifications: { endpoints: [{ name: 'hook', url: receiver.url, timeoutSeconds: 5, backoffSeconds: 1 }] }, log: { level: 'info', requests: true },
  })
  const hooked = await startWharf({ extraArgs: ['--workers', '2', '--config', hooksConfig], timeoutMs: 60_000 })
  t.teardown(() => hooked.stop({ removeStorage: true }))
  const c = new RegistryClient(hooked.url)
  const pushed: string[] = []
  for (let i = 0; i < 6; i++) {
    const blob = makeBlob(`hooked ${i}`)
    t.equal((await c.request(`/v2/workers/hooks/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data, fresh: true })).status, 201)
    pushed.push(blob.digest)
  }
  await servedByEach(hooked, pidsOfWorkers(hooked), 'POST', (u) => u.startsWith('/v2/workers/hooks/blobs/uploads/'))
  await waitFor('every event delivered', async () => receiver.events.length >= pushed.length, 20_000)
  await waitFor('an empty queue', async () => (await endpointStatus(c, 'hook')).pending === 0, 10_000)
  // Each worker queues the events of its requests itself, a tick later: across workers the queue's order need not be the pushes'.
  t.same(receiver.events.map((e) => e.target.digest).sort(), [...pushed].sort(), 'each once, whichever worker took the push')
  t.equal(new Set(receiver.events.map((e) => e.id)).size, pushed.length, 'distinct event ids')
})
