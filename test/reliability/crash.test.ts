/**
 * Crash safety (issue #5): a workload of concurrent pushes, chunked uploads, tag moves, deletes
 * and online garbage collections runs against a real `wharf serve`, which is SIGKILLed after a
 * random delay (seedable: WHARF_CRASH_SEED; count: WHARF_CRASH_KILLS, default 200), then restarted
 * on the same storage. After every kill:
 *   - the crash image passes fsck but for benign leftovers (see harmfulProblems in helpers.ts);
 *   - the server starts with no manual repair;
 *   - every acknowledged push (201) is pullable with the right digests, every acknowledged delete
 *     (202) stays deleted, a moving tag points at its last acknowledged manifest or at the one
 *     whose PUT was in flight, acknowledged blobs are present within the GC grace period;
 *   - an interrupted upload session either resumes (and completes with the right digest) or is gone.
 * At the end: clean stop, fsck (only orphan blob files may remain), offline GC, fsck ok, full pull.
 * Deterministic kill points (crash-hook.ts) cover the instants a random delay rarely hits.
 */
import { once } from 'node:events'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { blobPath, descriptor, digestOf, exists, makeBlob, type Manifest, MediaTypes, ociManifest, request, runCli, sleep, startWharf, tempDir, type WharfProcess, withQuery, writeConfig, type HttpResponse } from '../support/index.js'
import { fsckCli, fsckCrashImage, harmfulProblems, printFigures, Rng } from './harness.js'

const KILLS = Number(process.env.WHARF_CRASH_KILLS ?? 200)
const LANES = Number(process.env.WHARF_CRASH_LANES ?? 2)
const rootRng = Rng.fromEnv('WHARF_CRASH_SEED')
const GRACE_SECONDS = 4
const HOOK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash-hook.js')
const ACCEPT = `${MediaTypes.ociManifest}, ${MediaTypes.ociIndex}`

t.comment(`crash seed ${rootRng.seed} (reproduce: WHARF_CRASH_SEED=${rootRng.seed} WHARF_CRASH_KILLS=${KILLS})`)
process.stdout.write(`# WHARF_CRASH_SEED=${rootRng.seed}\n`)

interface Image {
  readonly repo: string
  readonly tag: string
  readonly manifest: Manifest
  readonly blobs: ReadonlyArray<{ digest: string; size: number }>
}

interface Figures {
  kills: number
  phasesAtKill: Record<string, number>
  acknowledgedImages: number
  acknowledgedBlobs: number
  acknowledgedDeletes: number
  tagMovesAcknowledged: number
  imagesVerified: number
  sessionsResumed: number
  sessionsCleanedUp: number
  benign: { orphanFiles: number; uploadFilesWithoutSession: number; uploadSessionsWithoutFile: number }
  dataLost: number
  serverErrors: number
  failedStarts: number
}

const figures: Figures = {
  kills: 0, phasesAtKill: {}, acknowledgedImages: 0, acknowledgedBlobs: 0, acknowledgedDeletes: 0, tagMovesAcknowledged: 0,
  imagesVerified: 0, sessionsResumed: 0, sessionsCleanedUp: 0,
  benign: { orphanFiles: 0, uploadFilesWithoutSession: 0, uploadSessionsWithoutFile: 0 }, dataLost: 0, serverErrors: 0, failedStarts: 0,
}

class Killed extends Error {}

/** One storage, one server at a time, one workload; `cycle` kills it and checks everything. */
class Lane {
  readonly id: number
  readonly rng: Rng
  readonly storage: string
  readonly config: string
  server: WharfProcess | undefined
  killed = false
  readonly phases = new Map<string, string>()
  readonly images: Image[] = []
  unverified: Image[] = []
  readonly deleted: Array<{ repo: string; digest: string }> = []
  readonly recentBlobs: Array<{ repo: string; digest: string; size: number; at: number }> = []
  moving: { lastAcked?: Image; inFlight?: Image } = {}
  sessions: Array<{ repo: string; location: string; data: Buffer; digest: string; acked: number }> = []
  readonly base: Buffer
  readonly problems: string[] = []
  counter = 0

  constructor(id: number, rng: Rng, storage: string, config: string) {
    this.id = id
    this.rng = rng
    this.storage = storage
    this.config = config
    this.base = rng.bytes(20_000)
  }

  get url(): string {
    if (this.server === undefined) throw new Killed()
    return this.server.url
  }

  async call(path: string, options: Parameters<typeof request>[2] = {}): Promise<HttpResponse> {
    if (this.killed) throw new Killed()
    const res = await request(this.url, path, options)
    if (res.status >= 500) {
      figures.serverErrors++
      this.problems.push(`${options.method ?? 'GET'} ${path} -> ${res.status} ${res.text().slice(0, 200)}`)
    }
    return res
  }

  async start(): Promise<void> {
    try {
      this.server = await startWharf({ storage: this.storage, extraArgs: ['--config', this.config] })
    } catch (err) {
      figures.failedStarts++
      throw err
    }
    this.killed = false
  }

  // --- workload ------------------------------------------------------------------------------

  private async pushBlobMonolithic(repo: string, data: Buffer, actor: string): Promise<{ digest: string; size: number }> {
    const blob = makeBlob(data)
    this.phases.set(actor, 'blob-monolithic')
    const res = await this.call(`/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data })
    if (res.status !== 201) throw new Error(`monolithic push ${res.status}`)
    this.ack(repo, blob)
    return blob
  }

  private async pushBlobChunked(repo: string, data: Buffer, actor: string): Promise<{ digest: string; size: number }> {
    const blob = makeBlob(data)
    this.phases.set(actor, 'session-start')
    const start = await this.call(`/v2/${repo}/blobs/uploads/`, { method: 'POST' })
    if (start.status !== 202) throw new Error(`start ${start.status}`)
    let location = start.header('location')!
    const chunks = this.rng.int(1, 3)
    const chunkSize = Math.ceil(data.length / chunks)
    for (let offset = 0; offset < data.length; offset += chunkSize) {
      const chunk = data.subarray(offset, Math.min(data.length, offset + chunkSize))
      this.phases.set(actor, 'chunk-patch')
      const res = await this.call(location, { method: 'PATCH', body: chunk, headers: { 'content-range': `${offset}-${offset + chunk.length - 1}` } })
      if (res.status !== 202) throw new Error(`patch ${res.status}`)
      location = res.header('location')!
    }
    this.phases.set(actor, 'blob-commit')
    const done = await this.call(withQuery(location, { digest: blob.digest }), { method: 'PUT', headers: { 'content-length': 0 } })
    if (done.status !== 201) throw new Error(`commit ${done.status} ${done.text()}`)
    this.ack(repo, blob)
    return blob
  }

  private ack(repo: string, blob: { digest: string; size: number }): void {
    figures.acknowledgedBlobs++
    this.recentBlobs.push({ repo, digest: blob.digest, size: blob.size, at: Date.now() })
  }

  private pushBlob(repo: string, data: Buffer, actor: string): Promise<{ digest: string; size: number }> {
    return this.rng.chance(0.5) ? this.pushBlobMonolithic(repo, data, actor) : this.pushBlobChunked(repo, data, actor)
  }

  private async buildImage(repo: string, tag: string, actor: string, layerSize: number): Promise<Image> {
    const config = await this.pushBlob(repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', lane: this.id, n: this.counter++, r: this.rng.int(0, 1e9) })), actor)
    const layers = [await this.pushBlob(repo, this.rng.bytes(layerSize), actor)]
    if (this.rng.chance(0.4)) layers.push(await this.pushBlob(repo, this.base, actor)) // shared bytes: the dedupe path
    const manifest = ociManifest({
      config: descriptor({ ...config, data: Buffer.alloc(0) }, MediaTypes.ociConfig),
      layers: layers.map((l) => descriptor({ ...l, data: Buffer.alloc(0) }, MediaTypes.ociLayer)),
      annotations: { n: String(this.counter++) },
    })
    return { repo, tag, manifest, blobs: [config, ...layers] }
  }

  private async putManifest(image: Image, actor: string, phase: string): Promise<boolean> {
    this.phases.set(actor, phase)
    const res = await this.call(`/v2/${image.repo}/manifests/${image.tag}`, {
      method: 'PUT', body: image.manifest.body, headers: { 'content-type': MediaTypes.ociManifest },
    })
    if (res.status === 201) return true
    // A blob collected by a concurrent GC past the grace period is refused, never half-stored.
    if (res.status === 400) return false
    throw new Error(`manifest put ${res.status} ${res.text()}`)
  }

  private async imagePusher(actor: string, cycle: number): Promise<void> {
    for (let k = 0; ; k++) {
      const image = await this.buildImage('crash/img', `c${cycle}-${actor}-${k}`, actor, this.rng.int(1, 200_000))
      if (await this.putManifest(image, actor, 'manifest-put')) {
        this.images.push(image)
        this.unverified.push(image)
        figures.acknowledgedImages++
      }
    }
  }

  /** A new manifest over blobs pushed once: most of its time is spent moving the tag. */
  private async variant(image: Image, tag: string): Promise<Image> {
    const document = JSON.parse(image.manifest.body.toString()) as { annotations: Record<string, string> }
    document.annotations = { n: String(this.counter++) }
    const body = Buffer.from(JSON.stringify(document))
    return { ...image, tag, manifest: { body, digest: digestOf(body), size: body.length, mediaType: MediaTypes.ociManifest } }
  }

  private async mover(actor: string): Promise<void> {
    const template = await this.buildImage('crash/mov', 'latest', actor, this.rng.int(1, 5_000))
    for (;;) {
      const image = await this.variant(template, 'latest')
      this.moving.inFlight = image
      const ok = await this.putManifest(image, actor, 'tag-move')
      this.moving.inFlight = undefined
      if (ok) { this.moving.lastAcked = image; figures.tagMovesAcknowledged++ }
      await sleep(this.rng.int(0, 10))
    }
  }

  private async deleter(actor: string, cycle: number): Promise<void> {
    const template = await this.buildImage('crash/del', 'x', actor, this.rng.int(1, 2_000))
    for (let k = 0; ; k++) {
      const image = await this.variant(template, `d${cycle}-${k}`)
      if (!await this.putManifest(image, actor, 'manifest-put')) continue
      this.phases.set(actor, 'manifest-delete')
      const res = await this.call(`/v2/crash/del/manifests/${image.manifest.digest}`, { method: 'DELETE' })
      if (res.status === 202) { this.deleted.push({ repo: 'crash/del', digest: image.manifest.digest }); figures.acknowledgedDeletes++ }
    }
  }

  private async collector(actor: string): Promise<void> {
    for (;;) {
      this.phases.set(actor, 'gc')
      const res = await this.call(this.rng.chance(0.2) ? '/_wharf/v1/gc?dryRun=true' : '/_wharf/v1/gc', { method: 'POST' })
      if (res.status !== 200 && res.status !== 409) throw new Error(`gc ${res.status} ${res.text()}`)
      this.phases.set(actor, 'idle')
      await sleep(this.rng.int(0, 40))
    }
  }

  /** Opens a session and leaves it mid-way (a client that will come back after the crash). */
  private async sessionOpener(actor: string): Promise<void> {
    const data = this.rng.bytes(this.rng.int(10_000, 300_000))
    const repo = 'crash/ses'
    this.phases.set(actor, 'session-start')
    const start = await this.call(`/v2/${repo}/blobs/uploads/`, { method: 'POST' })
    if (start.status !== 202) throw new Error(`start ${start.status}`)
    const session = { repo, location: start.header('location')!, data, digest: digestOf(data), acked: 0 }
    this.sessions.push(session)
    const half = Math.floor(data.length / 2)
    for (const [from, to] of [[0, half], [half, data.length - 1]] as const) {
      this.phases.set(actor, 'session-patch')
      const res = await this.call(session.location, {
        method: 'PATCH', body: data.subarray(from, to), headers: { 'content-range': `${from}-${to - 1}` },
      })
      if (res.status !== 202) throw new Error(`session patch ${res.status} ${res.text()}`)
      session.acked = to
    }
    this.phases.set(actor, 'idle')
  }

  /** Runs the workload until SIGKILL after `delayMs`; records which operations were in flight. */
  async crashCycle(cycle: number, delayMs: number): Promise<void> {
    this.phases.clear()
    const actors: Array<Promise<void>> = [
      this.imagePusher('push1', cycle),
      this.imagePusher('push2', cycle),
      this.mover('mover'),
      this.collector('gc'),
      this.deleter('deleter', cycle),
    ]
    if (this.sessions.length < 4 && this.rng.chance(0.5)) actors.push(this.sessionOpener('session'))
    const settled = Promise.allSettled(actors)
    await sleep(delayMs)
    const server = this.server!
    this.killed = true
    server.child.kill('SIGKILL')
    for (const phase of new Set(this.phases.values())) figures.phasesAtKill[phase] = (figures.phasesAtKill[phase] ?? 0) + 1
    if (server.child.exitCode === null && server.child.signalCode === null) await once(server.child, 'exit')
    this.server = undefined
    const results = await settled
    for (const r of results) {
      if (r.status === 'rejected' && !(r.reason instanceof Killed) && !isConnectionError(r.reason)) {
        this.problems.push(`cycle ${cycle}: workload failed before the kill: ${(r.reason as Error).message}`)
      }
    }
    figures.kills++
  }

  // --- checks --------------------------------------------------------------------------------

  async checkCrashImage(cycle: number, cli: boolean): Promise<void> {
    const report = await fsckCrashImage(this.storage, { cli })
    const harmful = harmfulProblems(report)
    if (harmful.length > 0) this.problems.push(`cycle ${cycle}: crash image not consistent: ${harmful.join('; ')}`)
    figures.benign.orphanFiles += report.orphanFiles.length
    figures.benign.uploadFilesWithoutSession += report.uploadFilesWithoutSession
    figures.benign.uploadSessionsWithoutFile += report.uploadSessionsWithoutFile
  }

  private lost(what: string): void {
    figures.dataLost++
    this.problems.push(`DATA LOST: ${what}`)
  }

  async verifyImage(image: Image, full: boolean): Promise<void> {
    const byTag = await this.call(`/v2/${image.repo}/manifests/${image.tag}`, { headers: { accept: ACCEPT } })
    if (byTag.status !== 200 || !byTag.body.equals(image.manifest.body)) {
      this.lost(`${image.repo}:${image.tag} -> ${byTag.status} (expected ${image.manifest.digest})`)
      return
    }
    if (byTag.header('docker-content-digest') !== image.manifest.digest) this.lost(`${image.repo}:${image.tag} digest header ${byTag.header('docker-content-digest')}`)
    if (!full) return
    const byDigest = await this.call(`/v2/${image.repo}/manifests/${image.manifest.digest}`, { headers: { accept: ACCEPT } })
    if (byDigest.status !== 200 || !byDigest.body.equals(image.manifest.body)) this.lost(`${image.repo}@${image.manifest.digest} -> ${byDigest.status}`)
    for (const blob of image.blobs) {
      const res = await this.call(`/v2/${image.repo}/blobs/${blob.digest}`, { hashBody: 'sha256' })
      if (res.status !== 200 || res.bodyDigest !== blob.digest || res.bodyLength !== blob.size) {
        this.lost(`blob ${blob.digest} of ${image.repo}:${image.tag} -> ${res.status} ${res.bodyDigest} ${res.bodyLength}/${blob.size}`)
      }
    }
    figures.imagesVerified++
  }

  async verifyAfterRestart(cycle: number): Promise<void> {
    // Every image acknowledged since the last check, fully; a sample of older ones by tag.
    for (const image of this.unverified) await this.verifyImage(image, true)
    this.unverified = []
    for (let i = 0; i < 3 && this.images.length > 0; i++) await this.verifyImage(this.rng.pick(this.images), false)

    // The moving tag: the last acknowledged manifest, or the one whose PUT the crash interrupted.
    const res = await this.call('/v2/crash/mov/manifests/latest', { headers: { accept: ACCEPT } })
    const allowed = [this.moving.lastAcked, this.moving.inFlight].filter((x): x is Image => x !== undefined)
    if (res.status === 200) {
      const current = allowed.find((image) => image.manifest.body.equals(res.body))
      if (current === undefined) this.lost(`cycle ${cycle}: crash/mov:latest points at ${res.header('docker-content-digest')}, expected one of ${allowed.map((i) => i.manifest.digest).join(', ')}`)
      else {
        this.moving = { lastAcked: current }
        await this.verifyImage(current, true)
      }
    } else if (this.moving.lastAcked !== undefined) {
      this.lost(`cycle ${cycle}: crash/mov:latest -> ${res.status}, expected ${this.moving.lastAcked.manifest.digest}`)
    }
    this.moving.inFlight = undefined

    // Acknowledged deletes stay deleted.
    for (const d of this.deleted.splice(0)) {
      const gone = await this.call(`/v2/${d.repo}/manifests/${d.digest}`, { method: 'HEAD', headers: { accept: ACCEPT } })
      if (gone.status !== 404) this.problems.push(`cycle ${cycle}: acknowledged delete of ${d.repo}@${d.digest} undone (${gone.status})`)
    }

    // Acknowledged blobs are there (GC may take unreferenced ones only past the grace period).
    const now = Date.now()
    for (const blob of this.recentBlobs.splice(0)) {
      if (now - blob.at > (GRACE_SECONDS - 1.5) * 1000) continue
      const head = await this.call(`/v2/${blob.repo}/blobs/${blob.digest}`, { method: 'HEAD' })
      if (head.status !== 200 || head.header('content-length') !== String(blob.size)) this.lost(`acknowledged blob ${blob.repo}@${blob.digest} -> ${head.status}`)
    }

    // Interrupted sessions resume from the offset the server reports, or are gone.
    for (const session of this.sessions.splice(0)) {
      const status = await this.call(session.location)
      if (status.status === 404) { figures.sessionsCleanedUp++; continue }
      if (status.status !== 204) { this.problems.push(`session status ${status.status}`); continue }
      const offset = Number((status.header('range') ?? '0-0').split('-')[1]) + 1
      const size = status.header('range') === '0-0' ? await this.uploadFileSize(session.location) : offset
      if (size < session.acked || size > session.data.length) {
        this.lost(`session ${session.location}: server has ${size} bytes, ${session.acked} were acknowledged`)
        continue
      }
      let location = status.header('location')!
      if (size < session.data.length) {
        const patch = await this.call(location, { method: 'PATCH', body: session.data.subarray(size), headers: { 'content-range': `${size}-${session.data.length - 1}` } })
        if (patch.status !== 202) { this.problems.push(`resume PATCH ${patch.status} ${patch.text()}`); continue }
        location = patch.header('location')!
      }
      const put = await this.call(withQuery(location, { digest: session.digest }), { method: 'PUT', headers: { 'content-length': 0 } })
      if (put.status !== 201) { this.lost(`resumed session ${session.location}: PUT -> ${put.status} ${put.text()}`); continue }
      const get = await this.call(`/v2/${session.repo}/blobs/${session.digest}`, { hashBody: 'sha256' })
      if (get.bodyDigest !== session.digest) this.lost(`resumed blob ${session.digest} reads back as ${get.bodyDigest}`)
      figures.sessionsResumed++
    }
  }

  /** Range "0-0" means 0 or 1 byte; the file says which. */
  private async uploadFileSize(location: string): Promise<number> {
    const id = location.slice(location.lastIndexOf('/') + 1)
    const { size } = await import('node:fs/promises').then((fs) => fs.stat(path.join(this.storage, 'uploads', id)))
    return size
  }
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code
  return code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE'
    || /socket hang up|aborted/i.test((err as Error).message ?? '')
}

const configFor = (dir: string, graceSeconds: number): Promise<string> => writeConfig(dir, {
  gc: { intervalSeconds: 0, graceSeconds },
  retention: [{ repositories: 'crash/**', untaggedMaxAgeSeconds: 0 }],
})

t.test(`${KILLS} randomized SIGKILLs during a concurrent workload`, async (t) => {
  const lanes: Lane[] = []
  for (let i = 0; i < LANES; i++) {
    const storage = await tempDir(`crash${i}`)
    lanes.push(new Lane(i, rootRng.fork(), storage, await configFor(storage, GRACE_SECONDS)))
  }
  const perLane = Math.ceil(KILLS / LANES)
  const started = Date.now()
  await Promise.all(lanes.map(async (lane) => {
    await lane.start()
    for (let cycle = 0; cycle < perLane; cycle++) {
      await lane.crashCycle(cycle, lane.rng.int(20, 600))
      await lane.checkCrashImage(cycle, cycle % 25 === 24)
      await lane.start()
      await lane.verifyAfterRestart(cycle)
    }
    // The end: clean stop, fsck, offline GC with no grace, fsck ok, everything still there.
    await lane.server!.stop()
    lane.server = undefined
    const before = await fsckCli(lane.storage)
    t.same(harmfulProblems(before.report), [], `lane ${lane.id}: fsck after the last restart and a clean stop`)
    t.equal(before.report.uploadFilesWithoutSession + before.report.uploadSessionsWithoutFile, 0, 'the start purged broken upload sessions')
    const gcConfig = await configFor(path.join(lane.storage, 'final'), 0)
    const gc = await runCli(['gc', '--storage', lane.storage, '--config', gcConfig, '--json'])
    t.equal(gc.code, 0, `offline gc: ${gc.stderr}`)
    const after = await fsckCli(lane.storage)
    t.equal(after.code, 0, `lane ${lane.id}: fsck ok after GC: ${JSON.stringify(after.report)}`)
    await lane.start()
    for (const image of lane.images) await lane.verifyImage(image, true)
    await lane.server!.stop({ removeStorage: true })
  }))
  const problems = lanes.flatMap((lane) => lane.problems)
  t.same(problems, [], 'no inconsistency, no lost acknowledged data, no 5xx')
  t.equal(figures.dataLost, 0, 'data lost')
  t.equal(figures.serverErrors, 0, '5xx responses')
  t.ok(figures.kills >= KILLS, `${figures.kills} kill points`)
  t.ok(figures.acknowledgedImages > 0 && figures.tagMovesAcknowledged > 0, 'the workload made progress between kills')
  t.comment(`phases in flight at the kills: ${JSON.stringify(figures.phasesAtKill)}`)
  printFigures('crash', { seed: rootRng.seed, seconds: Math.round((Date.now() - started) / 1000), ...figures })
})

/** One server with a kill hook; `act` drives it until it dies. */
async function hooked(storage: string, config: string, point: string, nth: number): Promise<WharfProcess> {
  return startWharf({
    storage, extraArgs: ['--config', config],
    env: { NODE_OPTIONS: `--import ${HOOK}`, WHARF_CRASH_HOOK: JSON.stringify({ point, nth }) },
  })
}

async function died(server: WharfProcess): Promise<boolean> {
  if (server.child.exitCode === null && server.child.signalCode === null) {
    await Promise.race([once(server.child, 'exit'), sleep(5000)])
  }
  const killed = server.child.signalCode === 'SIGKILL'
  if (!killed) await server.stop({ signal: 'SIGKILL' })
  return killed
}

t.test('deterministic kill points', async (t) => {
  const storage = await tempDir('crash-exact')
  const config = await configFor(storage, 1)
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(storage, { recursive: true, force: true })))
  const repo = 'exact/repo'
  let kills = 0

  await t.test('after fsync, before the rename into blobs/: the session resumes', async (t) => {
    const server = await hooked(storage, config, 'before-blob-rename', 1)
    const blob = makeBlob(100_000)
    const start = await request(server.url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
    const patched = await request(server.url, start.header('location')!, { method: 'PATCH', body: blob.data, headers: { 'content-range': `0-${blob.size - 1}` } })
    t.equal(patched.status, 202)
    await request(server.url, withQuery(patched.header('location')!, { digest: blob.digest }), { method: 'PUT', headers: { 'content-length': 0 } }).catch(() => undefined)
    t.ok(await died(server), 'killed at the rename'); kills++
    t.same(harmfulProblems(await fsckCrashImage(storage, { cli: false })), [])
    t.notOk(await exists(blobPath(storage, blob.digest)), 'no blob file yet')
    const again = await startWharf({ storage, extraArgs: ['--config', config] })
    const status = await request(again.url, patched.header('location')!)
    t.equal(status.status, 204, 'the session survived')
    t.equal(status.header('range'), `0-${blob.size - 1}`, 'with every byte')
    const put = await request(again.url, withQuery(patched.header('location')!, { digest: blob.digest }), { method: 'PUT', headers: { 'content-length': 0 } })
    t.equal(put.status, 201, 'and completes')
    const get = await request(again.url, `/v2/${repo}/blobs/${blob.digest}`, { hashBody: 'sha256' })
    t.equal(get.bodyDigest, blob.digest)
    await again.stop()
  })

  await t.test('after the rename, before the metadata commit: an orphan file, then a clean re-push', async (t) => {
    const server = await hooked(storage, config, 'after-blob-rename', 1)
    const blob = makeBlob(50_000)
    await request(server.url, `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data }).catch(() => undefined)
    t.ok(await died(server), 'killed after the rename'); kills++
    const report = await fsckCrashImage(storage, { cli: true })
    t.same(harmfulProblems(report), [])
    t.same(report.orphanFiles, [blob.digest], 'the blob file is an orphan (benign)')
    const again = await startWharf({ storage, extraArgs: ['--config', config] })
    t.equal((await request(again.url, `/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' })).status, 404, 'never acknowledged, not visible')
    t.equal((await request(again.url, `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data })).status, 201, 're-push')
    t.equal((await request(again.url, `/v2/${repo}/blobs/${blob.digest}`, { hashBody: 'sha256' })).bodyDigest, blob.digest)
    await again.stop()
    const fsck = await fsckCli(storage)
    t.equal(fsck.code, 0, 'fsck ok: the orphan became the blob')
  })

  await t.test('chunked commit killed after the rename: the session is purged at start', async (t) => {
    const server = await hooked(storage, config, 'after-blob-rename', 1)
    const blob = makeBlob(70_000)
    const start = await request(server.url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
    await request(server.url, withQuery(start.header('location')!, { digest: blob.digest }), { method: 'PUT', body: blob.data }).catch(() => undefined)
    t.ok(await died(server)); kills++
    const report = await fsckCrashImage(storage, { cli: false })
    t.same(harmfulProblems(report), [])
    t.equal(report.uploadSessionsWithoutFile, 1, 'a session whose file became the blob (benign)')
    const again = await startWharf({ storage, extraArgs: ['--config', config] })
    t.equal((await request(again.url, start.header('location')!)).status, 404, 'the broken session is gone')
    await again.stop()
    const fsck = await fsckCli(storage)
    t.same(harmfulProblems(fsck.report), [])
    t.equal(fsck.report.uploadSessionsWithoutFile, 0)
  })

  await t.test('GC killed between forgetting a blob and removing its file: an orphan the next GC removes', async (t) => {
    const server = await startWharf({ storage, extraArgs: ['--config', config] })
    const blob = makeBlob(30_000)
    t.equal((await request(server.url, `/v2/gcrepo/x/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data })).status, 201)
    await server.stop()
    await sleep(1200) // past the 1 s grace period
    for (const point of ['before-blob-rm', 'after-blob-rm']) {
      const victim = makeBlob(10_000)
      const s = await startWharf({ storage, extraArgs: ['--config', config] })
      t.equal((await request(s.url, `/v2/gcrepo/y/blobs/uploads/?digest=${victim.digest}`, { method: 'POST', body: victim.data })).status, 201)
      await s.stop()
      await sleep(1200)
      const k = await hooked(storage, config, point, 1)
      await request(k.url, '/_wharf/v1/gc', { method: 'POST' }).catch(() => undefined)
      t.ok(await died(k), `GC killed (${point})`); kills++
      const report = await fsckCrashImage(storage, { cli: false })
      t.same(harmfulProblems(report), [], `consistent (${point})`)
      const again = await startWharf({ storage, extraArgs: ['--config', config] })
      await sleep(1100)
      const gc = await request(again.url, '/_wharf/v1/gc', { method: 'POST' })
      t.equal(gc.status, 200)
      await again.stop()
      const fsck = await fsckCli(storage)
      t.equal(fsck.code, 0, `fsck ok after the next GC (${point}): ${JSON.stringify(fsck.report)}`)
    }
    t.same((await readdir(path.join(storage, 'uploads'))), [], 'no upload file left')
  })
  figures.kills += kills
  printFigures('crash-exact', { kills })
})
