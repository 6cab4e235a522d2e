/**
 * `wharf serve` with storage.driver s3 against a real radosgw (one Ceph for this file): push and
 * pull byte for byte, an upload continued across a restart, ranges, deletes, an online collection
 * that empties the bucket of what it removed, fsck, redirects to presigned URLs, and wrong keys.
 */
import { existsSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t, { type Test } from 'tap'
import { S3BlobStore } from '../../src/storage/s3-blob-store.js'
import { freeLowPort, radosgwForTest, type Radosgw } from '../support/radosgw.js'
import {
  configBlob, digestOf, expectStatus, makeBlob, makeImage, MediaTypes, RegistryClient, runCli, sameContent, startWharf, tempDir, uniqueRepo, writeConfig,
  type WharfProcess,
} from '../support/index.js'
import type { Digest } from '../../src/oci/digest.js'

const MiB = 1024 * 1024
const PREFIX = 'registry/'

const rgw = await radosgwForTest(t)
if (rgw !== undefined) await scenarios(rgw)

async function scenarios(rgw: Radosgw): Promise<void> {
  const dir = await tempDir('s3-storage')
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const bucket = await rgw.createBucket()
  const storage = path.join(dir, 'storage')
  // The secret comes from the environment only, as an operator keeps it out of the file.
  const secretEnv = { WHARF_STORAGE_S3_SECRETACCESSKEY: rgw.secretAccessKey }
  const configFile = await writeConfig(dir, {
    storage: {
      driver: 's3',
      s3: { endpoint: rgw.endpoint, bucket, region: rgw.region, accessKeyId: rgw.accessKeyId, forcePathStyle: true, prefix: PREFIX, partSize: 5 * MiB },
    },
    gc: { graceSeconds: 0, intervalSeconds: 0 },
  })
  /** A server on the data directory and bucket, stopped when `test` ends. */
  const serve = async (test: Test, env: Record<string, string> = {}): Promise<{ wharf: WharfProcess; client: RegistryClient }> => {
    const wharf = await startWharf({ storage, extraArgs: ['--config', configFile], env: { ...secretEnv, ...env }, timeoutMs: 30_000 })
    test.teardown(() => wharf.stop())
    return { wharf, client: new RegistryClient(wharf.url) }
  }
  // The test's own view of the bucket, to see what the server left there.
  const bucketView = await S3BlobStore.open({ endpoint: rgw.endpoint, bucket, region: rgw.region, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey, forcePathStyle: true, prefix: PREFIX })
  t.teardown(() => bucketView.close())

  const repo = uniqueRepo('s3')
  const config = configBlob()
  const monolithic = makeBlob(12 * MiB + 3)
  const chunked = makeBlob(11 * MiB + 17)
  const image = makeImage(MediaTypes.ociManifest, config, [monolithic, chunked])

  await t.test('push (monolithic and chunked) and pull byte for byte; ranges; nothing secret in the logs', async (t) => {
    const { wharf, client } = await serve(t)
    await client.pushBlob(repo, config)
    await client.pushBlobMonolithic(repo, monolithic)
    await client.pushBlobChunked(repo, chunked, 3 * MiB)
    await client.pushManifest(repo, 'v1', image.manifest)
    const pulled = await client.pullVerified(repo, 'v1')
    t.same(sameContent(pulled, image), [], 'every blob and manifest as pushed')
    for (const blob of [config, monolithic, chunked]) t.equal(await bucketView.blobSize(blob.digest as Digest), blob.size, `${blob.digest} is an object in the bucket`)

    const ranged = await client.getBlob(repo, monolithic.digest, { range: `bytes=${5 * MiB - 10}-${6 * MiB}` })
    t.equal(ranged.status, 206)
    t.ok(ranged.body.equals(monolithic.data.subarray(5 * MiB - 10, 6 * MiB + 1)), 'the range spans a part boundary, bytes as pushed')
    t.equal(ranged.header('content-range'), `bytes ${5 * MiB - 10}-${6 * MiB}/${monolithic.size}`)

    const listening = wharf.logs.find((line) => line.includes('wharf listening'))
    t.match(listening, `s3://${bucket}/${PREFIX} at ${rgw.endpoint}`, 'the start-up line names the bucket')
    t.notOk(wharf.logs.some((line) => line.includes(rgw.secretAccessKey)), 'the secret key is never logged')
  })

  await t.test('an upload started before a restart is continued and completed after it', async (t) => {
    const blob = makeBlob(9 * MiB + 5)
    const first = await serve(t)
    const { location } = await first.client.startUpload(repo)
    const cut = 6 * MiB + 1
    expectStatus('first PATCH', await first.client.patch(location, blob.data.subarray(0, cut), { contentRange: `0-${cut - 1}` }), 202)
    await first.wharf.stop()
    t.equal(first.wharf.child.exitCode, 0, 'clean stop')
    // What a killed server leaves: a part buffer that nothing will append to again.
    const stale = path.join(storage, 's3-buffers', 'wharf-s3-part-stale')
    await writeFile(stale, 'left by a killed server')

    const second = await serve(t)
    t.notOk(existsSync(stale), 'the start removed the stale part buffer')
    const status = await second.client.get(location)
    t.equal(status.status, 204, 'the session survived the restart')
    t.equal(status.header('range'), `0-${cut - 1}`, 'with the bytes it had')
    expectStatus('second PATCH', await second.client.patch(location, blob.data.subarray(cut), { contentRange: `${cut}-${blob.size - 1}` }), 202)
    expectStatus('PUT ?digest=', await second.client.putUpload(location, blob.digest), 201)
    const got = await second.client.getBlob(repo, blob.digest)
    t.equal(digestOf(got.body), blob.digest, 'the completed blob has the digest of all its bytes')

    // Deleted from the repository: unreferenced, so an online collection removes its object.
    t.equal((await second.client.deleteBlob(repo, blob.digest)).status, 202)
    t.equal((await second.client.headBlob(repo, blob.digest)).status, 404, 'gone from the repository at once')
    t.equal(await bucketView.blobSize(blob.digest as Digest), blob.size, 'the bytes stay until a collection')
    const report = await second.client.gc()
    t.same(report.blobsRemoved.map((b) => b.digest), [blob.digest], 'the collection removed only that blob')
    t.equal(await bucketView.blobSize(blob.digest as Digest), undefined, 'its object is gone from the bucket')
    t.equal(await second.client.blobIntact(repo, monolithic.digest), true, 'the image is untouched')
    await second.wharf.stop()

    const fsck = await runCli(['fsck', '--config', configFile, '--storage', storage], secretEnv, { timeoutMs: 60_000 })
    t.equal(fsck.code, 0, `fsck: ${fsck.stdout}${fsck.stderr}`)
    t.match(fsck.stdout, /store is consistent/)
    t.notMatch(`${fsck.stdout}${fsck.stderr}`, rgw.secretAccessKey)
  })

  await t.test('with redirect: GET answers 307 to a presigned URL of the bytes; HEAD and ranges are served', async (t) => {
    const { client } = await serve(t, { WHARF_STORAGE_S3_REDIRECT: 'true', WHARF_STORAGE_S3_REDIRECTEXPIRYSECONDS: '300' })
    const res = await client.getBlob(repo, monolithic.digest)
    t.equal(res.status, 307)
    t.equal(res.header('docker-content-digest'), monolithic.digest)
    const location = res.header('location') ?? ''
    t.match(location, `${rgw.endpoint}/${bucket}/${PREFIX}blobs/sha256/`, 'to the object in the bucket')
    t.match(location, 'X-Amz-Expires=300')
    t.notMatch(location, rgw.secretAccessKey)
    const fetched = Buffer.from(await (await fetch(location)).arrayBuffer())
    t.equal(digestOf(fetched), monolithic.digest, 'the presigned URL gives the blob without credentials')

    const head = await client.headBlob(repo, monolithic.digest)
    t.equal(head.status, 200)
    t.equal(head.header('docker-content-digest'), monolithic.digest)
    t.equal(Number(head.header('content-length')), monolithic.size)
    const ranged = await client.getBlob(repo, chunked.digest, { range: 'bytes=0-99' })
    t.equal(ranged.status, 206, 'ranged GETs are streamed')
    t.ok(ranged.body.equals(chunked.data.subarray(0, 100)))
    t.equal((await client.getBlob(uniqueRepo('other'), monolithic.digest)).status, 404, 'no redirect for a blob the repository does not hold')
  })

  await t.test('wrong keys: serve exits non-zero with one line that names the cause, not the secret', async (t) => {
    const wrongSecret = 'not-the-secret-0123456789'
    const run = await runCli(['serve', '--config', configFile, '--storage', path.join(dir, 'other'), '--port', '0'], { WHARF_STORAGE_S3_SECRETACCESSKEY: wrongSecret }, { timeoutMs: 60_000 })
    t.not(run.code, 0)
    const lines = run.stderr.trim().split('\n')
    t.equal(lines.length, 1, `one line: ${run.stderr}`)
    t.match(lines[0], /^wharf: cannot start: S3 HeadBucket of s3:\/\/\S+ failed: .*check the access key and secret key/)
    t.notMatch(run.stderr + run.stdout, wrongSecret)
    t.notMatch(run.stderr + run.stdout, rgw.secretAccessKey)
  })

  await t.test('an unreachable endpoint: serve exits non-zero with one line naming the refusal', async (t) => {
    const nobody = `http://127.0.0.1:${await freeLowPort()}`
    const run = await runCli(['serve', '--config', configFile, '--storage', path.join(dir, 'other'), '--port', '0'], { ...secretEnv, WHARF_STORAGE_S3_ENDPOINT: nobody }, { timeoutMs: 60_000 })
    t.not(run.code, 0)
    t.match(run.stderr, /^wharf: cannot start: S3 HeadBucket of s3:\/\/\S+ failed: ECONNREFUSED.*\n$/)
    t.notMatch(run.stderr + run.stdout, rgw.secretAccessKey)
  })
}
