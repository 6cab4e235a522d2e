import t from 'tap'
import { blobPath, configBlob, type DiskUsage, exists, type GcReport, imageManifest, makeBlob, runCli, sleep, startGcServer } from '../support/index.js'

t.test('disk usage: per repository and per tag figures, shared and reclaimable bytes, before and after GC; wharf du and wharf gc', async (t) => {
  const s = await startGcServer({ graceSeconds: 0 })
  let server = s
  t.teardown(() => server.stop(true))
  const c = s.client
  const shared = makeBlob(1000)
  const la = makeBlob(2000)
  const lb = makeBlob(3000)
  const cfgA = configBlob({ repo: 'a' })
  const cfgB = configBlob({ repo: 'b' })
  const ma = (await c.pushImage('du/a', { tag: 'v1', config: cfgA, layers: [shared, la] })).manifest
  t.equal((await c.mountBlob('du/b', shared.digest, 'du/a')).status, 201)
  for (const b of [cfgB, lb]) t.equal((await c.postBlob('du/b', b)).status, 201)
  const mb = imageManifest(cfgB, [shared, lb])
  await c.pushManifest('du/b', 'v1', mb)
  const loose = makeBlob(400) // linked into du/a, referenced by nothing
  t.equal((await c.postBlob('du/a', loose)).status, 201)
  await sleep(5)

  const u1 = await c.du(true)
  const repo = (u: DiskUsage, name: string): DiskUsage['repositories'][number] | undefined => u.repositories.find((r) => r.name === name)
  t.same(u1.blobs, { count: 6, bytes: shared.size + la.size + lb.size + cfgA.size + cfgB.size + loose.size }, 'blob totals')
  t.same(u1.manifests, { count: 2, bytes: ma.size + mb.size }, 'manifest totals')
  t.equal(u1.sharedBytes, shared.size, 'sharedBytes: the layer linked into both repositories')
  t.equal(repo(u1, 'du/a')?.logicalBytes, ma.size + cfgA.size + shared.size + la.size, 'logical a')
  t.equal(repo(u1, 'du/b')?.logicalBytes, mb.size + cfgB.size + shared.size + lb.size, 'logical b')
  t.equal(repo(u1, 'du/a')?.exclusiveBytes, ma.size + cfgA.size + la.size, 'exclusive a: what it serves that nothing else has (its loose blob counts as reclaimable instead)')
  t.equal(repo(u1, 'du/b')?.exclusiveBytes, mb.size + cfgB.size + lb.size, 'exclusive b')
  t.same(repo(u1, 'du/a')?.tags, [{ tag: 'v1', digest: ma.digest, bytes: ma.size + cfgA.size + shared.size + la.size }], 'per tag a')
  t.same(repo(u1, 'du/b')?.tags, [{ tag: 'v1', digest: mb.digest, bytes: mb.size + cfgB.size + shared.size + lb.size }], 'per tag b')
  t.equal(u1.reclaimableBytes, loose.size, 'reclaimable: the loose blob (grace 0)')
  t.equal((await c.du(false)).repositories[0]?.tags, undefined, 'no per-tag figures without ?tags=true')

  const g1 = await c.gc()
  t.equal(g1.bytesFreed, u1.reclaimableBytes, 'the next GC frees exactly reclaimableBytes')
  const u2 = await c.du(true)
  t.same(u2.blobs, { count: 5, bytes: u1.blobs.bytes - loose.size })
  t.equal(u2.reclaimableBytes, 0)
  t.equal(repo(u2, 'du/a')?.exclusiveBytes, ma.size + cfgA.size + la.size)

  t.equal((await c.deleteManifest('du/b', mb.digest)).status, 202)
  const u3 = await c.du(true)
  t.equal(u3.reclaimableBytes, cfgB.size + lb.size, 'after deleting b: its exclusive blobs are reclaimable, not the shared layer')
  const g2 = await c.gc()
  t.equal(g2.bytesFreed, u3.reclaimableBytes, 'and exactly those are freed')
  const u4 = await c.du(true)
  t.same(u4.repositories.map((r) => r.name), ['du/a'], 'b is gone')
  t.equal(u4.sharedBytes, 0, 'nothing is shared any more')
  t.same(u4.blobs, { count: 3, bytes: shared.size + la.size + cfgA.size })
  t.equal(repo(u4, 'du/a')?.exclusiveBytes, ma.size + cfgA.size + shared.size + la.size, 'the shared layer is now exclusive to a')
  t.equal(repo(u4, 'du/a')?.logicalBytes, repo(u4, 'du/a')?.exclusiveBytes)

  // Something for the offline collection, then the CLI on the stopped server's storage.
  const leftover = makeBlob(777)
  t.equal((await c.postBlob('du/a', leftover)).status, 201)
  await sleep(5)
  const online = await c.du(true)
  t.equal(online.reclaimableBytes, leftover.size)
  await s.stop()
  const du = await runCli(['du', '--storage', s.storage, '--config', s.configFile, '--json', '--tags'])
  t.equal(du.code, 0, `wharf du exits 0 ${du.stderr}`)
  t.same(JSON.parse(du.stdout), online, 'wharf du --json --tags equals the admin endpoint')
  const text = await runCli(['du', '--storage', s.storage, '--config', s.configFile, '--tags'])
  t.equal(text.code, 0)
  t.match(text.stdout, /du\/a/, 'the table names the repository')

  const dry = await runCli(['gc', '--storage', s.storage, '--config', s.configFile, '--json', '--dry-run'])
  t.equal(dry.code, 0, dry.stderr)
  const dryReport = JSON.parse(dry.stdout) as GcReport
  t.equal(dryReport.dryRun, true)
  t.ok(await exists(blobPath(s.storage, leftover.digest)), 'offline dry run removes nothing')
  const real = await runCli(['gc', '--storage', s.storage, '--config', s.configFile, '--json'])
  t.equal(real.code, 0, real.stderr)
  const report = JSON.parse(real.stdout) as GcReport
  t.same(report.blobsRemoved, [{ digest: leftover.digest, size: leftover.size }], 'offline gc removed the leftover blob')
  t.equal(report.bytesFreed, online.reclaimableBytes, 'offline bytesFreed = the reclaimableBytes the server reported')
  t.same(report.blobsRemoved, dryReport.blobsRemoved)
  t.notOk(await exists(blobPath(s.storage, leftover.digest)), 'its file is gone')
  const plain = await runCli(['gc', '--storage', s.storage, '--config', s.configFile])
  t.equal(plain.code, 0)
  t.match(plain.stdout, /bytes freed 0/)

  // Online again: the offline collection refuses, its dry run is allowed.
  server = await startGcServer({ graceSeconds: 0, storage: s.storage })
  const refused = await runCli(['gc', '--storage', s.storage, '--config', s.configFile, '--json'])
  t.not(refused.code, 0, 'wharf gc refuses while a server uses the storage')
  t.match(refused.stderr, new RegExp(`pid ${server.wharf.child.pid}`), 'and names the server')
  const dryOnline = await runCli(['gc', '--storage', s.storage, '--config', s.configFile, '--json', '--dry-run'])
  t.equal(dryOnline.code, 0, `wharf gc --dry-run is allowed online ${dryOnline.stderr}`)
  t.equal((JSON.parse(dryOnline.stdout) as GcReport).dryRun, true)
  t.equal((await server.client.getManifest('du/a', 'v1')).status, 200, 'the image survived all of it')
  for (const b of [cfgA, shared, la]) t.ok(await server.client.blobIntact('du/a', b.digest))
})

t.test('exclusiveBytes never exceeds logicalBytes', async (t) => {
  // A repository holding a blob no manifest references: exclusiveBytes counts the link,
  // logicalBytes (the closure of the manifests) does not.
  const s = await startGcServer({})
  t.teardown(() => s.stop(true))
  await s.client.pushImage('ex/a', { tag: 'v1', config: configBlob(), layers: [makeBlob(100)] })
  t.equal((await s.client.postBlob('ex/a', makeBlob(5000))).status, 201)
  const u = await s.client.du()
  const r = u.repositories.find((x) => x.name === 'ex/a')!
  t.ok(r.exclusiveBytes <= r.logicalBytes, `exclusive ${r.exclusiveBytes} <= logical ${r.logicalBytes}`)
})
