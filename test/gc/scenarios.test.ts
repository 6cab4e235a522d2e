import { readdir } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { blobFilesOnDisk, blobPath, configBlob, descriptor, errorCodes, exists, imageManifest, makeBlob, MediaTypes, ociIndex, removalsOf, sleep, startGcServer, writeOrphanFile } from '../support/index.js'

t.test('shared layer between two repositories: deleting one image keeps the shared layer, frees the exclusive one', async (t) => {
  const s = await startGcServer({ graceSeconds: 0 })
  t.teardown(() => s.stop(true))
  const c = s.client
  const shared = makeBlob(3000)
  const exclA = makeBlob(2000)
  const exclB = makeBlob(1500)
  const cfgA = configBlob()
  const cfgB = configBlob()
  const ma = (await c.pushImage('shared/a', { tag: 'v1', config: cfgA, layers: [shared, exclA] })).manifest
  // b gets the shared layer by a cross-repository mount, as clients do
  t.equal((await c.mountBlob('shared/b', shared.digest, 'shared/a')).status, 201, 'mount of the shared layer')
  for (const b of [cfgB, exclB]) t.equal((await c.postBlob('shared/b', b)).status, 201)
  const mb = imageManifest(cfgB, [shared, exclB])
  await c.pushManifest('shared/b', 'v1', mb)

  t.equal((await c.deleteManifest('shared/a', ma.digest)).status, 202, 'delete image a by digest')
  const report = await c.gc()
  t.same(report.blobsRemoved.map((b) => b.digest).sort(), [cfgA.digest, exclA.digest].sort(), 'exactly a\'s exclusive blobs removed')
  t.equal(report.bytesFreed, cfgA.size + exclA.size, 'bytesFreed = exclusive bytes')
  t.same(report.repositoriesRemoved, ['shared/a'], 'the emptied repository goes')
  t.notOk(await exists(blobPath(s.storage, exclA.digest)), 'exclusive layer file gone from disk')
  t.notOk(await exists(blobPath(s.storage, cfgA.digest)), 'exclusive config file gone from disk')
  t.ok(await exists(blobPath(s.storage, shared.digest)), 'shared layer file still on disk')
  t.ok(await c.blobIntact('shared/b', shared.digest), 'shared layer pullable from b')
  t.ok(await c.blobIntact('shared/b', exclB.digest), 'b\'s own layer pullable')
  t.equal((await c.getManifest('shared/b', 'v1')).status, 200, 'image b pullable')
  t.equal((await c.getBlob('shared/a', shared.digest)).status, 404, 'shared layer no longer visible in a')
  t.notOk((await c.catalog()).includes('shared/a'), 'empty repository disappears from the catalog')
  t.ok((await c.catalog()).includes('shared/b'))
  t.same(c.serverErrorResponses, [])
})

t.test('index whose children are untagged: children kept and pullable by digest', async (t) => {
  const s = await startGcServer({ graceSeconds: 0 })
  t.teardown(() => s.stop(true))
  const c = s.client
  const children = []
  for (const arch of ['amd64', 'arm64']) {
    const cfg = configBlob({ architecture: arch })
    const layer = makeBlob(1000)
    for (const b of [cfg, layer]) t.equal((await c.postBlob('idx/app', b)).status, 201)
    const m = imageManifest(cfg, [layer])
    await c.pushManifest('idx/app', m.digest, m)
    children.push({ manifest: m, arch, blobs: [cfg, layer] })
  }
  const index = ociIndex(children.map((ch) => descriptor(ch.manifest, undefined, { platform: { os: 'linux', architecture: ch.arch } })))
  await c.pushManifest('idx/app', 'latest', index)
  const report = await c.gc()
  t.same(report.manifestsRemoved, [], 'no manifest removed')
  t.same(report.blobsRemoved, [], 'no blob removed')
  for (const child of children) {
    const res = await c.getManifest('idx/app', child.manifest.digest)
    t.equal(res.status, 200, `child ${child.arch} pullable by digest`)
    for (const b of child.blobs) t.ok(await c.blobIntact('idx/app', b.digest), `blob of ${child.arch} intact`)
  }
  await s.stop()

  // Same storage, policy collecting untagged manifests at once: children of a tagged index still stay.
  const p = await startGcServer({ graceSeconds: 0, storage: s.storage, retention: [{ repositories: '**', untaggedMaxAgeSeconds: 0 }] })
  t.teardown(() => p.stop(true))
  await sleep(5)
  const r2 = await p.client.gc()
  t.same(r2.manifestsRemoved, [], 'children of a tagged index survive an untaggedMaxAgeSeconds: 0 policy')
  for (const child of children) t.equal((await p.client.getManifest('idx/app', child.manifest.digest)).status, 200)
  // Untag the index: index and children all go, with their blobs.
  t.equal((await p.client.deleteManifest('idx/app', 'latest')).status, 202)
  await sleep(5)
  const r3 = await p.client.gc()
  t.same(r3.manifestsRemoved.map((m) => m.digest).sort(), [index.digest, ...children.map((c) => c.manifest.digest)].sort(),
    'untagged index and its children collected under the policy')
  t.equal(r3.blobsRemoved.length, 4, 'their four blobs freed')
  t.same(await blobFilesOnDisk(p.storage), [], 'nothing left on disk')
})

t.test('tag moved away: old manifest kept untagged by default, collected with untaggedMaxAgeSeconds: 0', async (t) => {
  const s = await startGcServer({ graceSeconds: 0 })
  t.teardown(() => s.stop(true))
  const c = s.client
  const common = makeBlob(800)
  const old1 = makeBlob(900)
  const cfg1 = configBlob()
  const m1 = (await c.pushImage('moved/app', { tag: 'latest', config: cfg1, layers: [common, old1] })).manifest
  const cfg2 = configBlob()
  const new2 = makeBlob(700)
  const m2 = (await c.pushImage('moved/app', { tag: 'latest', config: cfg2, layers: [common, new2] })).manifest
  t.not(m1.digest, m2.digest)
  const r1 = await c.gc()
  t.same(r1.manifestsRemoved, [], 'default: untagged manifest kept')
  t.same(r1.blobsRemoved, [])
  t.equal((await c.getManifest('moved/app', m1.digest)).status, 200, 'old manifest still pullable by digest')
  t.ok(await c.blobIntact('moved/app', old1.digest))
  await s.stop()

  const p = await startGcServer({ graceSeconds: 0, storage: s.storage, retention: [{ repositories: 'moved/*', untaggedMaxAgeSeconds: 0 }] })
  t.teardown(() => p.stop(true))
  await sleep(5)
  const r2 = await p.client.gc()
  t.same(r2.manifestsRemoved, [{ repo: 'moved/app', digest: m1.digest }], 'old manifest collected by the policy')
  t.same(r2.blobsRemoved.map((b) => b.digest).sort(), [cfg1.digest, old1.digest].sort(), 'only its exclusive blobs freed')
  t.equal((await p.client.getManifest('moved/app', m1.digest)).status, 404)
  t.notOk(await exists(blobPath(p.storage, old1.digest)))
  t.equal((await p.client.getManifest('moved/app', 'latest')).status, 200, 'current tag intact')
  t.ok(await p.client.blobIntact('moved/app', common.digest), 'layer shared with the current image kept')
  t.ok(await p.client.blobIntact('moved/app', new2.digest))
})

t.test('referrers: collected with their deleted subject, kept with a kept subject', async (t) => {
  const s = await startGcServer({ graceSeconds: 0 })
  t.teardown(() => s.stop(true))
  const c = s.client
  const empty = makeBlob('{}', { mediaType: MediaTypes.ociEmpty })
  const subjKept = (await c.pushImage('ref/app', { tag: 'keep', config: configBlob(), layers: [makeBlob(500)] })).manifest
  const subjGone = (await c.pushImage('ref/app', { tag: 'gone', config: configBlob(), layers: [makeBlob(500)] })).manifest
  t.equal((await c.postBlob('ref/app', empty)).status, 201)
  const sigKept = makeBlob(300)
  const sigGone = makeBlob(301)
  for (const b of [sigKept, sigGone]) t.equal((await c.postBlob('ref/app', b)).status, 201)
  const refKept = imageManifest(empty, [sigKept], { subject: subjKept, artifactType: 'application/vnd.example.sig' })
  const refGone = imageManifest(empty, [sigGone], { subject: subjGone, artifactType: 'application/vnd.example.sig' })
  await c.pushManifest('ref/app', refKept.digest, refKept)
  await c.pushManifest('ref/app', refGone.digest, refGone)
  t.same(await c.referrers('ref/app', subjKept.digest), [refKept.digest])

  t.equal((await c.deleteManifest('ref/app', subjGone.digest)).status, 202, 'delete the subject by digest')
  const report = await c.gc()
  const removed = report.manifestsRemoved.map((m) => m.digest)
  t.ok(removed.includes(refGone.digest), 'referrer of the deleted subject collected')
  t.notOk(removed.includes(refKept.digest), 'referrer of a kept subject kept')
  t.equal((await c.getManifest('ref/app', refGone.digest)).status, 404)
  t.equal((await c.getManifest('ref/app', refKept.digest)).status, 200)
  t.same(await c.referrers('ref/app', subjKept.digest), [refKept.digest], 'referrers API still lists it')
  t.notOk(await exists(blobPath(s.storage, sigGone.digest)), 'the collected referrer\'s blob is gone')
  t.ok(await c.blobIntact('ref/app', sigKept.digest))
  t.ok(await c.blobIntact('ref/app', empty.digest), 'empty config shared with the kept referrer stays')
})

t.test('a blob deleted (DELETE blob) then pushed again is pullable, also after GC', async (t) => {
  const s = await startGcServer({ graceSeconds: 0 })
  t.teardown(() => s.stop(true))
  const c = s.client
  const layer = makeBlob(1200)
  const cfg = configBlob()
  await c.pushImage('redo/app', { tag: 'v1', config: cfg, layers: [layer] })
  t.equal((await c.deleteBlob('redo/app', layer.digest)).status, 202)
  t.equal((await c.getBlob('redo/app', layer.digest)).status, 404, 'gone from the repository')
  const r1 = await c.gc()
  t.same(r1.blobsRemoved.map((b) => b.digest), [layer.digest], 'no link left: the blob is collected')
  t.notOk(await exists(blobPath(s.storage, layer.digest)))
  t.equal((await c.postBlob('redo/app', layer)).status, 201, 'pushed again')
  t.ok(await c.blobIntact('redo/app', layer.digest), 'pullable after the push')
  const r2 = await c.gc()
  t.same(r2.blobsRemoved, [], 'referenced by the tagged manifest: kept')
  t.ok(await c.blobIntact('redo/app', layer.digest), 'pullable after GC')

  // Deleted and pushed again with no GC in between: the row stays, the link comes back.
  t.equal((await c.deleteBlob('redo/app', cfg.digest)).status, 202)
  t.equal((await c.postBlob('redo/app', cfg)).status, 201)
  await c.gc()
  t.ok(await c.blobIntact('redo/app', cfg.digest), 'config pullable after delete + push + GC')
  t.equal((await c.getManifest('redo/app', 'v1')).status, 200)
})

t.test('an unreferenced blob uploaded just now survives the default grace, goes with grace 0', async (t) => {
  const s = await startGcServer({}) // default graceSeconds: 3600
  t.teardown(() => s.stop(true))
  const loose = makeBlob(4096)
  t.equal((await s.client.postBlob('loose/app', loose)).status, 201)
  const orphan = await writeOrphanFile(s.storage, Buffer.from('fresh orphan file'))
  await sleep(5)
  const r1 = await s.client.gc()
  t.same(r1.blobsRemoved, [], 'kept within the grace period')
  t.equal(r1.linksRemoved, 0)
  t.same(r1.orphanFilesRemoved, [], 'a fresh orphan file is within grace too')
  t.ok(await s.client.blobIntact('loose/app', loose.digest))
  t.ok(await exists(blobPath(s.storage, orphan)))
  await s.stop()

  const z = await startGcServer({ graceSeconds: 0, storage: s.storage })
  t.teardown(() => z.stop(true))
  const r2 = await z.client.gc()
  t.same(r2.blobsRemoved, [{ digest: loose.digest, size: loose.size }], 'grace 0: collected')
  t.equal(r2.linksRemoved, 1)
  t.same(r2.repositoriesRemoved, ['loose/app'])
  t.notOk(await exists(blobPath(z.storage, loose.digest)))
  t.equal((await z.client.headBlob('loose/app', loose.digest)).status, 404)
})

t.test('a HEAD-checked blob survives a collection until the manifest arrives (grace shorter than the link-touch interval)', async (t) => {
  // The client pushes a blob, later HEADs it (200) and skips the upload, then puts its manifest.
  // The HEAD must protect the link for the grace period; with graceSeconds < 300 it does not,
  // because stat() refreshes used_at only when it is older than LINK_TOUCH_INTERVAL_MS (5 min).
  const s = await startGcServer({ graceSeconds: 2 })
  t.teardown(() => s.stop(true))
  const c = s.client
  const layer = makeBlob(1000)
  const cfg = configBlob()
  for (const b of [cfg, layer]) t.equal((await c.postBlob('touch/app', b)).status, 201)
  await sleep(2500)
  for (const b of [cfg, layer]) t.equal((await c.headBlob('touch/app', b.digest)).status, 200, 'HEAD says present: the client skips the upload')
  const report = await c.gc()
  t.equal(report.linksRemoved, 0, 'links just confirmed by HEAD are not removed')
  const res = await c.putManifest('touch/app', 'v1', imageManifest(cfg, [layer]))
  t.equal(res.status, 201, `manifest put after HEAD succeeds (got ${res.status} ${errorCodes(res)[0] ?? ''})`)
})

t.test('dry run reports exactly what the real run removes and changes nothing', async (t) => {
  const s = await startGcServer({ graceSeconds: 0, retention: [{ repositories: 'dry/ret', keepLast: 1, untaggedMaxAgeSeconds: 0 }] })
  t.teardown(() => s.stop(true))
  const c = s.client
  const shared = makeBlob(1111)
  const gone = (await c.pushImage('dry/del', { tag: 'v1', config: configBlob(), layers: [shared, makeBlob(222)] })).manifest
  await c.pushImage('dry/keep', { tag: 'v1', config: configBlob(), layers: [shared, makeBlob(333)] })
  await c.pushImage('dry/ret', { tag: 'old', config: configBlob(), layers: [makeBlob(444)] })
  await sleep(3)
  await c.pushImage('dry/ret', { tag: 'new', config: configBlob(), layers: [makeBlob(555)] })
  t.equal((await c.postBlob('dry/loose', makeBlob(666))).status, 201)
  await writeOrphanFile(s.storage, Buffer.from('orphan bytes for the dry run'))
  t.equal((await c.deleteManifest('dry/del', gone.digest)).status, 202)
  await sleep(5)

  const snapshot = async (): Promise<unknown> => ({
    files: await blobFilesOnDisk(s.storage),
    catalog: await c.catalog(),
    tags: await Promise.all(['dry/del', 'dry/keep', 'dry/ret', 'dry/loose'].map((r) => c.tags(r))),
    du: { ...(await c.du(true)) },
  })
  const before = await snapshot()
  const dry = await c.gc(true)
  t.equal(dry.dryRun, true)
  t.ok(dry.blobsRemoved.length >= 5 && dry.tagsRemoved.length === 1 && dry.orphanFilesRemoved.length === 1, 'the dry run finds work')
  t.same(await snapshot(), before, 'the dry run changed nothing (files, catalog, tags, du)')
  const real = await c.gc()
  t.equal(real.dryRun, false)
  t.same(removalsOf(real), removalsOf(dry), 'the real run removed exactly what the dry run reported')
  const files = await blobFilesOnDisk(s.storage)
  for (const b of [...real.blobsRemoved, ...real.orphanFilesRemoved]) t.notOk(files.includes(b.digest), `${b.digest.slice(0, 19)} gone`)
  t.same(removalsOf(await c.gc(true)), { ...removalsOf(await c.gc(false)) }, 'afterwards dry and real agree again')
})

t.test('dry run reports the expired upload sessions the real run purges', async (t) => {
  const s = await startGcServer({ graceSeconds: 0, uploadTtlSeconds: 0 })
  t.teardown(() => s.stop(true))
  const started = await s.client.request('/v2/up/app/blobs/uploads/', { method: 'POST' })
  t.equal(started.status, 202)
  await sleep(5)
  const dry = await s.client.gc(true)
  const real = await s.client.gc()
  t.equal(real.uploadsPurged, 1)
  t.equal(dry.uploadsPurged, real.uploadsPurged, `dry run says ${dry.uploadsPurged}, the real run purged ${real.uploadsPurged}`)
})

t.test('expired upload sessions are purged (uploads.ttlSeconds: 0)', async (t) => {
  const s = await startGcServer({ graceSeconds: 0, uploadTtlSeconds: 0 })
  t.teardown(() => s.stop(true))
  const c = s.client
  const started = await c.request('/v2/up/app/blobs/uploads/', { method: 'POST' })
  t.equal(started.status, 202)
  const location = started.header('location')!
  const id = started.header('docker-upload-uuid') ?? location.split('/').pop()!
  const chunk = await c.request(location, { method: 'PATCH', body: Buffer.alloc(100, 1), headers: { 'Content-Type': 'application/octet-stream' } })
  t.equal(chunk.status, 202)
  t.equal((await c.get(location)).status, 204, 'session alive')
  t.ok((await readdir(path.join(s.storage, 'uploads'))).includes(id), 'upload file present')
  await sleep(5)
  const report = await c.gc()
  t.equal(report.uploadsPurged, 1, 'one session purged')
  const status = await c.get(location)
  t.equal(status.status, 404, 'status of the purged session: 404')
  t.equal(errorCodes(status)[0], 'BLOB_UPLOAD_UNKNOWN')
  t.notOk((await readdir(path.join(s.storage, 'uploads'))).includes(id), 'upload file removed')
})

t.test('orphan blob file (valid digest name, no record) is removed', async (t) => {
  const s = await startGcServer({ graceSeconds: 0 })
  t.teardown(() => s.stop(true))
  const kept = (await s.client.pushImage('orph/app', { tag: 'v1', config: configBlob(), layers: [makeBlob(100)] })).manifest
  const data = Buffer.from('a blob file whose record never got written')
  const digest = await writeOrphanFile(s.storage, data)
  const junk = path.join(path.dirname(blobPath(s.storage, digest)), 'not-a-digest')
  const { writeFile } = await import('node:fs/promises')
  await writeFile(junk, 'x')
  await sleep(5)
  const report = await s.client.gc()
  t.same(report.orphanFilesRemoved, [{ digest, size: data.length }])
  t.equal(report.bytesFreed, data.length)
  t.notOk(await exists(blobPath(s.storage, digest)), 'orphan gone')
  t.ok(await exists(junk), 'files that are not blob names are left alone')
  t.equal((await s.client.getManifest('orph/app', kept.digest)).status, 200)
  t.equal((await blobFilesOnDisk(s.storage)).length, 3, 'the image\'s blobs stay (plus the junk file)')
})

t.test('concurrent collections: one runs, the others get 409, nothing is corrupted', async (t) => {
  const s = await startGcServer({ graceSeconds: 0 })
  t.teardown(() => s.stop(true))
  const c = s.client
  // Enough blob files that a collection spends a while walking them.
  const images = []
  for (let i = 0; i < 20; i++) {
    const layers = Array.from({ length: 10 }, () => makeBlob(64))
    images.push({ m: (await c.pushImage('conc/app', { tag: `t${i}`, config: configBlob(), layers: layers })).manifest, layers })
  }
  for (let i = 0; i < 10; i++) t.equal((await c.deleteManifest('conc/app', images[i]!.m.digest)).status, 202)
  const results = await Promise.all(Array.from({ length: 8 }, () => c.gcRaw()))
  const statuses = results.map((r) => r.status)
  t.ok(statuses.every((st) => st === 200 || st === 409), `only 200 or 409 (${statuses.join(',')})`)
  t.ok(statuses.includes(200), 'one ran')
  t.ok(statuses.includes(409), 'a second one at the same time is refused with 409')
  for (const r of results.filter((r) => r.status === 409)) t.equal(errorCodes(r)[0], 'UNAVAILABLE')
  const freed = results.filter((r) => r.status === 200).flatMap((r) => (JSON.parse(r.body.toString()) as { blobsRemoved: unknown[] }).blobsRemoved)
  t.equal(freed.length, 110, 'the deleted images\' 110 blobs were freed exactly once across the runs')
  for (const { m, layers } of images.slice(10)) {
    t.equal((await c.getManifest('conc/app', m.digest)).status, 200)
    for (const l of layers) if (!await c.blobIntact('conc/app', l.digest)) t.fail(`lost ${l.digest}`)
  }
  t.equal((await blobFilesOnDisk(s.storage)).length, 110, 'kept images\' blobs all on disk')
  t.same(c.serverErrorResponses, [], 'no 5xx')
})
