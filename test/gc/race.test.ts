import { randomBytes, randomInt } from 'node:crypto'
import t from 'tap'
import { type Blob, blobFilesOnDisk, configBlob, descriptor, digestOf, errorCodes, type HttpResponse, imageManifest, makeBlob, type Manifest, ociIndex, RegistryClient, startGcServer } from '../support/index.js'

/**
 * Concurrent pushes, re-tags, deletes and pulls against a server collecting garbage in a loop.
 * The grace period (15 s) is far shorter than the default hour but longer than any push here takes:
 * grace is what lets a client upload blobs and put their manifest later, so with grace 0 a blob
 * uploaded before a collection and referenced after it is legitimately collected. Everything
 * uploaded or mounted during a collection, and every HEAD-checked blob, must survive. Tunables:
 *   WHARF_GC_RACE_SECONDS (default 60), WHARF_GC_RACE_CLIENTS (default 10), WHARF_GC_RACE_GRACE (default 15).
 */
const SECONDS = Number(process.env.WHARF_GC_RACE_SECONDS ?? 60)
const CLIENTS = Number(process.env.WHARF_GC_RACE_CLIENTS ?? 10)
const GRACE = Number(process.env.WHARF_GC_RACE_GRACE ?? 15)
const TAGS = ['t0', 't1', 't2']

interface Pushed {
  readonly index: Manifest
  readonly children: ReadonlyArray<{ readonly manifest: Manifest; readonly blobs: readonly Blob[] }>
}

interface PushFailure {
  readonly client: number
  readonly step: string
  readonly status: number
  readonly code?: string
  /** For each missing digest: how this push got it and how long before the failing PUT. */
  readonly missing: string[]
}

interface Stats {
  pushes: number
  pushFailures: PushFailure[]
  blobUploads: number
  headSkips: number
  mounts: number
  mountFallbacks: number
  tagDeletes: number
  digestDeletes: number
  pulls: number
  pullFailures: string[]
  unexpected: string[]
}

function missingOf(res: HttpResponse): string[] {
  try {
    const body = JSON.parse(res.body.toString()) as { errors?: Array<{ detail?: { missing?: Array<{ digest: string }> } }> }
    return (body.errors?.[0]?.detail?.missing ?? []).map((m) => m.digest)
  } catch {
    return []
  }
}

/** Pulls a tag completely (manifest, children, every blob hashed); returns problems found. */
async function pullTag(c: RegistryClient, repo: string, tag: string, expected?: string): Promise<{ problems: string[]; blobs: number }> {
  const problems: string[] = []
  let blobs = 0
  const top = await c.getManifest(repo, tag)
  if (top.status !== 200) return { problems: [`${repo}:${tag} manifest → ${top.status} ${errorCodes(top)[0] ?? ''}`], blobs }
  const topDigest = digestOf(top.body)
  if (expected !== undefined && topDigest !== expected) problems.push(`${repo}:${tag} is ${topDigest}, expected ${expected}`)
  const doc = JSON.parse(top.body.toString()) as { manifests?: Array<{ digest: string }>; config?: { digest: string }; layers?: Array<{ digest: string }> }
  const images: Array<{ digest: string; doc: typeof doc }> = []
  if (doc.manifests !== undefined) {
    for (const child of doc.manifests) {
      const res = await c.getManifest(repo, child.digest)
      if (res.status !== 200 || digestOf(res.body) !== child.digest) { problems.push(`${repo}:${tag} child ${child.digest} → ${res.status}`); continue }
      images.push({ digest: child.digest, doc: JSON.parse(res.body.toString()) as typeof doc })
    }
  } else {
    images.push({ digest: topDigest, doc })
  }
  for (const image of images) {
    for (const d of [image.doc.config!, ...(image.doc.layers ?? [])]) {
      const res = await c.getBlob(repo, d.digest)
      blobs++
      if (res.status !== 200) problems.push(`${repo}:${tag} blob ${d.digest} of ${image.digest} → ${res.status} ${errorCodes(res)[0] ?? ''}`)
      else if (digestOf(res.body) !== d.digest) problems.push(`${repo}:${tag} blob ${d.digest} has the wrong bytes`)
    }
  }
  return { problems, blobs }
}

t.test(`race: ${CLIENTS} clients push, re-tag, delete and pull for ${SECONDS} s while GC runs continuously (grace ${GRACE} s)`, async (t) => {
  const s = await startGcServer({ graceSeconds: GRACE })
  t.teardown(() => s.stop(true))
  const pool = Array.from({ length: 16 }, () => makeBlob(randomInt(512, 8192)))
  const repoOf = (i: number): string => `race/c${i}`
  const stats: Stats = {
    pushes: 0, pushFailures: [], blobUploads: 0, headSkips: 0, mounts: 0, mountFallbacks: 0, tagDeletes: 0, digestDeletes: 0,
    pulls: 0, pullFailures: [], unexpected: [],
  }
  const clients = Array.from({ length: CLIENTS }, () => new RegistryClient(s.wharf.url))
  const gcClient = new RegistryClient(s.wharf.url)
  const expectedTags: Array<Map<string, string>> = clients.map(() => new Map())
  const deadline = Date.now() + SECONDS * 1000
  let running = true

  const gcRuns = { ok: 0, conflict: 0, other: [] as string[], freedBlobs: 0, freedBytes: 0, maxMs: 0, du: 0 }
  const gcLoop = (async () => {
    let n = 0
    while (running) {
      const res = n++ % 25 === 24 ? await gcClient.get('/_wharf/v1/du') : await gcClient.gcRaw()
      if (res.status === 200) {
        const body = JSON.parse(res.body.toString()) as { blobsRemoved?: unknown[]; bytesFreed?: number; durationMs?: number }
        if (body.blobsRemoved !== undefined) {
          gcRuns.ok++
          gcRuns.freedBlobs += body.blobsRemoved.length
          gcRuns.freedBytes += body.bytesFreed ?? 0
          gcRuns.maxMs = Math.max(gcRuns.maxMs, body.durationMs ?? 0)
        } else gcRuns.du++
      } else if (res.status === 409) gcRuns.conflict++
      else gcRuns.other.push(`${res.status} ${res.body.toString().slice(0, 200)}`)
    }
  })()

  const clientLoop = async (i: number): Promise<void> => {
    const c = clients[i]!
    const repo = repoOf(i)
    const tags = expectedTags[i]!
    const untagged: Pushed[] = []
    const byDigest = new Map<string, Pushed>()
    while (Date.now() < deadline) {
      // 1. Build a two-platform image: one shared layer from the pool, one or two of its own.
      const children = ['amd64', 'arm64'].map((arch) => {
        const layers = [pool[randomInt(pool.length)]!, ...Array.from({ length: randomInt(1, 3) }, () => makeBlob(randomInt(256, 4096)))]
        const config = configBlob({ architecture: arch, nonce2: randomBytes(4).toString('hex') })
        return { arch, config, layers, manifest: imageManifest(config, layers), blobs: [config, ...layers] }
      })
      const index = ociIndex(children.map((ch) => descriptor(ch.manifest, undefined, { platform: { os: 'linux', architecture: ch.arch } })))
      // 2. Blobs as a real client pushes them: HEAD first, a mount for pool layers, else upload.
      const how = new Map<string, { via: string; at: number }>()
      let failed = false
      for (const b of new Map(children.flatMap((ch) => ch.blobs).map((b) => [b.digest, b])).values()) {
        const head = await c.headBlob(repo, b.digest)
        if (head.status === 200) { stats.headSkips++; how.set(b.digest, { via: 'head', at: Date.now() }); continue }
        if (head.status !== 404) stats.unexpected.push(`HEAD ${repo} ${b.digest} → ${head.status}`)
        if (pool.includes(b) && CLIENTS > 1) {
          const from = repoOf((i + 1 + randomInt(CLIENTS - 1)) % CLIENTS)
          const mount = await c.mountBlob(repo, b.digest, from)
          if (mount.status === 201) { stats.mounts++; how.set(b.digest, { via: `mount from ${from}`, at: Date.now() }); continue }
          stats.mountFallbacks++
          if (mount.status === 202) {
            const location = mount.header('location')
            if (location !== undefined) await c.delete(location)
          } else stats.unexpected.push(`mount ${b.digest} → ${mount.status}`)
        }
        const up = await c.postBlob(repo, b)
        if (up.status !== 201) { stats.unexpected.push(`upload ${b.digest} → ${up.status} ${errorCodes(up)[0] ?? ''}`); failed = true; break }
        stats.blobUploads++
        how.set(b.digest, { via: 'upload', at: Date.now() })
      }
      if (failed) continue
      // 3. Platform manifests by digest, then the index by a (moving) tag.
      const tag = TAGS[randomInt(TAGS.length)]!
      const steps: Array<[string, string, Manifest]> = [
        ...children.map((ch): [string, string, Manifest] => [`child ${ch.arch}`, ch.manifest.digest, ch.manifest]),
        ['index', tag, index],
      ]
      for (const [step, reference, manifest] of steps) {
        const res = await c.putManifest(repo, reference, manifest)
        if (res.status !== 201) {
          const missing = missingOf(res).map((d) => {
            const h = how.get(d)
            return h !== undefined ? `${d.slice(7, 19)} (${h.via} ${Date.now() - h.at} ms before)` : `${d.slice(7, 19)} (child manifest)`
          })
          stats.pushFailures.push({ client: i, step, status: res.status, ...(errorCodes(res)[0] !== undefined ? { code: errorCodes(res)[0]! } : {}), missing })
          failed = true
          break
        }
        if (step !== 'index') how.set(manifest.digest, { via: 'manifest put', at: Date.now() })
      }
      if (failed) continue
      stats.pushes++
      const pushed: Pushed = { index, children: children.map((ch) => ({ manifest: ch.manifest, blobs: ch.blobs })) }
      const previous = tags.get(tag)
      tags.set(tag, index.digest)
      byDigest.set(index.digest, pushed)
      if (previous !== undefined && previous !== index.digest && ![...tags.values()].includes(previous)) untagged.push(byDigest.get(previous)!)
      // 4. Sometimes untag (DELETE by tag: the manifest stays, untagged).
      if (randomInt(5) === 0 && tags.size > 1) {
        const victim = [...tags.keys()][randomInt(tags.size)]!
        const res = await c.deleteManifest(repo, victim)
        if (res.status !== 202) stats.unexpected.push(`DELETE ${repo}:${victim} → ${res.status}`)
        const digest = tags.get(victim)!
        tags.delete(victim)
        stats.tagDeletes++
        if (![...tags.values()].includes(digest)) untagged.push(byDigest.get(digest)!)
      }
      // 5. Sometimes delete an old untagged image by digest (index and children), freeing its blobs.
      if (untagged.length > 0 && randomInt(3) === 0) {
        const old = untagged.shift()!
        if (![...tags.values()].includes(old.index.digest)) {
          for (const digest of [old.index.digest, ...old.children.map((ch) => ch.manifest.digest)]) {
            const res = await c.deleteManifest(repo, digest)
            if (res.status !== 202) stats.unexpected.push(`DELETE ${repo}@${digest} → ${res.status}`)
            else stats.digestDeletes++
          }
          byDigest.delete(old.index.digest)
        }
      }
      // 6. Pull one of our tags back completely.
      const pullTagName = [...tags.keys()][randomInt(tags.size)]
      if (pullTagName !== undefined) {
        const { problems } = await pullTag(c, repo, pullTagName, tags.get(pullTagName))
        stats.pulls++
        stats.pullFailures.push(...problems)
      }
    }
  }

  await Promise.all(clients.map((_, i) => clientLoop(i)))
  running = false
  await gcLoop

  // Final collection, then every tag of every repository must pull completely.
  const final = await gcClient.gc()
  let tagsVerified = 0
  let blobsVerified = 0
  const lost: string[] = []
  const verifier = new RegistryClient(s.wharf.url)
  for (const repo of await verifier.catalog()) {
    for (const tag of await verifier.tags(repo)) {
      const { problems, blobs } = await pullTag(verifier, repo, tag)
      tagsVerified++
      blobsVerified += blobs
      lost.push(...problems)
    }
  }
  const tagMismatches: string[] = []
  for (let i = 0; i < CLIENTS; i++) {
    const actual = await verifier.tags(repoOf(i))
    const expected = [...expectedTags[i]!.keys()].sort()
    if (JSON.stringify(actual) !== JSON.stringify(expected)) tagMismatches.push(`${repoOf(i)}: ${actual.join(',')} ≠ ${expected.join(',')}`)
  }
  const du = await verifier.du()
  const files = await blobFilesOnDisk(s.storage)

  const serverErrors = [...clients, gcClient, verifier].flatMap((c) => c.serverErrorResponses)
  const failuresByKind = new Map<string, number>()
  for (const f of stats.pushFailures) {
    const key = `${f.step.startsWith('child') ? 'child' : 'index'} ${f.status} ${f.code ?? ''} via ${[...new Set(f.missing.map((m) => m.replace(/^\w+ \((\w+).*$/, '$1')))].join('+')}`
    failuresByKind.set(key, (failuresByKind.get(key) ?? 0) + 1)
  }
  const summary = {
    seconds: SECONDS, clients: CLIENTS, graceSeconds: GRACE,
    imagePushes: stats.pushes, pushFailures: stats.pushFailures.length, failuresByKind: Object.fromEntries(failuresByKind),
    blobUploads: stats.blobUploads, headSkips: stats.headSkips, mounts: stats.mounts, mountFallbacks: stats.mountFallbacks,
    tagDeletes: stats.tagDeletes, manifestDeletesByDigest: stats.digestDeletes, pullsDuringRun: stats.pulls,
    gcRuns: gcRuns.ok, gc409: gcRuns.conflict, duCalls: gcRuns.du, gcMaxMs: gcRuns.maxMs, blobsFreedDuringRun: gcRuns.freedBlobs,
    bytesFreedDuringRun: gcRuns.freedBytes, finalGcBlobsFreed: final.blobsRemoved.length,
    tagsVerified, blobsVerified, lostOrBroken: lost.length + stats.pullFailures.length, serverErrors: serverErrors.length,
    blobRowsAfter: du.blobs.count, blobFilesAfter: files.length,
  }
  t.comment(`race summary: ${JSON.stringify(summary)}`)
  for (const f of stats.pushFailures.slice(0, 10)) t.comment(`push failure: ${JSON.stringify(f)}`)

  t.ok(stats.pushes > CLIENTS * 5, `enough pushes happened (${stats.pushes})`)
  t.ok(gcRuns.ok > 10, `collections ran continuously (${gcRuns.ok})`)
  t.ok(tagsVerified > 0, `tags verified (${tagsVerified})`)
  t.same(lost, [], 'zero lost blobs: every tag pulls completely after the final collection')
  t.same(stats.pullFailures, [], 'zero broken pulls during the run')
  t.same(tagMismatches, [], 'every repository has exactly the tags its client left')
  t.same(serverErrors, [], 'zero 5xx')
  t.same(gcRuns.other, [], 'collections answer only 200 or 409')
  t.same(stats.unexpected, [], 'no unexpected status anywhere')
  t.equal(files.length, du.blobs.count, 'after the final collection, blob files on disk = blob records')
  // Push failures by what the missing reference was: a blob the client HEAD-checked (and skipped),
  // one it uploaded or mounted moments before, or anything else (e.g. a child manifest).
  const describe = (f: PushFailure): string => `client ${f.client} ${f.step} → ${f.status} ${f.code ?? ''}: ${f.missing.join(', ')}`
  const viaHead = stats.pushFailures.filter((f) => f.missing.some((m) => m.includes('(head ')))
  const viaUpload = stats.pushFailures.filter((f) => !viaHead.includes(f) && f.missing.length > 0 && f.missing.every((m) => /\((upload|mount) /.test(m)))
  const other = stats.pushFailures.filter((f) => !viaHead.includes(f) && !viaUpload.includes(f))
  t.same(other.map(describe), [], 'no push fails for any other reason (e.g. a child manifest collected before its index)')
  t.same(viaHead.map(describe).slice(0, 10), [],
    `a manifest put after HEAD-checking its blobs succeeds (${viaHead.length} failed: the HEAD did not refresh the link's use time)`)
  t.same(viaUpload.map(describe).slice(0, 10), [],
    `a manifest put right after uploading or mounting its blobs succeeds (${viaUpload.length} failed: the link was collected in between)`)
})
