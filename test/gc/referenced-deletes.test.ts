import t from 'tap'
import { configBlob, descriptor, errorCodes, makeBlob, ociIndex, runCli, startGcServer } from '../support/index.js'

/**
 * A DELETE that would leave a stored manifest pointing at nothing is refused with 409 DENIED: a
 * manifest an index of the repository references, a blob a manifest of the repository references
 * (zot and GitLab's registry refuse the same). Delete the referencing manifest first.
 */
t.test('deleting a manifest an index references, or a blob a manifest references, is refused until the referrer is gone', async (t) => {
  const s = await startGcServer({ graceSeconds: 0 })
  t.teardown(() => s.stop(true))
  const c = s.client
  const config = configBlob()
  const layer = makeBlob(300)
  const child = (await c.pushImage('held/app', { tag: 'child', config, layers: [layer] })).manifest
  const index = ociIndex([descriptor(child, undefined, { platform: { os: 'linux', architecture: 'amd64' } })])
  await c.pushManifest('held/app', 'latest', index)

  const refused = await c.deleteManifest('held/app', child.digest)
  t.equal(refused.status, 409, 'manifest DELETE refused')
  const body = JSON.parse(refused.body.toString()) as { errors: Array<{ code: string; message: string; detail: { referencedBy: string[] } }> }
  t.equal(body.errors[0]?.code, 'DENIED')
  t.match(body.errors[0]?.message, /delete the index first/)
  t.same(body.errors[0]?.detail.referencedBy, [index.digest], 'names the index')

  const blobRefused = await c.deleteBlob('held/app', layer.digest)
  t.equal(blobRefused.status, 409, 'blob DELETE refused')
  t.equal(errorCodes(blobRefused)[0], 'DENIED')
  t.match(blobRefused.body.toString(), new RegExp(child.digest))

  // Nothing changed: the index pulls completely, and the store is consistent.
  t.equal((await c.getManifest('held/app', 'latest')).status, 200)
  t.equal((await c.getManifest('held/app', child.digest)).status, 200)
  t.ok(await c.blobIntact('held/app', layer.digest))

  // The order that works: the index, then the child, then the blob.
  t.equal((await c.deleteManifest('held/app', index.digest)).status, 202)
  t.equal((await c.deleteManifest('held/app', child.digest)).status, 202)
  t.equal((await c.deleteBlob('held/app', layer.digest)).status, 202)
  t.equal((await c.getBlob('held/app', layer.digest)).status, 404)
  t.same(c.serverErrorResponses, [])
  await s.stop()
  const fsck = await runCli(['fsck', '--storage', s.storage, '--json'])
  t.equal(fsck.code, 0, `wharf fsck finds nothing to report: ${fsck.stdout.slice(0, 400)}`)
})
