import { createHash, randomBytes, randomFillSync } from 'node:crypto'
import { digestOf, MediaTypes, type Blob } from '../test/support/index.js'

/**
 * Benchmark payloads. Random bytes are generated once into a pool; a big blob is a unique 32-byte
 * header followed by pool bytes from a blob-specific offset, streamed as zero-copy slices of the pool.
 * Small blobs, configs and manifests are test/support's content.
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

/** `count` unique random small blobs. */
export function makeSmallBlobs(count: number, size: number): Blob[] {
  const all = randomFillSync(Buffer.allocUnsafe(count * size))
  const blobs: Blob[] = []
  for (let i = 0; i < count; i++) {
    const data = all.subarray(i * size, (i + 1) * size)
    blobs.push({ data, digest: digestOf(data), size, mediaType: MediaTypes.ociLayerUncompressed })
  }
  return blobs
}
