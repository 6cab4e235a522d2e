/**
 * `wharf serve --workers 2` with the metadata in PostgreSQL: the workers coordinate through the
 * database (PostgresCoordination, as nodes do), the primary holds nothing of theirs. With blobs in
 * S3 (radosgw): pushes, pulls, a chunked upload and collections spread over both workers, and a
 * moved tag read through both. With blobs on local disk: the primary holds the database's node
 * lock for its workers, so another server on the database is refused until it stops. Without
 * PostgreSQL or radosgw the file is skipped (failed under CI=true).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { postgresAvailable, startPostgres } from '../support/postgres.js'
import { radosgwForTest } from '../support/radosgw.js'
import { configBlob, digestOf, makeBlob, RegistryClient, runCli, serverErrors, startWharf, uniqueRepo, waitFor, writeConfig } from '../support/index.js'
import { logEntries, servedBy, servedByEach, workerPids } from '../support/worker-logs.js'

const MiB = 1024 * 1024

const rgw = postgresAvailable(t) ? await radosgwForTest(t) : undefined
if (rgw !== undefined) {
  const postgres = await startPostgres(t)
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-workers-pg-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const metadata = async (): Promise<{ driver: string; postgres: { url: string } }> => ({ driver: 'postgres', postgres: { url: (await postgres.createDatabase()).url } })

  await t.test('S3 and PostgreSQL: pushes, a chunked upload, a moved tag and collections across both workers', async (t) => {
    const bucket = await rgw.createBucket()
    const config = await writeConfig(dir, {
      storage: { driver: 's3', s3: { endpoint: rgw.endpoint, bucket, region: rgw.region, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, forcePathStyle: true, partSize: 5 * MiB } },
      metadata: await metadata(),
      gc: { graceSeconds: 0, intervalSeconds: 0 },
      log: { level: 'info', requests: true },
    })
    const wharf = await startWharf({ storage: path.join(dir, 's3'), extraArgs: ['--workers', '2', '--config', config], timeoutMs: 60_000 })
    t.teardown(() => wharf.stop())
    const client = new RegistryClient(wharf.url)
    const pids = workerPids(wharf)
    t.equal(new Set(pids).size, 2, 'two workers listening')

    const repos = Array.from({ length: 3 }, () => uniqueRepo('workers-pg'))
    const images = await Promise.all(repos.map((repo) => client.pushImage(repo, { tag: 'v1', layers: 2, layerSize: 64 * 1024 })))
    for (const [i, repo] of repos.entries()) t.equal((await client.pullVerified(repo, 'v1')).digest, images[i]!.manifest.digest, `${repo}:v1 pulls whole`)
    await servedByEach(wharf, pids, 'PUT', (u) => repos.some((repo) => u.startsWith(`/v2/${repo}/`)))

    const blob = makeBlob(6 * MiB + 7)
    const { location, uuid } = await client.startUpload(repos[0]!)
    let next = location
    for (let offset = 0; offset < blob.size; offset += MiB) {
      const chunk = blob.data.subarray(offset, offset + MiB)
      const res = await client.request(next, { method: 'PATCH', fresh: true, body: chunk, headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + chunk.length - 1}` } })
      t.equal(res.status, 202, `PATCH at ${offset}`)
      next = res.header('location') ?? next
    }
    await servedByEach(wharf, pids, 'PATCH', (u) => u.includes(uuid))
    const done = await client.request(`${next}${next.includes('?') ? '&' : '?'}digest=${blob.digest}`, { method: 'PUT', fresh: true, headers: { 'content-length': 0 } })
    t.equal(done.status, 201, 'the upload whose parts came through both workers closes')
    t.equal((await client.request(`/v2/${repos[0]}/blobs/${blob.digest}`, { hashBody: 'sha256' })).bodyDigest, blob.digest, 'and reads back whole')

    // Between workers on PostgreSQL a moved tag reaches the other caches by NOTIFY, as between nodes: soon, not before the PUT is answered.
    const moved = await client.pushImage(repos[1]!, { tag: 'v1', config: configBlob({ moved: true }) })
    let probe = 0
    await waitFor('both workers to answer the moved tag', async () => {
      const res = await client.request(`/v2/${repos[1]}/manifests/v1?probe=${probe++}`, { fresh: true, headers: { accept: moved.manifest.mediaType } })
      if (res.header('docker-content-digest') !== moved.manifest.digest) return false
      return servedBy(wharf, 'GET', (u) => u.startsWith(`/v2/${repos[1]}/manifests/v1?probe=`)).size === 2
    }, 10_000)

    const garbage = await client.pushBlob(repos[2]!, makeBlob(4096))
    const collections = await Promise.all([0, 1].map(() => client.request('/_wharf/v1/gc', { method: 'POST', fresh: true })))
    t.ok(collections.every((res) => res.status === 200 || res.status === 409), `collections asked of both workers: ${collections.map((r) => r.status).join(', ')} (409: the other held the lease)`)
    if (!collections.some((res) => res.status === 200)) await client.gc()
    t.equal((await client.headBlob(repos[2]!, garbage.digest)).status, 404, 'the unreferenced blob was collected')
    for (const [i, repo] of repos.entries()) {
      const expected = i === 1 ? moved.manifest.digest : images[i]!.manifest.digest
      t.equal(digestOf((await client.getManifest(repo, 'v1')).body), expected, `${repo}:v1 kept`)
    }
    await wharf.stop()
    t.equal(wharf.child.exitCode, 0, 'SIGTERM: exit 0')
    t.same(serverErrors(wharf), [], 'no server error logged')
  })

  await t.test('PostgreSQL with blobs on local disk: the primary holds the database for its workers until it stops', async (t) => {
    const config = await writeConfig(dir, { metadata: await metadata(), gc: { intervalSeconds: 0 } })
    const wharf = await startWharf({ storage: path.join(dir, 'local'), extraArgs: ['--workers', '2', '--config', config], timeoutMs: 60_000 })
    t.teardown(() => wharf.stop())
    const client = new RegistryClient(wharf.url)
    const repo = uniqueRepo('workers-pg')
    const image = await client.pushImage(repo, { tag: 'v1', layers: 2 })
    t.equal(workerPids(wharf).length, 2, 'two workers serve (neither refused by the node lock)')
    const other = await runCli(['serve', '--port', '0', '--storage', path.join(dir, 'other'), '--config', config], {}, { timeoutMs: 60_000 })
    t.equal(other.code, 1, 'another server on the database is refused')
    t.match(other.stderr, /metadata database .* is in use by another wharf process \(wharf: wharf serve from /, 'naming the holder')
    await wharf.stop()
    t.equal(wharf.child.exitCode, 0, 'SIGTERM: exit 0')
    t.ok(logEntries(wharf).some((e) => e.pid === wharf.pid && e.msg === 'stopped'), 'the primary stopped')
    const next = await startWharf({ storage: path.join(dir, 'local'), extraArgs: ['--config', config], timeoutMs: 60_000 })
    t.teardown(() => next.stop())
    t.equal((await new RegistryClient(next.url).pullVerified(repo, 'v1')).digest, image.manifest.digest, 'the database is free again: a server takes it and serves what was pushed')
  })
}
