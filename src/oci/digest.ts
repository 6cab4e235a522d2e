import { createHash, type Hash } from 'node:crypto'
import { RegistryError } from '../errors/registry-error.js'

export type Digest = string & { readonly __brand: 'Digest' }
export type DigestAlgorithm = 'sha256' | 'sha512'

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 }
const DIGEST_PATTERN = /^(sha256|sha512):([a-f0-9]+)$/

/** Parses a digest this registry can verify; anything else is DIGEST_INVALID. */
export function parseDigest(input: string): Digest {
  const match = DIGEST_PATTERN.exec(input)
  if (match === null || match[2]!.length !== HEX_LENGTH[match[1] as DigestAlgorithm]) {
    throw new RegistryError('DIGEST_INVALID', { message: 'invalid digest', detail: { digest: input.slice(0, 200) } })
  }
  return input as Digest
}

export function isDigest(input: string): boolean {
  const match = DIGEST_PATTERN.exec(input)
  return match !== null && match[2]!.length === HEX_LENGTH[match[1] as DigestAlgorithm]
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1)
}

export interface Digester {
  readonly algorithm: DigestAlgorithm
  /** Bytes seen so far. */
  readonly bytes: number
  update(chunk: Uint8Array): void
  digest(): Digest
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Digester {
  const hash: Hash = createHash(algorithm)
  let bytes = 0
  return {
    algorithm,
    get bytes() { return bytes },
    update(chunk) { hash.update(chunk); bytes += chunk.byteLength },
    digest() { return `${algorithm}:${hash.digest('hex')}` as Digest },
  }
}

export function digestOf(data: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest
}

/** Feeds every chunk to the digesters on its way through, so streamed bytes are read once. */
export async function* hashing(source: AsyncIterable<Uint8Array>, ...digesters: Digester[]): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    for (const digester of digesters) digester.update(chunk)
    yield chunk
  }
}
