import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { makeBlob, runCli, startGcServer, type RegistryClient } from '../support/index.js'
import { seedMetadata } from './seed.js'

/**
 * Disk usage and dry runs only read: they must read a snapshot and never hold the write lock, in the
 * server (admin API) or from another process (wharf du, wharf gc --dry-run), so pushes go on.
 */

interface PushLog { readonly statuses: number[]; readonly latencies: number[] }

/** Pushes small blobs one after another until `during` settles; what each answered and how long it took. */
async function pushWhile<T>(c: RegistryClient, during: Promise<T>): Promise<{ result: T; pushes: PushLog; ms: number }> {
  const started = Date.now()
  let done = false
  const settled = during.finally(() => { done = true })
  const pushes: PushLog = { statuses: [], latencies: [] }
  const pusher = (async () => {
    for (let i = 0; !done; i++) {
      const t0 = Date.now()
      const res = await c.postBlob(`pushing/r${i % 4}`, makeBlob(64))
      pushes.latencies.push(Date.now() - t0)
      pushes.statuses.push(res.status)
    }
  })()
  const result = await settled
  const ms = Date.now() - started
  await pusher
  return { result, pushes, ms }
}

async function seededServer(t: Test): Promise<Awaited<ReturnType<typeof startGcServer>>> {
  const storage = await mkdtemp(path.join(tmpdir(), 'wharf-seeded-'))
  // Large enough that disk usage takes a second or more: a push held behind it would wait that long.
  await seedMetadata(storage, { manifests: 3000, layersPerManifest: 10, repositories: 300 })
  const s = await startGcServer({ graceSeconds: 0, storage })
  t.teardown(() => s.stop(true))
  return s
}

function checkPushes(t: Test, what: string, run: { pushes: PushLog; ms: number }): void {
  const { statuses, latencies } = run.pushes
  t.ok(run.ms >= 600, `${what} took ${run.ms} ms: long enough to tell (else the seeded store is too small)`)
  t.ok(statuses.length >= 3, `${statuses.length} pushes ran meanwhile`)
  t.ok(statuses.every((s) => s === 201), `every push meanwhile succeeded (${[...new Set(statuses)].join(', ')})`)
  const longest = Math.max(...latencies)
  t.ok(longest < run.ms / 3, `no push waited for it: longest ${longest} ms of ${run.ms} ms`)
}

t.test('in the server: pushes go on while GET /_wharf/v1/du and a dry-run collection read', async (t) => {
  const s = await seededServer(t)
  const du = await pushWhile(s.client, s.client.du())
  t.ok(du.result.repositories.length >= 301, 'disk usage covers the seeded repositories')
  checkPushes(t, 'disk usage', du)
  const dry = await pushWhile(s.client, s.client.gc(true))
  t.equal(dry.result.dryRun, true)
  t.equal(dry.pushes.statuses.every((x) => x === 201), true, 'every push during the dry run succeeded')
  t.same(s.client.serverErrorResponses, [])
})

t.test('from another process: pushes go on while wharf du and wharf gc --dry-run read the same store', async (t) => {
  const s = await seededServer(t)
  const du = await pushWhile(s.client, runCli(['du', '--storage', s.storage, '--config', s.configFile, '--json']))
  t.equal(du.result.code, 0, `wharf du succeeded ${du.result.stderr}`)
  checkPushes(t, 'wharf du', du)
  const dry = await pushWhile(s.client, runCli(['gc', '--dry-run', '--storage', s.storage, '--config', s.configFile, '--json']))
  t.equal(dry.result.code, 0, `wharf gc --dry-run succeeded ${dry.result.stderr}`)
  t.equal(dry.pushes.statuses.every((x) => x === 201), true, 'every push during the dry run succeeded')
  t.same(s.client.serverErrorResponses, [])
})
