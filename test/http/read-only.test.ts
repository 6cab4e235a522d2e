/**
 * Read-only mode against a real `wharf serve`: started read-only from the config file, every write
 * is refused with 405 UNSUPPORTED and the read-only message while pulls, HEADs, listings and the
 * catalog work and garbage collection (asked for and scheduled) and the upload purge still run;
 * switched at run time through the admin API while clients push in a loop, writes after the
 * switch are refused, everything acknowledged before stays intact, and pushes succeed again after
 * the switch back; an upload session started before the switch is refused on its next request and
 * completes after the switch back; the admin API refuses malformed bodies and changes nothing.
 */
import { PassThrough } from 'node:stream'
import { setTimeout as sleepMs } from 'node:timers/promises'
import path from 'node:path'
import t, { type Test } from 'tap'
import {
  blobPath, configBlob, digestOf, errorBody, exists, expectStatus, imageManifest, listFiles, makeBlob, RegistryClient, request, sameContent,
  serverErrors, startWharf, tempDir, uniqueRepo, waitFor, writeConfig, type Blob, type HttpResponse, type ImageContent, type Manifest, type WharfProcess,
} from '../support/index.js'

const READ_ONLY_MESSAGE = 'the registry is in read-only mode: pushes and deletes are refused until an administrator turns it off; pulls still work'

interface Status { readOnly: boolean; since: string; changedBy: string; writesInFlight: number }

function setReadOnly(url: string, readOnly: boolean, headers: Record<string, string> = {}): Promise<HttpResponse> {
  return request(url, '/_wharf/v1/maintenance', { method: 'PUT', body: JSON.stringify({ readOnly }), headers: { 'content-type': 'application/json', ...headers } })
}

async function maintenance(url: string): Promise<Status> {
  return expectStatus('GET maintenance', await request(url, '/_wharf/v1/maintenance'), 200).json<Status>()
}

/** The refusal every write gets while read-only; `operation` is what the detail names. */
function refused(t: Test, res: HttpResponse, operation: string, what: string): void {
  t.equal(res.status, 405, `${what}: ${res.describe()}`)
  const body = errorBody(res)
  t.equal(body?.errors[0]?.code, 'UNSUPPORTED', `${what}: code`)
  t.equal(body?.errors[0]?.message, READ_ONLY_MESSAGE, `${what}: message`)
  t.same(body?.errors[0]?.detail, { readOnly: true, operation }, `${what}: detail`)
}

function asImage(pushed: { manifest: Manifest; config: Blob; layers: readonly Blob[] }): ImageContent {
  return { kind: 'image', manifest: pushed.manifest, config: pushed.config, layers: pushed.layers }
}

function isReadOnlyRefusal(res: HttpResponse): boolean {
  const body = errorBody(res)
  return res.status === 405 && body?.errors[0]?.code === 'UNSUPPORTED' && body.errors[0].message === READ_ONLY_MESSAGE
}

/** Pushes an image while the registry is writable, then restarts it on the same storage with `config`. */
async function restartWith(t: Test, first: WharfProcess, config: Record<string, unknown>): Promise<WharfProcess> {
  await first.stop()
  const dir = await tempDir('read-only-config')
  const file = await writeConfig(dir, config)
  const wharf = await startWharf({ storage: first.storage, extraArgs: ['--config', file] })
  t.teardown(() => wharf.stop({ removeStorage: true }))
  return wharf
}

t.test('started read-only from the config: every write is refused, reads and garbage collection work', async (t) => {
  const first = await startWharf()
  const client = new RegistryClient(first.url)
  const repo = uniqueRepo('ro')
  const image = await client.pushImage(repo, { tag: 'v1', layers: 2, layerSize: 3000 })
  const other = await client.pushImage(`${repo}-other`, { tag: 'keep', layers: 1, layerSize: 1000 })
  // Unreferenced: its link goes at the next collection (grace 0).
  const orphan = await client.pushBlob(`${repo}-orphan`, makeBlob('an orphan blob'))
  const session = await client.startUpload(repo)

  const wharf = await restartWith(t, first, { maintenance: { readOnly: true }, gc: { graceSeconds: 0, intervalSeconds: 0 } })
  const c = new RegistryClient(wharf.url)
  const status = await maintenance(wharf.url)
  t.equal(status.readOnly, true)
  t.equal(status.changedBy, 'config')
  t.equal(status.writesInFlight, 0)
  const uploadsBefore = await listFiles(path.join(wharf.storage, 'uploads'))

  const blob = makeBlob('refused while read-only')
  refused(t, await c.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' }), 'upload start', 'POST uploads')
  refused(t, await c.postBlob(repo, blob), 'blob upload', 'POST ?digest=')
  refused(t, await c.mountBlob(`${repo}-mounted`, image.layers[0]!.digest, repo), 'blob mount', 'mount')
  refused(t, await c.patch(session.location, blob.data, { contentRange: `0-${blob.size - 1}` }), 'upload chunk', 'PATCH of a session started before')
  refused(t, await c.putUpload(session.location, blob.digest, blob.data), 'upload completion', 'PUT of a session started before')
  refused(t, await c.delete(session.location), 'upload cancel', 'DELETE of a session')
  const manifest = imageManifest(image.config, image.layers)
  refused(t, await c.putManifest(repo, 'v2', manifest), 'manifest push', 'manifest PUT')
  refused(t, await c.putManifest(repo, 'v1', imageManifest(image.config, [image.layers[0]!])), 'manifest push', 'manifest PUT moving a tag')
  refused(t, await c.deleteManifest(repo, image.manifest.digest), 'manifest delete', 'manifest DELETE by digest')
  refused(t, await c.deleteManifest(repo, 'v1'), 'tag delete', 'tag DELETE')
  refused(t, await c.deleteBlob(repo, image.layers[0]!.digest), 'blob delete', 'blob DELETE')
  t.equal((await c.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' })).header('docker-distribution-api-version'), 'registry/2.0')

  // Nothing changed: the image pulls whole, the tags are as they were, no upload file appeared.
  t.same(sameContent(await c.pullVerified(repo, 'v1'), asImage(image)), [], 'the image pulls intact')
  t.equal((await c.head(`/v2/${repo}/manifests/v1`)).status, 200, 'HEAD manifest')
  t.equal((await c.headBlob(repo, image.layers[1]!.digest)).status, 200, 'HEAD blob')
  t.same(await c.tags(repo), ['v1'], 'tags list')
  t.ok((await c.catalog()).includes(repo), 'catalog')
  t.equal((await c.get(session.location)).status, 204, 'the upload session status still answers')
  t.same(await listFiles(path.join(wharf.storage, 'uploads')), uploadsBefore, 'no upload file was written')
  t.equal((await c.getBlob(`${repo}-mounted`, image.layers[0]!.digest)).status, 404, 'nothing was mounted')

  const ready = await request(wharf.url, '/readyz')
  t.equal(ready.status, 200, 'still ready: pulls work')
  t.same(ready.json(), { checks: { metadata: 'ok', storage: 'ok', shutdown: 'ok', readOnly: 'on' } })

  // Garbage collection still runs when asked, and removes what nothing references.
  t.ok(await exists(blobPath(wharf.storage, orphan.digest)))
  const report = await c.gc()
  t.ok(report.blobsRemoved.some((b) => b.digest === orphan.digest), 'the collection removed the orphan blob')
  t.notOk(await exists(blobPath(wharf.storage, orphan.digest)), 'its file is gone')
  t.same(sameContent(await c.pullVerified(`${repo}-other`, 'keep'), asImage(other)), [])
  t.same(serverErrors(wharf), [], 'no server errors')
})

t.test('read-only: the scheduled collection and the upload purge still run', async (t) => {
  const first = await startWharf()
  const client = new RegistryClient(first.url)
  const repo = uniqueRepo('ro-schedule')
  const orphan = await client.pushBlob(repo, makeBlob('collected on schedule'))
  const session = await client.startUpload(repo)
  await sleepMs(1100)
  const wharf = await restartWith(t, first, { maintenance: { readOnly: true }, gc: { graceSeconds: 0, intervalSeconds: 1 }, uploads: { ttlSeconds: 1 } })
  await waitFor('the scheduled collection removed the orphan blob', async () => !await exists(blobPath(wharf.storage, orphan.digest)), 10_000)
  t.equal((await new RegistryClient(wharf.url).get(session.location)).status, 404, 'the expired session was purged')
  t.same(await listFiles(path.join(wharf.storage, 'uploads')), [], 'its file went with it')
  t.equal((await maintenance(wharf.url)).readOnly, true)
})

interface Pushed { repo: string; tag: string; manifest: Manifest; config: Blob; layers: Blob[] }

/**
 * A client pushing small images in a loop (one POST ?digest= per blob, then the manifest). Each
 * request notes the phase it was sent in; the test checks what each phase must have answered.
 */
class Pusher {
  readonly acknowledged: Pushed[] = []
  /** Write requests sent after the switch to read-only was acknowledged, and their answers. */
  readonly duringReadOnly: HttpResponse[] = []
  /** Acknowledged pushes whose every request was sent after the switch back. */
  readonly afterSwitchBack: Pushed[] = []
  readonly unexpected: string[] = []
  private stopped = false
  private readonly client: RegistryClient
  private readonly loop: Promise<void>

  constructor(url: string, private readonly id: number, private readonly phase: () => 'writable' | 'switching' | 'read-only' | 'back') {
    this.client = new RegistryClient(url)
    this.loop = this.run()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.loop
  }

  private async send(request: () => Promise<HttpResponse>, ok: number): Promise<HttpResponse | undefined> {
    const sentIn = this.phase()
    const res = await request()
    const answeredIn = this.phase()
    // Sent after the switch on was acknowledged and answered before the switch off was sent: the
    // server took it while read-only.
    if (sentIn === 'read-only' && answeredIn === 'read-only') {
      this.duringReadOnly.push(res)
      return undefined
    }
    if (res.status === ok) return res
    // In flight across a switch: the server may have taken it on either side.
    if (sentIn !== 'back' && isReadOnlyRefusal(res)) return undefined
    this.unexpected.push(`sent ${sentIn}, answered ${answeredIn}: ${res.describe()}`)
    return undefined
  }

  private async run(): Promise<void> {
    for (let n = 0; !this.stopped; n++) {
      const phaseAtStart = this.phase()
      const repo = `concurrent/pusher-${this.id}`
      const config = configBlob({ pusher: this.id, n, salt: Math.random() })
      const layers = [makeBlob(`layer ${this.id}/${n} ${Math.random()}`.repeat(50))]
      let ok = true
      for (const blob of [config, ...layers]) {
        if (await this.send(() => this.client.postBlob(repo, blob), 201) === undefined) { ok = false; break }
      }
      if (!ok) continue
      const manifest = imageManifest(config, layers)
      const tag = `t${n}`
      if (await this.send(() => this.client.putManifest(repo, tag, manifest), 201) === undefined) continue
      const pushed = { repo, tag, manifest, config, layers }
      this.acknowledged.push(pushed)
      if (phaseAtStart === 'back') this.afterSwitchBack.push(pushed)
    }
  }
}

t.test('switched at run time while clients push: refused after the switch, intact before, accepted after the switch back', async (t) => {
  const wharf = await startWharf()
  t.teardown(() => wharf.stop({ removeStorage: true }))
  let phase: 'writable' | 'switching' | 'read-only' | 'back' = 'writable'
  const pushers = Array.from({ length: 4 }, (_, i) => new Pusher(wharf.url, i, () => phase))
  const acknowledged = (): number => pushers.reduce((sum, p) => sum + p.acknowledged.length, 0)
  await waitFor('pushes acknowledged before the switch', async () => acknowledged() >= 12, 20_000)

  phase = 'switching'
  const on = await setReadOnly(wharf.url, true)
  t.equal(on.status, 200, on.describe())
  t.equal(on.json<Status>().readOnly, true)
  t.equal(on.json<Status>().changedBy, 'anonymous')
  phase = 'read-only'
  await waitFor('every pusher refused a few times', async () => pushers.every((p) => p.duringReadOnly.length >= 3), 20_000)
  const stillReadOnly = await maintenance(wharf.url)
  t.equal(stillReadOnly.readOnly, true)

  phase = 'switching'
  const off = await setReadOnly(wharf.url, false)
  t.equal(off.status, 200, off.describe())
  t.equal(off.json<Status>().readOnly, false)
  phase = 'back'
  await waitFor('every pusher pushed again after the switch back', async () => pushers.every((p) => p.afterSwitchBack.length >= 2), 20_000)
  await Promise.all(pushers.map((p) => p.stop()))

  const refusals = pushers.flatMap((p) => p.duringReadOnly)
  t.ok(refusals.length >= 12, `${refusals.length} writes sent while read-only`)
  t.same(refusals.filter((res) => !isReadOnlyRefusal(res)).map((res) => res.describe()), [], 'every write sent while read-only was refused (405 UNSUPPORTED, the read-only message)')
  t.same(pushers.flatMap((p) => p.unexpected), [], 'no other answer')
  const c = new RegistryClient(wharf.url)
  const problems: string[] = []
  for (const pushed of pushers.flatMap((p) => p.acknowledged)) {
    for (const problem of sameContent(await c.pullVerified(pushed.repo, pushed.tag), asImage(pushed))) problems.push(`${pushed.repo}:${pushed.tag}: ${problem}`)
  }
  t.same(problems, [], `all ${acknowledged()} acknowledged pushes pull back with the same digests and bytes`)
  for (const p of pushers) t.same((await c.tags(p.acknowledged[0]!.repo)).sort(), p.acknowledged.map((x) => x.tag).sort(), 'exactly the acknowledged tags exist')
  const changes = wharf.logs.filter((line) => line.includes('"component":"maintenance"')).map((line) => JSON.parse(line) as { readOnly: boolean; by: string; msg: string })
  t.same(changes.map((entry) => [entry.readOnly, entry.by]), [[true, 'anonymous'], [false, 'anonymous']], 'both changes logged with who made them')
  t.same(serverErrors(wharf), [])
})

t.test('an upload session started before the switch: its chunk in flight finishes, its next requests are refused, it completes after the switch back', async (t) => {
  const wharf = await startWharf()
  t.teardown(() => wharf.stop({ removeStorage: true }))
  const c = new RegistryClient(wharf.url)
  const repo = uniqueRepo('ro-session')
  const blob = makeBlob(Buffer.alloc(300_000, 7))
  const { location } = await c.startUpload(repo)
  // A chunk streaming in while the switch happens: it was let in before, so it finishes (and counts as a write in flight).
  const body = new PassThrough()
  const first = blob.data.subarray(0, 100_000)
  const patching = c.request(location, { method: 'PATCH', body, headers: { 'content-type': 'application/octet-stream' } })
  body.write(first.subarray(0, 50_000))
  await waitFor('the chunk is being written', async () => (await maintenance(wharf.url)).writesInFlight === 1)
  expectStatus('switch on', await setReadOnly(wharf.url, true), 200)
  t.equal((await maintenance(wharf.url)).writesInFlight, 1, 'the chunk in flight still counts as a write in flight')
  body.end(first.subarray(50_000))
  const patched = await patching
  t.equal(patched.status, 202, `the chunk sent before the switch completes: ${patched.describe()}`)
  t.equal((await maintenance(wharf.url)).writesInFlight, 0)

  const next = blob.data.subarray(100_000)
  refused(t, await c.patch(location, next, { contentRange: `100000-${blob.size - 1}` }), 'upload chunk', 'the next PATCH')
  refused(t, await c.putUpload(location, blob.digest, next), 'upload completion', 'the PUT')
  const status = await c.get(location)
  t.equal(status.header('range'), '0-99999', 'the session kept exactly what it was given')

  expectStatus('switch off', await setReadOnly(wharf.url, false), 200)
  expectStatus('PATCH after the switch back', await c.patch(location, next, { contentRange: `100000-${blob.size - 1}` }), 202)
  expectStatus('PUT after the switch back', await c.putUpload(location, blob.digest), 201)
  const pulled = await c.getBlob(repo, blob.digest)
  t.equal(pulled.status, 200)
  t.equal(digestOf(pulled.body), blob.digest, 'the blob is whole')
})

t.test('the admin API refuses malformed settings and changes nothing; a repeated setting changes nothing', async (t) => {
  const wharf = await startWharf()
  t.teardown(() => wharf.stop({ removeStorage: true }))
  const initial = await maintenance(wharf.url)
  t.equal(initial.readOnly, false)
  for (const body of ['', 'yes', '[true]', 'null', '{}', '{"readOnly":"true"}', '{"readOnly":1}', '{"readOnly":true,"until":"tomorrow"}', `{"readOnly":true,"pad":"${'x'.repeat(5000)}"}`]) {
    const res = await request(wharf.url, '/_wharf/v1/maintenance', { method: 'PUT', body, headers: { 'content-type': 'application/json' } })
    t.equal(res.status, 400, `${body.slice(0, 40)}: ${res.describe()}`)
    t.equal(errorBody(res)?.errors[0]?.code, 'UNSUPPORTED')
    t.match(errorBody(res)?.errors[0]?.message ?? '', /^the body must be \{"readOnly": true\|false\}: /)
  }
  t.same(await maintenance(wharf.url), initial, 'nothing changed')
  expectStatus('a push still works', await new RegistryClient(wharf.url).postBlob('still/writable', makeBlob('x')), 201)

  const off = await setReadOnly(wharf.url, false)
  t.same(off.json(), initial, 'switching to the mode it is in changes nothing (not even since)')
  t.equal((await request(wharf.url, '/_wharf/v1/maintenance', { method: 'POST' })).status, 404, 'no POST')
  t.notOk(wharf.logs.some((line) => line.includes('"component":"maintenance"')), 'no change logged')
})

t.test('WHARF_MAINTENANCE_READONLY starts it read-only', async (t) => {
  const wharf = await startWharf({ env: { WHARF_MAINTENANCE_READONLY: 'true' } })
  t.teardown(() => wharf.stop({ removeStorage: true }))
  refused(t, await new RegistryClient(wharf.url).postBlob(uniqueRepo('ro-env'), makeBlob('x')), 'blob upload', 'POST ?digest=')
  t.equal((await maintenance(wharf.url)).changedBy, 'config')
})
