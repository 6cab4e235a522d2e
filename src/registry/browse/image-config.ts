import type { Digest } from '../../oci/digest.js'
import type { BlobStore } from '../../storage/blob-store.js'
import type { ImageConfigSummary, Platform } from '../browse-types.js'
import { isObject } from './manifest-kind.js'

/** Configs are a few KiB; one larger than this is not read (a summary is not worth MiBs of memory). */
export const CONFIG_MAX_BYTES = 4 * 1024 * 1024
/** Summaries kept in memory: configs never change (content-addressed), so they never go stale. */
const CACHE_ENTRIES = 4096

/**
 * Image configs as the UI shows them, read from the blob store at most CONFIG_MAX_BYTES at a time
 * and remembered by digest (least recently used dropped first).
 */
export class ImageConfigReader {
  private readonly store: BlobStore
  private readonly cache = new Map<string, ImageConfigSummary | null>()

  constructor(store: BlobStore) {
    this.store = store
  }

  /** Undefined when the blob is missing (a pull-through cache not filled yet), too large, or not an image config's JSON. */
  async summary(digest: Digest, size: number): Promise<ImageConfigSummary | undefined> {
    const cached = this.cache.get(digest)
    if (cached !== undefined) {
      this.cache.delete(digest)
      this.cache.set(digest, cached)
      return cached ?? undefined
    }
    const text = size <= CONFIG_MAX_BYTES ? await this.read(digest) : undefined
    const summary = text === undefined ? null : summarizeConfig(digest, text) ?? null
    // A missing blob may arrive later (a proxied one): only what was read is remembered.
    if (text !== undefined || size > CONFIG_MAX_BYTES) this.remember(digest, summary)
    return summary ?? undefined
  }

  private remember(digest: string, summary: ImageConfigSummary | null): void {
    this.cache.set(digest, summary)
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!)
  }

  private async read(digest: Digest): Promise<string | undefined> {
    let stream
    try {
      stream = await this.store.readBlob(digest)
    } catch {
      return undefined
    }
    const chunks: Buffer[] = []
    let total = 0
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        total += chunk.length
        if (total > CONFIG_MAX_BYTES) return undefined
        chunks.push(chunk)
      }
    } catch {
      return undefined
    } finally {
      stream.destroy()
    }
    return Buffer.concat(chunks).toString('utf8')
  }
}

export function platformOfConfig(config: ImageConfigSummary | undefined): Platform | undefined {
  if (config?.os === undefined || config.architecture === undefined) return undefined
  return { os: config.os, architecture: config.architecture, ...(config.variant !== undefined ? { variant: config.variant } : {}) }
}

/** The parts of an image config (image-spec config.md) a person looks at; undefined when it is not one. */
export function summarizeConfig(digest: Digest, text: string): ImageConfigSummary | undefined {
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isObject(document)) return undefined
  const run = isObject(document.config) ? document.config : {}
  const history = Array.isArray(document.history) ? document.history.filter(isObject).map((h) => pick({
    created: str(h.created), createdBy: str(h.created_by), comment: str(h.comment), emptyLayer: h.empty_layer === true ? true : undefined,
  })) : undefined
  return pick({
    digest,
    created: str(document.created),
    author: str(document.author),
    architecture: str(document.architecture),
    os: str(document.os),
    variant: str(document.variant),
    user: str(run.User),
    workingDir: str(run.WorkingDir),
    entrypoint: strings(run.Entrypoint),
    cmd: strings(run.Cmd),
    env: strings(run.Env),
    exposedPorts: isObject(run.ExposedPorts) ? Object.keys(run.ExposedPorts) : undefined,
    volumes: isObject(run.Volumes) ? Object.keys(run.Volumes) : undefined,
    labels: isObject(run.Labels) ? Object.fromEntries(Object.entries(run.Labels).filter((e): e is [string, string] => typeof e[1] === 'string')) : undefined,
    history,
  }) as ImageConfigSummary
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value as string[] : undefined
}

/** Without the undefined fields (exactOptionalPropertyTypes, and lean JSON). */
function pick<T extends Record<string, unknown>>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> }
}
