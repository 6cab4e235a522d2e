/**
 * GET /metrics on a real `wharf serve`: scraped before and after known work (manifest GETs, pushes
 * of known byte counts, a download, a garbage collection freeing known bytes, an upload held open)
 * and the differences must be exactly that work; with access control on it is an admin's; with
 * `metrics.address` it moves to a listener of its own; with `metrics.enabled: false` it is 404.
 */
import http from 'node:http'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { rm } from 'node:fs/promises'
import { basic, startAuthServer } from '../auth/auth-server.js'
import {
  configBlob, descriptor, errorBody, makeBlob, ociManifest, RegistryClient, request, scrape, sleep, startWharf, tempDir, waitFor, writeConfig,
  type WharfProcess,
} from '../support/index.js'

async function startServer(t: Test, config: Record<string, unknown> = {}): Promise<WharfProcess> {
  const dir = await tempDir('metrics')
  const configFile = await writeConfig(dir, { gc: { intervalSeconds: 0, graceSeconds: 0 }, ...config })
  const wharf = await startWharf({ extraArgs: ['--config', configFile] })
  t.teardown(async () => {
    await wharf.stop({ removeStorage: true })
    await rm(dir, { recursive: true, force: true })
  })
  return wharf
}

t.test('requests, latency and body bytes by route kind: exactly the work done between two scrapes', async (t) => {
  const wharf = await startServer(t)
  const client = new RegistryClient(wharf.url)
  const before = await scrape(t, wharf.url)
  t.match(before.text, /# TYPE wharf_http_requests_total counter/)
  t.match(before.text, /^process_cpu_user_seconds_total /m, 'process metrics')
  t.match(before.text, /^nodejs_eventloop_lag_seconds /m, 'event-loop lag')

  // Pushes: two blobs in one POST each (route "uploads"), one chunked (POST, PATCH ×2, PUT: route "upload"), a manifest.
  const config = configBlob()
  const layer = makeBlob(3000)
  const chunked = makeBlob(5000)
  await client.pushBlob('m/app', config)
  await client.pushBlob('m/app', layer)
  await client.pushBlobChunked('m/app', chunked, 4096)
  const manifest = ociManifest({ config: descriptor(config), layers: [descriptor(layer), descriptor(chunked)] })
  await client.pushManifest('m/app', 'v1', manifest)
  // Pulls: 7 manifest GETs, 2 HEADs, a whole blob, a range of another, a 404.
  for (let i = 0; i < 7; i++) t.equal((await client.getManifest('m/app', 'v1')).status, 200)
  for (let i = 0; i < 2; i++) t.equal((await client.request('/v2/m/app/manifests/v1', { method: 'HEAD', headers: { accept: manifest.mediaType } })).status, 200)
  t.equal((await client.getBlob('m/app', layer.digest)).bodyLength, 3000)
  t.equal((await client.getBlob('m/app', chunked.digest, { range: 'bytes=10-109' })).bodyLength, 100)
  t.equal((await client.getManifest('m/app', 'nope')).status, 404)
  t.equal((await request(wharf.url, '/no/such/path')).status, 404)

  const after = await scrape(t, wharf.url)
  const delta = (name: string, labels: Record<string, string> = {}): number => after.get(name, labels) - before.get(name, labels)
  t.equal(delta('wharf_http_requests_total', { route: 'manifest', method: 'GET', code: '200' }), 7)
  t.equal(delta('wharf_http_requests_total', { route: 'manifest', method: 'HEAD', code: '200' }), 2)
  t.equal(delta('wharf_http_requests_total', { route: 'manifest', method: 'GET', code: '404' }), 1)
  t.equal(delta('wharf_http_requests_total', { route: 'manifest', method: 'PUT', code: '201' }), 1)
  t.equal(delta('wharf_http_requests_total', { route: 'uploads', method: 'POST', code: '201' }), 2)
  t.equal(delta('wharf_http_requests_total', { route: 'uploads', method: 'POST', code: '202' }), 1)
  t.equal(delta('wharf_http_requests_total', { route: 'upload', method: 'PATCH', code: '202' }), 2)
  t.equal(delta('wharf_http_requests_total', { route: 'upload', method: 'PUT', code: '201' }), 1)
  t.equal(delta('wharf_http_requests_total', { route: 'blob', method: 'GET', code: '200' }), 1)
  t.equal(delta('wharf_http_requests_total', { route: 'blob', method: 'GET', code: '206' }), 1)
  t.equal(delta('wharf_http_requests_total', { route: 'unknown', method: 'GET', code: '404' }), 1, 'a path of no endpoint is "unknown", never the path itself')
  t.equal(delta('wharf_http_requests_total', { route: 'metrics', method: 'GET', code: '200' }), 1, 'the first scrape')
  t.notMatch(after.text, /m\/app|no\/such/, 'no path in any label')
  t.equal(delta('wharf_http_request_duration_seconds_count', { route: 'manifest', method: 'GET' }), 8)
  t.equal(delta('wharf_http_request_duration_seconds_bucket', { route: 'manifest', method: 'GET', le: '+Inf' }), 8)
  t.ok(delta('wharf_http_request_duration_seconds_sum', { route: 'manifest', method: 'GET' }) > 0)

  t.equal(delta('wharf_http_request_body_bytes_total', { route: 'uploads' }), config.size + 3000, 'bodies of the two POSTs')
  t.equal(delta('wharf_http_request_body_bytes_total', { route: 'upload' }), 5000, 'the PATCHes')
  t.equal(delta('wharf_http_request_body_bytes_total', { route: 'manifest' }), manifest.body.length)
  const notFound = (await client.getManifest('m/app', 'nope')).bodyLength
  t.equal(delta('wharf_http_response_body_bytes_total', { route: 'manifest' }), 7 * manifest.body.length + notFound, 'GET bodies; HEADs send none')
  t.equal(delta('wharf_http_response_body_bytes_total', { route: 'blob' }), 3100)

  // The storage figures are cached for a few seconds after the first scrape.
  const stored = await waitFor('the storage figures', async () => {
    const s = await scrape(t, wharf.url)
    return s.get('wharf_storage_blobs') === 3 ? s : undefined
  }, 15_000, 500)
  const bytes = config.size + 3000 + 5000
  t.equal(stored.get('wharf_repository_blobs', { repository: 'm/app' }), 3)
  t.equal(stored.get('wharf_repository_blob_bytes', { repository: 'm/app' }), bytes)
  t.equal(stored.get('wharf_storage_blob_bytes'), bytes)
  t.equal(stored.get('wharf_repositories'), 1)

  // The metadata writer: every write was answered and committed; none is queued now.
  t.equal(stored.get('wharf_metadata_writes_queued', { state: 'posted' }), 0)
  t.equal(stored.get('wharf_metadata_writes_queued', { state: 'waiting' }), 0)
  const committed = stored.get('wharf_metadata_committed_writes_total') - before.get('wharf_metadata_committed_writes_total')
  t.ok(committed >= 5, `at least the three blobs, the chunked session and the manifest were written (${committed})`)
  t.equal(stored.get('wharf_metadata_write_duration_seconds_count') - before.get('wharf_metadata_write_duration_seconds_count'), committed, 'each answered once')
  const commits = stored.get('wharf_metadata_commit_duration_seconds_count') - before.get('wharf_metadata_commit_duration_seconds_count')
  t.ok(commits >= 1 && commits <= committed, `transactions (${commits}) group the writes`)
})

t.test('per repository figures: the largest repositories, and blobs shared between them count in each', async (t) => {
  const wharf = await startServer(t)
  const client = new RegistryClient(wharf.url)
  const shared = makeBlob(2000)
  await client.pushBlob('a', shared)
  await client.pushBlob('a', makeBlob(10))
  t.equal((await client.mountBlob('b', shared.digest, 'a')).status, 201)
  const s = await scrape(t, wharf.url)
  t.equal(s.get('wharf_repository_blobs', { repository: 'a' }), 2)
  t.equal(s.get('wharf_repository_blob_bytes', { repository: 'a' }), 2010)
  t.equal(s.get('wharf_repository_blobs', { repository: 'b' }), 1)
  t.equal(s.get('wharf_repository_blob_bytes', { repository: 'b' }), 2000)
  t.equal(s.get('wharf_storage_blob_bytes'), 2010, 'the store holds the shared blob once')
  t.notMatch(s.text, /^wharf_repository_blobs\{repository="_other"\}/m, 'no others below the limit')

  // 101 more repositories (103 in all): the 100 largest one by one, the 3 smallest summed.
  for (let i = 0; i <= 100; i++) await client.pushBlob(`r${String(i).padStart(3, '0')}`, makeBlob(11 + i))
  const many = await waitFor('the storage figures', async () => {
    const next = await scrape(t, wharf.url)
    return next.get('wharf_repositories') === 103 ? next : undefined
  }, 15_000, 500)
  t.equal(many.get('wharf_repository_blobs', { repository: '_other' }), 3)
  t.equal(many.get('wharf_repository_blob_bytes', { repository: '_other' }), 11 + 12 + 13)
  t.equal(many.get('wharf_repository_blob_bytes', { repository: 'r003' }), 14)
  t.equal(many.get('wharf_repository_blob_bytes', { repository: 'r100' }), 111)
  t.equal([...many.values.keys()].filter((key) => key.startsWith('wharf_repository_blobs{')).length, 101, '100 repositories and the others')
})

t.test('a download the client leaves counts what was written for it, not the whole blob', async (t) => {
  const wharf = await startServer(t)
  const client = new RegistryClient(wharf.url)
  const size = 64 << 20
  const blob = makeBlob(size)
  await client.pushBlobMonolithic('big', blob)
  const before = await scrape(t, wharf.url)
  // Read 1 MiB, then hang up: the server stops writing (backpressure) long before 64 MiB.
  const received = await new Promise<number>((resolve, reject) => {
    const req = http.get(`${wharf.url}/v2/big/blobs/${blob.digest}`, { agent: false }, (res) => {
      let bytes = 0
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length
        if (bytes >= 1 << 20) { req.destroy(); resolve(bytes) }
      })
      res.on('error', () => undefined)
    })
    req.on('error', (err) => { if (!req.destroyed) reject(err) })
  })
  const after = await waitFor('the abandoned download counted', async () => {
    const s = await scrape(t, wharf.url)
    return s.get('wharf_http_requests_total', { route: 'blob', method: 'GET', code: '200' }) === 1 ? s : undefined
  })
  const sent = after.get('wharf_http_response_body_bytes_total', { route: 'blob' }) - before.get('wharf_http_response_body_bytes_total', { route: 'blob' })
  t.ok(sent >= received, `at least what the client read (${sent} >= ${received})`)
  t.ok(sent < size / 2, `far from the whole blob (${sent} of ${size})`)
})

t.test('garbage collection: runs, duration and bytes freed', async (t) => {
  const wharf = await startServer(t)
  const client = new RegistryClient(wharf.url)
  const orphan = makeBlob(4321)
  await client.pushBlob('gc/x', orphan)
  await client.pushImage('gc/x', { tag: 'kept' })
  const before = await scrape(t, wharf.url)
  await sleep(20)
  const res = await client.request('/_wharf/v1/gc', { method: 'POST' })
  t.equal(res.status, 200, res.describe())
  const report = res.json<{ bytesFreed: number; blobsRemoved: unknown[] }>()
  t.equal(report.bytesFreed, 4321, 'the unreferenced blob went')
  const after = await waitFor('the collection counted', async () => {
    const s = await scrape(t, wharf.url)
    return s.get('wharf_gc_runs_total') > before.get('wharf_gc_runs_total') ? s : undefined
  })
  t.equal(after.get('wharf_gc_runs_total') - before.get('wharf_gc_runs_total'), 1)
  t.equal(after.get('wharf_gc_freed_bytes_total') - before.get('wharf_gc_freed_bytes_total'), 4321)
  t.equal(after.get('wharf_gc_blobs_removed_total') - before.get('wharf_gc_blobs_removed_total'), 1)
  t.equal(after.get('wharf_gc_duration_seconds_count') - before.get('wharf_gc_duration_seconds_count'), 1)
  t.ok(after.get('wharf_gc_last_run_timestamp_seconds') > Date.now() / 1000 - 60)
  const dry = await client.request('/_wharf/v1/gc?dryRun=true', { method: 'POST' })
  t.equal(dry.status, 200)
  await sleep(200)
  t.equal((await scrape(t, wharf.url)).get('wharf_gc_runs_total'), after.get('wharf_gc_runs_total'), 'a dry run is no run')
})

t.test('uploads in progress: an upload body held open counts until it ends', async (t) => {
  const wharf = await startServer(t)
  const client = new RegistryClient(wharf.url)
  const idle = await scrape(t, wharf.url)
  t.equal(idle.get('wharf_uploads_in_progress'), 0)
  const { location } = await client.startUpload('held')
  const body = new PassThrough()
  const patching = client.request(location, { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream' } })
  body.write(Buffer.alloc(1000, 1))
  const during = await waitFor('the upload counted', async () => {
    const s = await scrape(t, wharf.url)
    return s.get('wharf_uploads_in_progress') === 1 ? s : undefined
  })
  t.equal(during.get('wharf_uploads_in_progress'), 1)
  body.end(Buffer.alloc(500, 2))
  t.equal((await patching).status, 202)
  const after = await scrape(t, wharf.url)
  t.equal(after.get('wharf_uploads_in_progress'), 0)
  t.equal(after.get('wharf_http_request_body_bytes_total', { route: 'upload' }) - idle.get('wharf_http_request_body_bytes_total', { route: 'upload' }), 1500)
})

t.test('with access control on, /metrics is an admin\'s', async (t) => {
  const server = await startAuthServer(t, {
    users: { root: 'rootpw', alice: 'alicepw' },
    auth: { rules: [{ users: ['root'], actions: ['admin'] }, { users: ['alice'], repositories: '**', actions: ['pull', 'push'] }] },
  })
  const anonymous = await request(server.url, '/metrics')
  t.equal(anonymous.status, 401, anonymous.describe())
  t.match(anonymous.header('www-authenticate') ?? '', /scope="registry:admin:\*"/)
  t.equal(errorBody(anonymous)?.errors[0]?.code, 'UNAUTHORIZED')
  const alice = await request(server.url, '/metrics', { headers: { authorization: basic('alice', 'alicepw') } })
  t.equal(alice.status, 403, alice.describe())
  t.equal(errorBody(alice)?.errors[0]?.code, 'DENIED')
  const root = await request(server.url, '/metrics', { headers: { authorization: basic('root', 'rootpw') } })
  t.equal(root.status, 200, root.describe())
  t.equal(root.header('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  t.match(root.text(), /wharf_http_requests_total\{route="metrics",method="GET",code="401"\} 1/, 'refused requests are counted')
  t.match(root.text(), /wharf_http_requests_total\{route="metrics",method="GET",code="403"\} 1/)
})

t.test('metrics.address: /metrics on a listener of its own, open, and not on the registry\'s port', async (t) => {
  const wharf = await startServer(t, { metrics: { address: '127.0.0.1:0' } })
  const line = await waitFor('the metrics listener', async () => wharf.logs.find((l) => l.includes('metrics listening')))
  const url = (JSON.parse(line) as { url: string }).url
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
  const base = url.replace(/\/metrics$/, '')
  t.not(base, wharf.url)
  t.equal((await request(wharf.url, '/v2/')).status, 200)
  const main = await request(wharf.url, '/metrics')
  t.equal(main.status, 404, main.describe())
  t.equal(errorBody(main)?.errors[0]?.code, 'UNSUPPORTED')
  const s = await scrape(t, base)
  t.equal(s.get('wharf_http_requests_total', { route: 'base', method: 'GET', code: '200' }), 1)
  t.equal(s.get('wharf_http_requests_total', { route: 'metrics', method: 'GET', code: '404' }), 1, 'the 404 on the main port')
  const other = await request(base, '/v2/')
  t.equal(other.status, 404)
  t.equal(errorBody(other)?.errors[0]?.code, 'UNSUPPORTED')
  t.equal((await request(base, '/metrics', { method: 'POST' })).status, 405)
})

t.test('metrics.enabled false: /metrics is 404 in the spec\'s format', async (t) => {
  const wharf = await startServer(t, { metrics: { enabled: false, address: '127.0.0.1:0' } })
  t.equal((await request(wharf.url, '/v2/')).status, 200)
  const res = await request(wharf.url, '/metrics')
  t.equal(res.status, 404, res.describe())
  t.equal(res.header('content-type'), 'application/json')
  t.equal(errorBody(res)?.errors[0]?.code, 'UNSUPPORTED')
  t.notOk(wharf.logs.some((l) => l.includes('metrics listening')), 'no listener either')
})
