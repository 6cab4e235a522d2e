/**
 * Storage faults (issue #5): ENOSPC, EIO, failed rename, failure after the rename and a slow disk
 * are injected under an in-process registry (FaultyBlobStore, faulty metadata); a real ENOSPC comes
 * from a small tmpfs. Every fault must give the client a 5xx in the spec's JSON format (UNKNOWN 500
 * or UNAVAILABLE 503) that reveals nothing internal, leave the store consistent, and service must
 * resume once the fault clears.
 */
import { execFileSync } from 'node:child_process'
import { open, rm, statfs, unlink } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import type { MetadataMaintenance, MetadataStore } from '../../src/metadata/metadata-store.js'
import type { Digest } from '../../src/oci/digest.js'
import type { ByteRange } from '../../src/oci/range.js'
import { checkStore } from '../../src/registry/fsck.js'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { descriptor, errorBody, makeBlob, MediaTypes, ociManifest, request, sleep, startWharf, tempDir, withQuery, writeConfig, type HttpResponse } from '../support/index.js'
import { fsckCli, harmfulProblems, type InProcessRegistry, leaks, printFigures, startInProcess } from './harness.js'

function fault(code: string): Error {
  return Object.assign(new Error(`${code}: injected fault, /secret/storage/path`), { code })
}

/** A BlobStore that fails on demand; each fault fires once unless `sticky`. */
class FaultyBlobStore implements BlobStore {
  readonly inner: BlobStore
  appendFault: { code: string; afterBytes: number } | undefined
  createFault: string | undefined
  commitFault: string | undefined
  commitAfterRenameFault: string | undefined
  readFault: string | undefined
  slowChunkMs = 0
  injected = 0

  constructor(inner: BlobStore) { this.inner = inner }

  async createUpload(id: string): Promise<void> {
    if (this.createFault !== undefined) { const code = this.createFault; this.createFault = undefined; this.injected++; throw fault(code) }
    return this.inner.createUpload(id)
  }

  appendUpload(id: string, source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<number> {
    return this.inner.appendUpload(id, this.faulty(source), signal)
  }

  async writeUpload(id: string, source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<number> {
    if (this.createFault !== undefined) { const code = this.createFault; this.createFault = undefined; this.injected++; throw fault(code) }
    return this.inner.writeUpload(id, this.faulty(source), signal)
  }

  /** `source`, failing after the planned bytes when an append fault is set. */
  private faulty(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    const self = this
    const planned = this.appendFault
    this.appendFault = undefined
    async function* wrapped(): AsyncIterable<Uint8Array> {
      let seen = 0
      for await (const chunk of source) {
        if (self.slowChunkMs > 0) await sleep(self.slowChunkMs)
        if (planned !== undefined && seen + chunk.byteLength > planned.afterBytes) {
          const keep = planned.afterBytes - seen
          if (keep > 0) yield chunk.subarray(0, keep)
          self.injected++
          throw fault(planned.code)
        }
        seen += chunk.byteLength
        yield chunk
      }
    }
    return wrapped()
  }

  uploadSize(id: string): Promise<number | undefined> { return this.inner.uploadSize(id) }
  readUpload(id: string): Promise<Readable> { return this.inner.readUpload(id) }

  async commitUpload(id: string, digest: Digest): Promise<void> {
    if (this.commitFault !== undefined) { const code = this.commitFault; this.commitFault = undefined; this.injected++; throw fault(code) }
    await this.inner.commitUpload(id, digest)
    if (this.commitAfterRenameFault !== undefined) { const code = this.commitAfterRenameFault; this.commitAfterRenameFault = undefined; this.injected++; throw fault(code) }
  }

  deleteUpload(id: string): Promise<void> { return this.inner.deleteUpload(id) }
  listUploads(): AsyncIterable<string> { return this.inner.listUploads() }
  blobSize(digest: Digest): Promise<number | undefined> { return this.inner.blobSize(digest) }

  async readBlob(digest: Digest, range?: ByteRange): Promise<Readable> {
    if (this.readFault !== undefined) { const code = this.readFault; this.readFault = undefined; this.injected++; throw fault(code) }
    return this.inner.readBlob(digest, range)
  }

  deleteBlob(digest: Digest): Promise<void> { return this.inner.deleteBlob(digest) }
  listBlobs(): AsyncIterable<{ readonly digest: Digest; readonly size: number; readonly modifiedAt: Date }> { return this.inner.listBlobs() }
  listBlobDigests(): AsyncIterable<Digest> { return this.inner.listBlobDigests() }
  blobInfo(digest: Digest): Promise<{ readonly size: number; readonly modifiedAt: Date } | undefined> { return this.inner.blobInfo(digest) }
  close(): Promise<void> { return this.inner.close() }
}

/** Metadata whose next call of a method rejects as SQLite does on a full or failing disk. */
function faultyMetadata<M extends MetadataStore & MetadataMaintenance>(inner: M, faults: Map<string, string>, counter: { injected: number }): M {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        const code = faults.get(String(property))
        if (code !== undefined) {
          faults.delete(String(property))
          counter.injected++
          return Promise.reject(Object.assign(new Error(`${code}: disk I/O error in INSERT INTO manifests`), { code }))
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
}

let faultsInjected = 0
let fiveHundreds = 0

/** The response is a clean 5xx: UNKNOWN 500 or UNAVAILABLE 503, spec JSON, nothing internal. */
function assertCleanFault(t: Test, res: HttpResponse, storage: string, what: string): void {
  fiveHundreds++
  t.ok(res.status === 500 || res.status === 503, `${what}: 5xx (${res.status} ${res.text().slice(0, 200)})`)
  const body = errorBody(res)
  t.ok(body !== undefined, `${what}: spec error body`)
  const code = body?.errors[0]?.code
  t.ok(code === 'UNKNOWN' || code === 'UNAVAILABLE', `${what}: code ${code}`)
  t.equal(res.status === 503 ? 'UNAVAILABLE' : 'UNKNOWN', code, `${what}: code matches status`)
  t.same(leaks(res.text(), storage).concat(res.text().includes('/secret/') ? ['fault message'] : []), [], `${what}: reveals nothing`)
}

async function consistent(t: Test, wharf: InProcessRegistry, store: FaultyBlobStore, what: string): Promise<void> {
  const report = await checkStore(wharf.registry.metadata, store.inner, { repair: false })
  t.same(harmfulProblems(report), [], `${what}: store consistent`)
}

t.test('injected storage faults', async (t) => {
  const storage = await tempDir('faults')
  let store!: FaultyBlobStore
  const metaFaults = new Map<string, string>()
  const counter = { injected: 0 }
  const wharf = await startInProcess({
    storage,
    wrapStore: (inner) => (store = new FaultyBlobStore(inner)),
    wrapMetadata: (inner) => faultyMetadata(inner, metaFaults, counter),
  })
  t.teardown(async () => { await wharf.close(); await rm(storage, { recursive: true, force: true }) })
  const repo = 'faults/repo'
  const url = wharf.base

  const monolithic = (b: ReturnType<typeof makeBlob>): Promise<HttpResponse> =>
    request(url, `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.data })

  await t.test('ENOSPC and EIO while a monolithic upload streams', async (t) => {
    for (const code of ['ENOSPC', 'EIO', 'EDQUOT']) {
      const blob = makeBlob(300_000)
      store.appendFault = { code, afterBytes: 100_000 }
      assertCleanFault(t, await monolithic(blob), storage, `${code} mid-upload`)
      t.equal((await request(url, `/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' })).status, 404, 'nothing half-written is visible')
      await consistent(t, wharf, store, code)
      t.equal((await monolithic(blob)).status, 201, `${code}: the same push succeeds once the fault clears`)
      t.equal((await request(url, `/v2/${repo}/blobs/${blob.digest}`, { hashBody: 'sha256' })).bodyDigest, blob.digest)
    }
  })

  await t.test('ENOSPC in a PATCH: the session keeps what was written and resumes', async (t) => {
    const blob = makeBlob(400_000)
    const start = await request(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
    store.appendFault = { code: 'ENOSPC', afterBytes: 150_000 }
    const res = await request(url, start.header('location')!, { method: 'PATCH', body: blob.data, headers: { 'content-range': `0-${blob.size - 1}` } })
    assertCleanFault(t, res, storage, 'ENOSPC in PATCH')
    const status = await request(url, start.header('location')!)
    t.equal(status.status, 204, 'the session survives')
    const id = start.header('docker-upload-uuid')!
    const offset = status.header('range') === '0-0' ? (await store.inner.uploadSize(id))! : Number(status.header('range')!.split('-')[1]) + 1
    t.ok(offset <= 150_000, `the server reports what it holds (${offset} bytes)`)
    await consistent(t, wharf, store, 'PATCH ENOSPC')
    const rest = await request(url, status.header('location')!, { method: 'PATCH', body: blob.data.subarray(offset), headers: { 'content-range': `${offset}-${blob.size - 1}` } })
    t.equal(rest.status, 202, `resumed from the reported offset: ${rest.status} ${rest.text()}`)
    const put = await request(url, withQuery(rest.header('location')!, { digest: blob.digest }), { method: 'PUT', headers: { 'content-length': 0 } })
    t.equal(put.status, 201, 'and completed with the right digest')
  })

  await t.test('failed rename at commit: the session stays and the retry succeeds', async (t) => {
    for (const code of ['EIO', 'EXDEV', 'ENOSPC']) {
      const blob = makeBlob(80_000)
      const start = await request(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
      const patch = await request(url, start.header('location')!, { method: 'PATCH', body: blob.data })
      t.equal(patch.status, 202)
      store.commitFault = code
      const done = withQuery(patch.header('location')!, { digest: blob.digest })
      assertCleanFault(t, await request(url, done, { method: 'PUT', headers: { 'content-length': 0 } }), storage, `rename ${code}`)
      t.equal((await request(url, `/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' })).status, 404, 'not visible')
      await consistent(t, wharf, store, `rename ${code}`)
      const retry = await request(url, done, { method: 'PUT', headers: { 'content-length': 0 } })
      t.equal(retry.status, 201, `rename ${code}: retrying the PUT completes the same session`)
      t.equal((await request(url, `/v2/${repo}/blobs/${blob.digest}`, { hashBody: 'sha256' })).bodyDigest, blob.digest)
    }
  })

  await t.test('failure after the rename (directory fsync): orphan file at worst, re-push works', async (t) => {
    const blob = makeBlob(60_000)
    store.commitAfterRenameFault = 'EIO'
    assertCleanFault(t, await monolithic(blob), storage, 'EIO after rename')
    t.equal((await request(url, `/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' })).status, 404, 'not acknowledged, not visible')
    await consistent(t, wharf, store, 'after rename')
    t.equal((await monolithic(blob)).status, 201, 're-push succeeds')
    t.equal((await request(url, `/v2/${repo}/blobs/${blob.digest}`, { hashBody: 'sha256' })).bodyDigest, blob.digest)
  })

  await t.test('ENOSPC creating an upload; EIO reading a blob', async (t) => {
    store.createFault = 'ENOSPC'
    assertCleanFault(t, await request(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' }), storage, 'create ENOSPC')
    t.equal((await request(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })).status, 202, 'next POST works')
    const blob = makeBlob(10_000)
    t.equal((await monolithic(blob)).status, 201)
    store.readFault = 'EIO'
    assertCleanFault(t, await request(url, `/v2/${repo}/blobs/${blob.digest}`), storage, 'read EIO')
    t.equal((await request(url, `/v2/${repo}/blobs/${blob.digest}`, { hashBody: 'sha256' })).bodyDigest, blob.digest, 'reads resume')
  })

  await t.test('metadata write failures (SQLITE_FULL, SQLITE_IOERR) during blob record and manifest PUT', async (t) => {
    const config = makeBlob('{"os":"linux","architecture":"amd64"}')
    const layer = makeBlob(20_000)
    metaFaults.set('recordBlob', 'SQLITE_FULL')
    assertCleanFault(t, await monolithic(config), storage, 'recordBlob SQLITE_FULL')
    t.equal((await request(url, `/v2/${repo}/blobs/${config.digest}`, { method: 'HEAD' })).status, 404, 'not recorded, not visible')
    await consistent(t, wharf, store, 'recordBlob SQLITE_FULL')
    t.equal((await monolithic(config)).status, 201)
    t.equal((await monolithic(layer)).status, 201)
    const manifest = ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: [descriptor(layer)] })
    for (const code of ['SQLITE_IOERR', 'SQLITE_FULL']) {
      metaFaults.set('putManifest', code)
      const res = await request(url, `/v2/${repo}/manifests/v1`, { method: 'PUT', body: manifest.body, headers: { 'content-type': MediaTypes.ociManifest } })
      assertCleanFault(t, res, storage, `manifest PUT ${code}`)
      t.equal((await request(url, `/v2/${repo}/manifests/v1`)).status, 404, 'the tag did not move')
    }
    await consistent(t, wharf, store, 'manifest PUT')
    const ok = await request(url, `/v2/${repo}/manifests/v1`, { method: 'PUT', body: manifest.body, headers: { 'content-type': MediaTypes.ociManifest } })
    t.equal(ok.status, 201, 'manifest PUT works once the fault clears')
    t.same((await request(url, `/v2/${repo}/manifests/v1`)).body, manifest.body)
  })

  await t.test('a slow disk slows its own upload, not other clients', async (t) => {
    store.slowChunkMs = 150
    const blob = makeBlob(1_000_000)
    const slow = monolithic(blob)
    await sleep(100)
    const latencies: number[] = []
    for (let i = 0; i < 20; i++) {
      const started = performance.now()
      const res = await request(url, '/v2/')
      latencies.push(performance.now() - started)
      t.equal(res.status, 200)
    }
    store.slowChunkMs = 0
    t.equal((await slow).status, 201, 'the slow upload completes')
    const worst = Math.max(...latencies)
    t.ok(worst < 250, `fast client's worst latency ${worst.toFixed(1)} ms while the disk stalls`)
  })

  faultsInjected += store.injected + counter.injected
  t.equal(await consistentCount(wharf, store), 0, 'store consistent at the end')
})

async function consistentCount(wharf: InProcessRegistry, store: FaultyBlobStore): Promise<number> {
  return harmfulProblems(await checkStore(wharf.registry.metadata, store.inner, { repair: false })).length
}

t.test('real ENOSPC on a full tmpfs', async (t) => {
  const dir = await tempDir('tmpfs')
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' })
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    const reason = `cannot mount a tmpfs: ${(err as Error).message.split('\n')[0]}`
    if (process.env.CI === 'true') { t.fail(reason); return }
    await t.test('real ENOSPC', { skip: reason }, async () => undefined)
    return
  }
  t.teardown(async () => {
    try { execFileSync('umount', ['-l', dir]) } catch { /* already gone */ }
    await rm(dir, { recursive: true, force: true })
  })
  const storage = path.join(dir, 'storage')
  const config = await writeConfig(path.join(dir, '..', `${path.basename(dir)}-cfg`), { gc: { intervalSeconds: 0 } })
  const server = await startWharf({ storage, extraArgs: ['--config', config] })
  t.teardown(() => server.stop())
  const repo = 'tmpfs/repo'
  const url = server.url
  const small = makeBlob(20_000)
  t.equal((await request(url, `/v2/${repo}/blobs/uploads/?digest=${small.digest}`, { method: 'POST', body: small.data })).status, 201)

  // Fill the disk, leaving ~512 KiB: less than one 1 MiB write batch of the blob store.
  const filler = path.join(dir, 'filler')
  const { bavail, bsize } = await statfs(dir)
  const handle = await open(filler, 'w')
  try {
    const block = Buffer.alloc(64 * 1024, 1)
    for (let left = bavail * bsize - 512 * 1024; left > 0; left -= block.length) await handle.write(block)
  } catch { /* full already */ } finally { await handle.close() }

  // The body arrives in two parts with a pause: the failing disk write completes while the server
  // waits for the network, which is when an unobserved rejection would take the process down.
  const paced = (data: Buffer): Readable => Readable.from((async function* () {
    yield data.subarray(0, 1_200_000)
    await sleep(600)
    yield data.subarray(1_200_000)
  })())
  const alive = (what: string): boolean => {
    const ok = server.child.exitCode === null && server.child.signalCode === null
    t.ok(ok, `the server survived ${what}`)
    if (!ok) t.comment(`server died (exit ${server.child.exitCode}): ${server.logs.slice(-16).join('\n')}`)
    return ok
  }

  const big = makeBlob(2 << 20)
  const res = await request(url, `/v2/${repo}/blobs/uploads/?digest=${big.digest}`, {
    method: 'POST', body: paced(big.data), headers: { 'content-length': big.size },
  }).catch((err: Error) => err)
  await sleep(300)
  faultsInjected++
  if (!alive('ENOSPC in a monolithic upload')) return
  if (res instanceof Error) t.fail(`no response to the upload that filled the disk: ${res.message}`)
  else assertCleanFault(t, res, storage, 'real ENOSPC')

  const start = await request(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' }).catch((err: Error) => err)
  if (!(start instanceof Error) && start.status === 202) {
    const patch = await request(url, start.header('location')!, {
      method: 'PATCH', body: paced(big.data), headers: { 'content-length': big.size },
    }).catch((err: Error) => err)
    await sleep(300)
    faultsInjected++
    if (!alive('ENOSPC in a PATCH')) return
    if (patch instanceof Error) t.fail(`no response to the PATCH that filled the disk: ${patch.message}`)
    else assertCleanFault(t, patch, storage, 'real ENOSPC in PATCH')
  } else if (!(start instanceof Error)) {
    assertCleanFault(t, start, storage, 'POST on a full disk')
  }

  t.equal((await request(url, `/v2/${repo}/blobs/${small.digest}`, { hashBody: 'sha256' })).bodyDigest, small.digest, 'reads still work on a full disk')
  await unlink(filler)
  const retry = await request(url, `/v2/${repo}/blobs/uploads/?digest=${big.digest}`, { method: 'POST', body: big.data })
  t.equal(retry.status, 201, 'service resumes once space is freed')
  t.equal((await request(url, `/v2/${repo}/blobs/${big.digest}`, { hashBody: 'sha256' })).bodyDigest, big.digest)
  await server.stop()
  const fsck = await fsckCli(storage)
  t.same(harmfulProblems(fsck.report), [], 'fsck: consistent after the full disk')
})

t.teardown(() => { printFigures('faults', { faultsInjected, fiveXxFromFaults: fiveHundreds }) })
