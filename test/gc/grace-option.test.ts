import t from 'tap'
import { configBlob, makeBlob, runCli, startGcServer, type GcReport } from '../support/index.js'

type Kept = { graceSeconds: number; manifests: number; blobs: number; bytes: number }

t.test('what the grace period kept is reported (API, text, JSON), and wharf gc --grace 0 collects it offline', async (t) => {
  // Default grace period (1 h); untagged manifests are garbage at once under this policy.
  const s = await startGcServer({ retention: [{ repositories: '**', untaggedMaxAgeSeconds: 0 }] })
  t.teardown(() => s.stop(true))
  const c = s.client
  const config = configBlob()
  const layer = makeBlob(4000)
  const image = (await c.pushImage('fresh/app', { tag: 'v1', config, layers: [layer] })).manifest
  t.equal((await c.deleteManifest('fresh/app', 'v1')).status, 202, 'untagged: unreachable, but pushed just now')

  const online = await c.gc() as GcReport & { keptByGrace: Kept }
  t.same(online.manifestsRemoved, [], 'the grace period keeps it')
  t.same(online.keptByGrace, { graceSeconds: 3600, manifests: 1, blobs: 2, bytes: config.size + layer.size }, 'and the report says so')
  await s.stop()

  const text = await runCli(['gc', '--storage', s.storage, '--config', s.configFile])
  t.equal(text.code, 0, text.stderr)
  t.match(text.stdout, /kept by the grace period \(pushed or used in the last 1h\): 1 manifests, 2 blobs/)
  t.match(text.stdout, /wharf gc --grace 0/, 'and how to collect them')

  const dry = await runCli(['gc', '--storage', s.storage, '--config', s.configFile, '--grace', '0', '--dry-run', '--json'])
  t.equal(dry.code, 0, dry.stderr)
  t.same((JSON.parse(dry.stdout) as GcReport).manifestsRemoved, [{ repo: 'fresh/app', digest: image.digest }], 'dry run with --grace 0 lists it')

  const real = await runCli(['gc', '--storage', s.storage, '--config', s.configFile, '--grace', '0', '--json'])
  t.equal(real.code, 0, real.stderr)
  const report = JSON.parse(real.stdout) as GcReport & { keptByGrace: Kept }
  t.same(report.manifestsRemoved, [{ repo: 'fresh/app', digest: image.digest }], '--grace 0 collects the manifest')
  t.same(report.blobsRemoved.map((b) => b.digest).sort(), [config.digest, layer.digest].sort(), 'and its blobs')
  t.equal(report.bytesFreed, config.size + layer.size)
  t.same(report.keptByGrace, { graceSeconds: 0, manifests: 0, blobs: 0, bytes: 0 })

  const again = await runCli(['gc', '--storage', s.storage, '--config', s.configFile, '--grace', '10m', '--json'])
  t.equal(again.code, 0, again.stderr)
  t.equal((JSON.parse(again.stdout) as { keptByGrace: Kept }).keptByGrace.graceSeconds, 600, '10m is 600 seconds')

  const bad = await runCli(['gc', '--storage', s.storage, '--grace', '10 minutes'])
  t.equal(bad.code, 2, 'a malformed duration is refused')
  t.match(bad.stderr, /--grace: "10 minutes" is not a duration/)
})
