import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { descriptor, errorCodes, makeBlob, MediaTypes, ociIndex, RegistryClient, startWharf, uniqueRepo } from '../support/index.js'

const storage = await mkdtemp(path.join(tmpdir(), 'wharf-restart-'))
t.teardown(() => rm(storage, { recursive: true, force: true }))

t.test('push, stop with SIGTERM, start on the same storage: everything is still there, sessions resume', async (t) => {
  const first = await startWharf({ storage })
  t.teardown(() => first.stop())
  const c1 = new RegistryClient(first.url)
  const repo = uniqueRepo('restart')
  const image = await c1.pushImage(repo, { tag: 'v1', layers: 2, layerSize: 50_000 })
  const sha512 = makeBlob(3000, 'sha512')
  await c1.pushBlob(repo, sha512)
  const index = ociIndex([descriptor(image.manifest, MediaTypes.ociManifest)])
  await c1.pushManifest(repo, 'multi', index)
  const mirror = uniqueRepo('restart')
  t.equal((await c1.request(`/v2/${mirror}/blobs/uploads/?mount=${image.layers[0]!.digest}&from=${repo}`, { method: 'POST' })).status, 201)

  // An upload session with bytes in it, one with none, one cancelled.
  const pending = makeBlob(200_000)
  const session = await c1.startUpload(repo)
  t.equal((await c1.patch(session.location, pending.data.subarray(0, 120_000), { contentRange: '0-119999' })).status, 202)
  const emptySession = await c1.startUpload(repo)
  const cancelled = await c1.startUpload(repo)
  await c1.delete(cancelled.location)

  await first.stop()
  t.equal(first.child.exitCode, 0, 'clean exit on SIGTERM')
  t.ok(first.logs.some((line) => line.includes('"stopped"') || line.includes('shutting down')), 'it said it was shutting down')

  const second = await startWharf({ storage })
  t.teardown(() => second.stop())
  const c2 = new RegistryClient(second.url)
  const get = await c2.get(`/v2/${repo}/manifests/v1`)
  t.equal(get.status, 200)
  t.ok(get.body.equals(image.manifest.body), 'manifest by tag')
  t.ok((await c2.get(`/v2/${repo}/manifests/multi`)).body.equals(index.body), 'index by tag')
  for (const blob of [image.config, ...image.layers, sha512]) {
    const res = await c2.get(`/v2/${repo}/blobs/${blob.digest}`)
    t.equal(res.status, 200)
    t.ok(res.body.equals(blob.data), `blob ${blob.digest.slice(0, 16)}`)
  }
  t.equal((await c2.head(`/v2/${mirror}/blobs/${image.layers[0]!.digest}`)).status, 200, 'mounted blob')
  t.same((await c2.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list`)).tags, ['multi', 'v1'])
  t.ok((await c2.getJson<{ repositories: string[] }>('/v2/_catalog')).repositories.includes(repo))

  const status = await c2.get(session.location)
  t.equal(status.status, 204, 'session survived the restart')
  t.equal(status.header('range'), '0-119999')
  const more = await c2.patch(session.location, pending.data.subarray(120_000, 150_000), { contentRange: '120000-149999' })
  t.equal(more.status, 202)
  t.equal(more.header('range'), '0-149999')
  const put = await c2.putUpload(session.location, pending.digest, pending.data.subarray(150_000))
  t.equal(put.status, 201, 'completed after the restart (hash state rebuilt from disk)')
  t.ok((await c2.get(`/v2/${repo}/blobs/${pending.digest}`)).body.equals(pending.data))

  const empty = makeBlob(777)
  t.equal((await c2.putUpload(emptySession.location, empty.digest, empty.data)).status, 201, 'the empty session too')
  const gone = await c2.get(cancelled.location)
  t.equal(gone.status, 404, 'a cancelled session stays cancelled')
  t.same(errorCodes(gone), ['BLOB_UPLOAD_UNKNOWN'])

  // A wrong digest after a restart is still caught by the re-hash.
  const s2 = await c2.startUpload(repo)
  await c2.patch(s2.location, Buffer.from('abc'), { contentRange: '0-2' })
  await second.stop()
  const third = await startWharf({ storage })
  t.teardown(() => third.stop())
  const c3 = new RegistryClient(third.url)
  const wrong = await c3.putUpload(s2.location, makeBlob('abd').digest)
  t.equal(wrong.status, 400)
  t.same(errorCodes(wrong), ['DIGEST_INVALID'])
  t.equal((await c3.get(`/v2/${repo}/manifests/v1`)).status, 200, 'and the third start serves everything too')
})
