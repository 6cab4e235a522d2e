// What a node's crash or the database's restart must not cost a Wharf cluster: three nodes on one
// radosgw bucket and one PostgreSQL database behind nginx (test/support/cluster.ts), started once.
// An upload continues on the other nodes after the node that took its first chunks is SIGKILLed
// with a chunk in flight; a collection whose node is SIGKILLed leaves its lease to the next node,
// which leaves the store consistent; every push acknowledged around a PostgreSQL restart is kept,
// and requests meanwhile fail with 503 UNAVAILABLE in the spec's error format; a tag pushed or a
// manifest deleted through one node is what the next read on any node answers.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import pg from 'pg'
import t, { type Test } from 'tap'
import { LockKeys } from '../../src/coordination/coordination.js'
import { ADVISORY_LOCK_SPACES } from '../../src/coordination/postgres-coordination.js'
import type { Digest } from '../../src/oci/digest.js'
import { S3BlobStore } from '../../src/storage/s3-blob-store.js'
import { clusterAvailable, startCluster, type ClusterNode } from '../support/cluster.js'
import {
  allBlobs, configBlob, errorBody, expectStatus, makeBlob, makeImage, MediaTypes, RegistryClient, request, runCli, sameContent, uniqueRepo, waitFor,
  type Blob, type GcReport, type HttpResponse, type ImageContent,
} from '../support/index.js'

const MiB = 1024 * 1024
const PASSWORD = 'failover-pg-secret-51c2'

const image = (layers: readonly Blob[]): ImageContent => makeImage(MediaTypes.ociManifest, configBlob(), layers)

/** `work` over `items`, `width` at a time. */
async function inParallel<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => { while (next < items.length) await work(items[next++]!) }))
}

/** GET of a blob from `base`: status, Docker-Content-Digest and every byte. */
async function expectBlob(t: Test, base: string, repo: string, blob: Blob, where: string): Promise<void> {
  const res = await request(base, `/v2/${repo}/blobs/${blob.digest}`, { timeoutMs: 60_000 })
  t.equal(res.status, 200, `${where}: GET of the ${blob.size}-byte blob`)
  t.equal(res.header('docker-content-digest'), blob.digest, `${where}: its digest`)
  t.ok(res.body.equals(blob.data), `${where}: byte for byte`)
}

if (clusterAvailable(t)) {
  const cluster = await startCluster(t, { nodes: 3, databasePassword: PASSWORD })
  if (cluster !== undefined) {
    const [n0, n1, n2] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode]
    const { rgw } = cluster
    const bucket = await S3BlobStore.open({ endpoint: rgw.endpoint, bucket: cluster.bucket, region: rgw.region, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, forcePathStyle: true })
    t.teardown(() => bucket.close())
    const lb = new RegistryClient(cluster.url, { timeoutMs: 60_000 })
    const logsOnFailure = async (t: Test): Promise<void> => { if (!t.passing()) t.comment(await cluster.logs()) }

    /** Whether some session holds the advisory lock of upload `id` (pg_locks shows the two int4 keys as oids). */
    const uploadLockHeld = async (id: string): Promise<boolean> => {
      const [row] = await cluster.postgres.query<{ n: string }>(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND classid::bigint = $1 AND objid::bigint = (hashtext($2)::bigint + 4294967296) % 4294967296 AND objsubid = 2`,
      [ADVISORY_LOCK_SPACES.lock, LockKeys.upload(id)], cluster.database.name)
      return Number(row?.n) > 0
    }

    await t.test('SIGKILL mid-upload: the other nodes continue the session from its acknowledged bytes', async (t) => {
      const repo = uniqueRepo('failover-upload')
      const big = makeBlob(13 * MiB + 5)
      const small = makeBlob(3000)
      const direct = new RegistryClient(n0.url, { timeoutMs: 60_000 })
      const bigUpload = await direct.startUpload(repo)
      const smallUpload = await direct.startUpload(repo)
      // On node 0: 3 MiB (a tail object), then 4 MiB (a full 5 MiB part and a 2 MiB tail); 1000 bytes of the small blob.
      expectStatus('PATCH 1 on node 0', await direct.patch(bigUpload.location, big.data.subarray(0, 3 * MiB), { contentRange: `0-${3 * MiB - 1}` }), 202)
      expectStatus('PATCH 2 on node 0', await direct.patch(bigUpload.location, big.data.subarray(3 * MiB, 7 * MiB), { contentRange: `${3 * MiB}-${7 * MiB - 1}` }), 202)
      expectStatus('small PATCH on node 0', await direct.patch(smallUpload.location, small.data.subarray(0, 1000), { contentRange: '0-999' }), 202)
      // A third chunk in flight when node 0 dies: 1 MiB of its 2 sent, the session's lock held by node 0's database session.
      const body = new PassThrough()
      const inFlight = request(n0.url, bigUpload.location, {
        method: 'PATCH', body, timeoutMs: 60_000,
        headers: { 'content-type': 'application/octet-stream', 'content-length': 2 * MiB, 'content-range': `${7 * MiB}-${9 * MiB - 1}` },
      }).catch((err: unknown) => err as Error)
      body.write(big.data.subarray(7 * MiB, 8 * MiB))
      await waitFor('node 0 to hold the upload lock for the chunk in flight', () => uploadLockHeld(bigUpload.uuid), 10_000)
      await n0.kill()
      body.destroy()
      t.ok((await inFlight) instanceof Error, 'the chunk in flight got no answer')
      await waitFor('the killed session\'s upload lock to be freed', async () => !await uploadLockHeld(bigUpload.uuid), 10_000)

      for (const [where, base] of [['the balancer', cluster.url], ['node 1', n1.url], ['node 2', n2.url]] as const) {
        const status = await request(base, bigUpload.location)
        t.equal(status.status, 204, `${where}: the session node 0 started is known`)
        t.equal(status.header('range'), `0-${7 * MiB - 1}`, `${where}: its acknowledged bytes, not the chunk in flight`)
      }
      expectStatus('PATCH 3 on node 1', await new RegistryClient(n1.url).patch(bigUpload.location, big.data.subarray(7 * MiB, 11 * MiB), { contentRange: `${7 * MiB}-${11 * MiB - 1}` }), 202)
      expectStatus('PATCH 4 on node 2', await new RegistryClient(n2.url).patch(bigUpload.location, big.data.subarray(11 * MiB), { contentRange: `${11 * MiB}-${big.size - 1}` }), 202)
      const closed = expectStatus('PUT ?digest= through the balancer', await lb.putUpload(bigUpload.location, big.digest), 201)
      t.equal(closed.header('docker-content-digest'), big.digest, 'the big blob is committed under its digest')

      t.equal((await lb.request(smallUpload.location)).header('range'), '0-999', 'the small session: its 1000 bytes')
      expectStatus('small PATCH through the balancer', await lb.patch(smallUpload.location, small.data.subarray(1000), { contentRange: `1000-${small.size - 1}` }), 202)
      expectStatus('small PUT ?digest= on node 1', await new RegistryClient(n1.url).putUpload(smallUpload.location, small.digest), 201)

      for (const blob of [big, small]) {
        for (const [where, base] of [['the balancer', cluster.url], ['node 1', n1.url], ['node 2', n2.url]] as const) await expectBlob(t, base, repo, blob, where)
      }
      await n0.start()
      for (const blob of [big, small]) await expectBlob(t, n0.url, repo, blob, 'node 0, restarted')
      await logsOnFailure(t)
    })

    await t.test('SIGKILL during a collection: the lease goes to another node, whose collection leaves the store consistent', async (t) => {
      const repos = Array.from({ length: 10 }, () => uniqueRepo('failover-gc'))
      const kept = [{ repo: repos[0]!, content: image([makeBlob(2 * MiB), makeBlob(700)]) }, { repo: repos[1]!, content: image([makeBlob(1500)]) }]
      for (const { repo, content } of kept) await lb.pushContent(repo, 'v1', content)
      const doomed = image([makeBlob(900)])
      await lb.pushContent(repos[0]!, 'doomed', doomed)
      expectStatus('DELETE of a manifest', await lb.deleteManifest(repos[0]!, doomed.manifest.digest), 202)
      // Unreferenced blobs in every repository: one batch of the collector (at most 256), whose
      // records go in one transaction and whose objects follow, 8 at a time.
      const garbage = Array.from({ length: 200 }, (_, i) => ({ repo: repos[i % repos.length]!, blob: makeBlob(256 + i) }))
      await inParallel(garbage, 8, async ({ repo, blob }) => { await lb.pushBlob(repo, blob) })
      const recordsLeft = async (): Promise<number> => Number((await cluster.postgres.query<{ n: string }>('SELECT count(*) AS n FROM blobs WHERE digest = ANY($1)',
        [garbage.map((g) => g.blob.digest)], cluster.database.name))[0]?.n)
      const objectsLeft = async (): Promise<number> => (await Promise.all(garbage.map(({ blob }) => bucket.blobSize(blob.digest as Digest)))).filter((size) => size !== undefined).length

      const collecting = request(n1.url, '/_wharf/v1/gc', { method: 'POST', timeoutMs: 120_000 }).catch((err: unknown) => err as Error)
      await waitFor('node 1 to be collecting', async () => (await request(n1.url, '/_wharf/v1/gc')).json<{ running: boolean }>().running, 10_000, 5)
      const refused = await request(n2.url, '/_wharf/v1/gc', { method: 'POST' })
      t.equal(refused.status, 409, 'node 2 is refused while node 1 holds the lease')
      t.equal(errorBody(refused)?.errors[0]?.code, 'UNAVAILABLE', refused.text())
      // Killed once the garbage's records are gone and its objects are being deleted: what such a crash leaves is objects without a record.
      await waitFor('node 1 to remove the garbage\'s records', async () => await recordsLeft() === 0, 30_000, 5)
      await n1.kill()
      const answer = await collecting
      t.ok(answer instanceof Error, `node 1 was killed before its collection finished${answer instanceof Error ? '' : ` (it answered ${(answer as HttpResponse).status})`}`)
      t.equal((await request(n2.url, '/_wharf/v1/gc')).json<{ lastReport: unknown }>().lastReport, null, 'no collection has finished')
      const orphans = await objectsLeft()
      t.ok(orphans > 0, `${orphans} of ${garbage.length} garbage objects are left without a record`)

      const report = await waitFor('a collection on node 2 (the dead session\'s lease freed)', async () => {
        const res = await request(n2.url, '/_wharf/v1/gc', { method: 'POST', timeoutMs: 120_000 })
        return res.status === 409 ? false : expectStatus('POST /_wharf/v1/gc on node 2', res, 200).json<GcReport>()
      }, 30_000, 100)
      t.ok(report.orphanFilesRemoved.length > 0, `node 2 removed ${report.orphanFilesRemoved.length} objects without a record (and ${report.blobsRemoved.length} blobs)`)

      let present = 0
      await inParallel([...garbage, ...[doomed.config, ...doomed.layers].map((blob) => ({ repo: repos[0]!, blob }))], 8, async ({ repo, blob }) => {
        if ((await lb.headBlob(repo, blob.digest)).status !== 404) present++
      })
      t.equal(present, 0, 'every garbage blob and the deleted image\'s blobs answer HEAD 404')
      t.equal((await lb.getManifest(repos[0]!, doomed.manifest.digest)).status, 404, 'the deleted manifest is gone')
      const inBucket: string[] = []
      for await (const digest of bucket.listBlobDigests()) inBucket.push(digest)
      const keptDigests = [...new Set(kept.flatMap(({ content }) => allBlobs(content).map((b) => b.digest)))]
      t.same(inBucket.sort(), keptDigests.sort(), 'the bucket holds exactly the blobs of the tagged images')
      const uploads: string[] = []
      for await (const id of bucket.listUploads()) uploads.push(id)
      t.same(uploads, [], 'and no upload objects')
      for (const { repo, content } of kept) {
        for (const base of [cluster.url, n2.url]) t.same(sameContent(await new RegistryClient(base).pullVerified(repo, 'v1'), content), [], `${repo}:v1 from ${base}, byte for byte`)
      }
      // fsck needs the nodes stopped (node-lock.test.ts).
      await Promise.all([n0.stop(), n2.stop()])
      const storage = await mkdtemp(path.join(tmpdir(), 'wharf-failover-fsck-'))
      t.teardown(() => rm(storage, { recursive: true, force: true }))
      const fsck = await runCli(['fsck', '--config', cluster.configFile, '--storage', storage], {}, { timeoutMs: 120_000 })
      t.equal(fsck.code, 0, `wharf fsck exits 0: ${fsck.stdout}${fsck.stderr}`)
      t.match(fsck.stdout, /^store is consistent$/m)

      await Promise.all([n0.start(), n1.start(), n2.start()])
      for (const { repo, content } of kept) t.same(sameContent(await new RegistryClient(n1.url).pullVerified(repo, 'v1'), content), [], `${repo}:v1 from node 1, restarted`)
      await logsOnFailure(t)
    })

    await t.test('PostgreSQL restarts under four pushers: clear errors meanwhile, every acknowledged push kept', async (t) => {
      const repo = uniqueRepo('failover-pg')
      type Phase = 'before' | 'restart' | 'after'
      let phase: Phase = 'before'
      let stop = false
      const acked: Array<{ tag: string; content: ImageContent; phase: Phase }> = []
      const failures: Array<{ res: HttpResponse; sent: Phase; answered: Phase }> = []
      const unanswered: string[] = []
      const pusher = async (p: number): Promise<void> => {
        const client = new RegistryClient(cluster.url, { timeoutMs: 60_000 })
        const succeeds = async (send: () => Promise<HttpResponse>): Promise<boolean> => {
          const sent = phase
          const res = await send()
          if (res.status !== 201) failures.push({ res, sent, answered: phase })
          return res.status === 201
        }
        for (let i = 0; !stop; i++) {
          const content = image([makeBlob(2048)])
          const started = phase
          try {
            if (await succeeds(() => client.postBlob(repo, content.config)) && await succeeds(() => client.postBlob(repo, content.layers[0]!))
              && await succeeds(() => client.putManifest(repo, `p${p}-${i}`, content.manifest))) acked.push({ tag: `p${p}-${i}`, content, phase: started })
          } catch (err) {
            unanswered.push(String(err))
          }
        }
      }
      const ackedIn = (p: Phase): number => acked.filter((a) => a.phase === p).length
      const pushers = Array.from({ length: 4 }, (_, p) => pusher(p))
      await waitFor('pushes before the restart', async () => ackedIn('before') >= 12, 30_000)
      phase = 'restart'
      await cluster.postgres.restart({
        whileDown: async () => {
          const res = await request(cluster.url, `/v2/${repo}/tags/list`)
          t.equal(res.status, 503, 'a request while the database is down: 503')
          t.equal(errorBody(res)?.errors[0]?.code, 'UNAVAILABLE', `in the distribution-spec error format: ${res.text()}`)
          await waitFor('pushes to meet the outage', async () => failures.length >= 8, 20_000)
          for (const [i, node] of cluster.nodes.entries()) {
            await waitFor(`node ${i} to report itself not ready`, async () => (await request(node.url, '/readyz')).status === 503, 10_000)
          }
          t.pass('every node\'s /readyz answers 503 meanwhile')
        },
      })
      for (const [i, node] of cluster.nodes.entries()) {
        await waitFor(`node ${i} ready again`, async () => (await request(node.url, '/readyz')).status === 200, 30_000, 100)
      }
      phase = 'after'
      await waitFor('pushes after the restart', async () => ackedIn('after') >= 12, 30_000)
      stop = true
      await Promise.all(pushers)

      t.same(unanswered, [], 'every request was answered')
      t.ok(failures.length >= 8, `${failures.length} pushes failed during the outage`)
      t.same(failures.filter((f) => f.answered === 'before' || f.sent === 'after').map((f) => f.res.describe()), [], 'none failed before the restart or once every node was ready')
      const unclear = failures.filter(({ res }) => res.status !== 503 || errorBody(res)?.errors[0]?.code !== 'UNAVAILABLE' || res.text().includes(PASSWORD))
      t.same(unclear.map((f) => f.res.describe()), [], 'each failure: 503, {"errors":[{"code":"UNAVAILABLE",message}]}, no password')
      t.comment(`acknowledged: ${ackedIn('before')} before, ${ackedIn('restart')} around, ${ackedIn('after')} after the restart`)
      for (const [i, node] of cluster.nodes.entries()) {
        const client = new RegistryClient(node.url, { timeoutMs: 60_000 })
        const lost: string[] = []
        await inParallel(acked, 4, async ({ tag, content }) => {
          const problems = await client.pullVerified(repo, tag).then((pulled) => sameContent(pulled, content), (err: unknown) => [String(err)])
          if (problems.length > 0) lost.push(`${tag}: ${problems.join('; ')}`)
        })
        t.same(lost, [], `node ${i}: all ${acked.length} acknowledged pushes pull byte for byte`)
      }
      t.notOk(cluster.nodes.some((node) => node.process!.logs.some((line) => line.includes(PASSWORD))), 'no node logged the password')
      await logsOnFailure(t)
    })

    await t.test('a tag moved or a manifest deleted on one node is what every node answers next, at once', async (t) => {
      const repo = uniqueRepo('failover-tags')
      const [c0, c1, c2] = [new RegistryClient(n0.url), new RegistryClient(n1.url), new RegistryClient(n2.url)]
      const [first, second] = [image([makeBlob(1200)]), image([makeBlob(1300)])]
      const served = async (client: RegistryClient, reference: string): Promise<string | number> => {
        const res = await client.getManifest(repo, reference)
        return res.status === 200 ? res.header('docker-content-digest')! : res.status
      }
      for (const content of [first, second]) {
        for (const blob of allBlobs(content)) await c0.pushBlob(repo, blob)
        await c0.pushManifest(repo, content.manifest.digest, content.manifest)
      }
      // Push on one node, pull on another right after the 201, as a pipeline behind the balancer
      // does: never the previous digest (a NOTIFY arrives too late for that; reads resolve tags
      // in the database).
      let stale = 0
      for (let round = 0; round < 40; round++) {
        const [pusher, reader] = round % 2 === 0 ? [c0, c1] : [c2, c0]
        const target = round % 3 === 0 ? second : first
        await pusher.pushManifest(repo, 'latest', target.manifest)
        if (await served(reader, 'latest') !== target.manifest.digest) stale++
      }
      t.equal(stale, 0, 'in 40 pushes of latest, the next read on another node answered the pushed digest every time')
      await cluster.postgres.query('UPDATE tags SET digest = $1 WHERE repo = $2 AND tag = $3', [second.manifest.digest, repo, 'latest'], cluster.database.name)
      t.equal(await served(c1, 'latest'), second.manifest.digest, 'a tag moved in the database is answered at once (no node keeps what a tag resolved to)')
      t.equal(await served(c0, second.manifest.digest), second.manifest.digest, 'the manifest by digest')
      expectStatus('DELETE on node 2', await c2.deleteManifest(repo, second.manifest.digest), 202)
      for (const [i, client] of [[0, c0], [1, c1]] as const) {
        t.equal(await served(client, 'latest'), 404, `node ${i} answers 404 for the deleted manifest's tag at once`)
        t.equal(await served(client, second.manifest.digest), 404, `node ${i} answers 404 for the deleted digest at once`)
      }
      t.equal(await served(c1, first.manifest.digest), first.manifest.digest, 'the other manifest is still served')
      await logsOnFailure(t)
    })
  }
}
