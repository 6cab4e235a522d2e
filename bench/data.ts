import { createHash, randomBytes, randomFillSync } from 'node:crypto'

/**
 * Benchmark payloads. Random bytes are generated once into a pool; a big blob is a unique 32-byte
 * header followed by pool bytes from a blob-specific offset, streamed as zero-copy slices of the pool.
 */

const POOL_SIZE = 64 * 1024 * 1024
let pool: Buffer | undefined

export function randomPool(): Buffer {
  if (pool === undefined) pool = randomFillSync(Buffer.allocUnsafe(POOL_SIZE))
  return pool
}

export interface BlobSpec {
  readonly header: Buffer
  readonly size: number
  readonly poolOffset: number
  digest: string
}

/** A unique blob of `size` bytes; its digest is computed by hashing the same stream (not timed). */
export function makeBlobSpec(size: number): BlobSpec {
  const header = randomBytes(Math.min(32, size))
  const spec: BlobSpec = { header, size, poolOffset: header.readUInt32LE(0) % POOL_SIZE, digest: '' }
  const hash = createHash('sha256')
  for (const chunk of blobChunks(spec, 0, size)) hash.update(chunk)
  spec.digest = `sha256:${hash.digest('hex')}`
  return spec
}

/** Yields the bytes [start, end) of a blob as slices of at most `maxChunk` bytes. */
export function* blobChunks(spec: BlobSpec, start: number, end: number, maxChunk = 1024 * 1024): Generator<Buffer> {
  const p = randomPool()
  let pos = start
  while (pos < end) {
    if (pos < spec.header.length) {
      const take = Math.min(end, spec.header.length) - pos
      yield spec.header.subarray(pos, pos + take)
      pos += take
      continue
    }
    const poolPos = (spec.poolOffset + pos - spec.header.length) % POOL_SIZE
    const take = Math.min(end - pos, maxChunk, POOL_SIZE - poolPos)
    yield p.subarray(poolPos, poolPos + take)
    pos += take
  }
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

export interface SmallBlob {
  readonly data: Buffer
  readonly digest: string
}

/** `count` unique random small blobs. */
export function makeSmallBlobs(count: number, size: number): SmallBlob[] {
  const all = randomFillSync(Buffer.allocUnsafe(count * size))
  const blobs: SmallBlob[] = []
  for (let i = 0; i < count; i++) {
    const data = all.subarray(i * size, (i + 1) * size)
    blobs.push({ data, digest: sha256(data) })
  }
  return blobs
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar'

export interface Descriptor { readonly mediaType: string; readonly digest: string; readonly size: number }

export interface BuiltManifest { readonly body: Buffer; readonly digest: string }

/** An OCI image manifest; `annotation` makes otherwise equal manifests distinct. */
export function buildManifest(config: Descriptor, layers: readonly Descriptor[], annotation?: string): BuiltManifest {
  const manifest: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }
  if (annotation !== undefined) manifest.annotations = { 'org.wharf.bench': annotation }
  const body = Buffer.from(JSON.stringify(manifest))
  return { body, digest: sha256(body) }
}

/** A small, unique image config blob. */
export function makeConfigBlob(label: string): SmallBlob {
  const data = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Labels: { 'org.wharf.bench': label } },
    rootfs: { type: 'layers', diff_ids: [] },
  }))
  return { data, digest: sha256(data) }
}
