import type { RequestContext } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import { createDigester, digestAlgorithm, hashing, type Digest } from '../oci/digest.js'
import type { RepoName } from '../oci/names.js'
import type { Registry } from '../registry/registry.js'

/** A file of the archive streamed into an upload session: hashed, not yet a blob of the repository. */
export interface StagedFile {
  readonly session: string
  readonly digest: Digest
  readonly size: number
  /** The first bytes, to tell compressed layers from plain tar. */
  readonly head: Uint8Array
}

const HEAD_BYTES = 8

/**
 * Archive files in upload sessions of the registry (src/registry/uploads.ts): streamed to disk and
 * hashed on the way, invisible to the repository until committed, removed by `discard`. Using
 * sessions keeps them safe from the upload purge and makes read-only mode refuse an import.
 */
export class Staging {
  private readonly registry: Registry
  private readonly ctx: RequestContext
  private readonly repo: RepoName
  private readonly sessions = new Set<string>()

  constructor(registry: Registry, ctx: RequestContext, repo: RepoName) {
    this.registry = registry
    this.ctx = ctx
    this.repo = repo
  }

  /** Streams `body` into a new session, hashed with `expected`'s algorithm (sha256 by default); the caller compares. */
  async stage(body: AsyncIterable<Uint8Array>, expected?: Digest): Promise<StagedFile> {
    const { id } = await this.registry.uploads.start(this.ctx, this.repo)
    this.sessions.add(id)
    const digester = createDigester(expected !== undefined ? digestAlgorithm(expected) : 'sha256')
    const head = new Uint8Array(HEAD_BYTES)
    let headLength = 0
    const remembered = async function* (): AsyncIterable<Uint8Array> {
      for await (const chunk of body) {
        if (headLength < HEAD_BYTES) {
          const part = chunk.subarray(0, HEAD_BYTES - headLength)
          head.set(part, headLength)
          headLength += part.byteLength
        }
        yield chunk
      }
    }
    const { size } = await this.registry.uploads.append(this.ctx, this.repo, id, hashing(remembered(), digester), {})
    return { session: id, digest: digester.digest(), size, head: head.subarray(0, headLength) }
  }

  /** The staged bytes, whole: only for manifests, whose size the caller has bounded. */
  async read(file: StagedFile): Promise<Buffer> {
    const parts: Buffer[] = []
    for await (const chunk of await this.registry.store.readUpload(file.session)) parts.push(chunk as Buffer)
    const bytes = Buffer.concat(parts)
    if (bytes.length !== file.size) throw new RegistryError('UNKNOWN', { message: 'staged archive file changed size' })
    return bytes
  }

  /** Makes the staged file the blob `digest` of the repository (the session ends). */
  async commit(file: StagedFile): Promise<void> {
    await this.registry.uploads.complete(this.ctx, this.repo, file.session, file.digest, undefined, {})
    this.sessions.delete(file.session)
  }

  /** Ends every session not committed; what fails to go is left to the upload purge. */
  async discard(): Promise<void> {
    const ids = [...this.sessions]
    this.sessions.clear()
    await Promise.all(ids.map(async (id) => {
      try {
        await this.registry.uploads.cancel(this.ctx, this.repo, id)
      } catch {
        // Already gone, or read-only mode refuses the cancel: the purge removes idle sessions.
      }
    }))
  }
}
