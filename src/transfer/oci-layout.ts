import { digestAlgorithm, digestHex, type Digest } from '../oci/digest.js'

/** Where a blob lives in an OCI image layout (and in a `docker save` archive from Docker 25 on). */
export function blobPath(digest: Digest): string {
  return `blobs/${digestAlgorithm(digest)}/${digestHex(digest)}`
}

/** An in-memory file of an archive (oci-layout, index.json, manifest.json, repositories). */
export interface SmallFile {
  readonly name: string
  readonly data: Buffer
}

/** JSON as an archive holds it: compact, keys in the order given, so that exports are byte-identical. */
export function jsonFile(name: string, value: unknown): SmallFile {
  return { name, data: Buffer.from(JSON.stringify(value), 'utf8') }
}
