/**
 * `wharf fsck [--repair] [--json]`: damage a store in every way fsck knows (corrupt blob, missing
 * blob, orphan blob file, orphan upload file) and check detection, exit codes, repair, and that a
 * repaired store serves what is left and takes new pushes.
 */
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { blobPath, makeBlob, request, runCli, startWharf, tempDir } from '../support/index.js'
import { fsckCli, printFigures } from './harness.js'

t.test('fsck detects corrupt, missing and orphan data and --repair makes the store consistent', async (t) => {
  const storage = await tempDir('fsck')
  t.teardown(() => rm(storage, { recursive: true, force: true }))
  const server = await startWharf({ storage })
  const repo = 'fsck/repo'
  const blobs = [makeBlob(4000), makeBlob(5000), makeBlob(6000), makeBlob(7000)]
  for (const b of blobs) t.equal((await request(server.url, `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.data })).status, 201)
  const running = await runCli(['fsck', '--storage', storage, '--json'])
  t.equal(running.code, 1, 'fsck refuses a storage a live server uses (the store is in use: exit 1, not a usage error)')
  t.match(running.stderr, /is in use by another wharf process \(wharf serve, pid \d+ .*\); stop the server before fsck/)
  await server.stop()

  const clean = await fsckCli(storage)
  t.equal(clean.code, 0, 'a clean store: exit 0')
  t.equal(clean.report.ok, true)

  const [corrupt, truncated, missing, kept] = blobs as [typeof blobs[0], typeof blobs[0], typeof blobs[0], typeof blobs[0]]
  // Same size, different bytes: only a re-hash finds it.
  const flipped = Buffer.from(corrupt.data)
  flipped[100] = flipped[100]! ^ 0xff
  await writeFile(blobPath(storage, corrupt.digest), flipped)
  await appendFile(blobPath(storage, truncated.digest), 'extra')
  await rm(blobPath(storage, missing.digest))
  const orphan = makeBlob(3000)
  await mkdir(path.dirname(blobPath(storage, orphan.digest)), { recursive: true })
  await writeFile(blobPath(storage, orphan.digest), orphan.data)
  await writeFile(path.join(storage, 'uploads', 'stray-upload-file'), 'partial')

  const found = await fsckCli(storage)
  t.equal(found.code, 1, 'problems: exit 1')
  t.equal(found.report.ok, false)
  t.same(found.report.corruptBlobs.map((c) => c.digest).sort(), [corrupt.digest, truncated.digest].sort(), 'both corrupt blobs')
  t.match(found.report.corruptBlobs.find((c) => c.digest === corrupt.digest)?.reason, /hashes to/)
  t.match(found.report.corruptBlobs.find((c) => c.digest === truncated.digest)?.reason, /size/)
  t.same(found.report.missingBlobs, [missing.digest], 'the missing blob')
  t.same(found.report.orphanFiles, [orphan.digest], 'the orphan file')
  t.equal(found.report.uploadFilesWithoutSession, 1, 'the stray upload file')
  t.equal(found.report.repaired, false)

  const text = await runCli(['fsck', '--storage', storage])
  t.equal(text.code, 1)
  t.match(text.stdout, /corrupt blobs: 2/)

  const repaired = await fsckCli(storage, { repair: true })
  t.equal(repaired.report.repaired, true)
  const after = await fsckCli(storage)
  t.equal(after.code, 0, `consistent after --repair: ${JSON.stringify(after.report)}`)

  const again = await startWharf({ storage })
  t.teardown(() => again.stop())
  for (const gone of [corrupt, truncated, missing]) {
    t.equal((await request(again.url, `/v2/${repo}/blobs/${gone.digest}`, { method: 'HEAD' })).status, 404, 'a repaired blob is unknown, not served wrong')
  }
  const get = await request(again.url, `/v2/${repo}/blobs/${kept.digest}`, { hashBody: 'sha256' })
  t.equal(get.bodyDigest, kept.digest, 'the intact blob is still served')
  t.equal((await request(again.url, `/v2/${repo}/blobs/uploads/?digest=${corrupt.digest}`, { method: 'POST', body: corrupt.data })).status, 201, 're-push of a repaired blob')
  t.equal((await request(again.url, `/v2/${repo}/blobs/${corrupt.digest}`, { hashBody: 'sha256' })).bodyDigest, corrupt.digest)
  printFigures('fsck', { damageKinds: 5, detected: 5 })
})
