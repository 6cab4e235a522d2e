// The data of a Wharf node on S3 (radosgw) and PostgreSQL, served by another node that has none of
// it on its own disk: what any node behind a balancer must be able to do. Node A pushes an image,
// starts a chunked upload and leaves a loose blob, then stops; node B, on an empty data directory
// with the same bucket and database, pulls the image byte for byte, finishes A's upload (its hash
// re-read from the bucket), and collects the loose blob from both the database and the bucket.
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { S3BlobStore } from '../../src/storage/s3-blob-store.js'
import { postgresAvailable, startPostgres } from '../support/postgres.js'
import { radosgwForTest } from '../support/radosgw.js'
import { configBlob, expectStatus, makeBlob, makeImage, MediaTypes, RegistryClient, request, sameContent, startWharf, uniqueRepo, writeConfig } from '../support/index.js'
import type { Digest } from '../../src/oci/digest.js'

const MiB = 1024 * 1024

const rgw = postgresAvailable(t) ? await radosgwForTest(t) : undefined
if (rgw !== undefined) {
  const postgres = await startPostgres(t)
  const database = await postgres.createDatabase()
  const bucket = await rgw.createBucket()
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-takeover-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const config = await writeConfig(dir, {
    storage: { driver: 's3', s3: { endpoint: rgw.endpoint, bucket, region: rgw.region, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, forcePathStyle: true, partSize: 5 * MiB } },
    metadata: { driver: 'postgres', postgres: { url: database.url } },
    gc: { graceSeconds: 0, intervalSeconds: 0 },
  })
  const bucketView = await S3BlobStore.open({ endpoint: rgw.endpoint, bucket, region: rgw.region, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, forcePathStyle: true })
  t.teardown(() => bucketView.close())

  const repo = uniqueRepo('takeover')
  const image = makeImage(MediaTypes.ociManifest, configBlob(), [makeBlob(7 * MiB + 5), makeBlob(300)])
  const pending = makeBlob(9 * MiB + 1)
  const loose = makeBlob(2048)
  let location = ''

  await t.test('node A pushes, starts an upload, leaves a loose blob, and stops', async (t) => {
    const a = await startWharf({ storage: path.join(dir, 'a'), extraArgs: ['--config', config], timeoutMs: 30_000 })
    try {
      const client = new RegistryClient(a.url)
      await client.pushContent(repo, 'v1', image)
      await client.pushBlob(repo, loose)
      location = (await client.startUpload(repo)).location
      expectStatus('PATCH on A', await client.patch(location, pending.data.subarray(0, 6 * MiB), { contentRange: `0-${6 * MiB - 1}` }), 202)
    } finally {
      await a.stop({ removeStorage: true })
    }
    t.notOk(existsSync(path.join(dir, 'a')), 'A is gone, its data directory removed')
  })

  await t.test('node B, on an empty data directory, serves all of it', async (t) => {
    const storageB = path.join(dir, 'b')
    const b = await startWharf({ storage: storageB, extraArgs: ['--config', config], timeoutMs: 30_000 })
    t.teardown(() => b.stop())
    const client = new RegistryClient(b.url)
    t.same(sameContent(await client.pullVerified(repo, 'v1'), image), [], 'the image, byte for byte')
    const status = await client.request(location)
    t.equal(status.header('range'), `0-${6 * MiB - 1}`, 'A\'s upload session, with the bytes A took')
    const patched = expectStatus('PATCH on B', await client.patch(location, pending.data.subarray(6 * MiB), { contentRange: `${6 * MiB}-${pending.size - 1}` }), 202)
    expectStatus('PUT ?digest= on B', await client.putUpload(patched.header('location')!, pending.digest), 201)
    const pulled = await client.request(`/v2/${repo}/blobs/${pending.digest}`, { hashBody: 'sha256' })
    t.equal(pulled.bodyDigest, pending.digest, 'the blob A started and B finished')
    t.equal(await bucketView.blobSize(loose.digest as Digest), loose.size, 'the loose blob is in the bucket')
    t.equal((await request(b.url, '/_wharf/v1/gc', { method: 'POST' })).status, 200, 'online collection on B')
    t.equal((await client.request(`/v2/${repo}/blobs/${loose.digest}`, { method: 'HEAD' })).status, 404, 'the loose blob is gone')
    t.equal(await bucketView.blobSize(loose.digest as Digest), undefined, 'and its object')
    t.equal(await bucketView.blobSize(pending.digest as Digest), undefined, 'the blob B finished is unreferenced: collected too')
    t.same(sameContent(await client.pullVerified(repo, 'v1'), image), [], 'the tagged image is kept')
    t.notOk((await readdir(storageB)).includes('blobs'), 'nothing of the data on B\'s disk')
  })
}
