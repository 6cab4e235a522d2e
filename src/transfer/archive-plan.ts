import { RegistryError } from '../errors/registry-error.js'
import { digestHex, digestOf, isDigest, type Digest } from '../oci/digest.js'
import { parseManifest, type Descriptor } from '../oci/manifest.js'
import { MediaTypes } from '../oci/media-types.js'
import { isTag, type RepoName, type Tag } from '../oci/names.js'
import type { ArchiveFormat } from './archive-types.js'
import type { StagedFile } from './staging.js'

/** What the archive held, as read: small metadata files, staged files, links between paths. */
export interface ArchiveContents {
  readonly metadata: Map<string, Buffer>
  readonly files: Map<string, StagedFile>
  readonly links: Map<string, string>
}

export interface PlannedManifest {
  readonly digest: Digest
  readonly mediaType: string
  readonly body: Buffer
}

/** What to store: blobs to commit, manifests children first, and the top-level images with their archive tags. */
export interface ImportPlan {
  readonly format: ArchiveFormat
  readonly blobs: Map<Digest, StagedFile>
  readonly manifests: PlannedManifest[]
  readonly images: Array<{ digest: Digest; mediaType: string; archiveTags: Tag[] }>
}

export interface PlanSources {
  readonly contents: ArchiveContents
  readonly repository: RepoName
  readonly manifestMaxBytes: number
  /** Reads a staged file whole (manifests only). */
  read(file: StagedFile): Promise<Buffer>
  /** Whether the repository already holds a blob the archive left out. */
  present(digest: Digest): Promise<boolean>
}

export function invalidArchive(message: string, detail?: Record<string, unknown>): RegistryError {
  return new RegistryError('MANIFEST_INVALID', { message, ...(detail !== undefined ? { detail } : {}) })
}

/** The staged file at `path`, following the archive's own links (docker save links repeated layers). */
export function fileAt(contents: ArchiveContents, path: string): StagedFile | undefined {
  let current = path
  for (let hops = 0; hops < 16; hops++) {
    const file = contents.files.get(current)
    if (file !== undefined) return file
    const next = contents.links.get(current)
    if (next === undefined) return undefined
    current = next
  }
  return undefined
}

function parseJson(sources: PlanSources, path: string): unknown {
  const bytes = sources.contents.metadata.get(path)
  if (bytes === undefined) return undefined
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    throw invalidArchive(`${path} is not valid JSON`, { path })
  }
}

/** An OCI layout (index.json) wins over docker's manifest.json when both are there (docker save from 25 on). */
export async function planImport(sources: PlanSources): Promise<ImportPlan> {
  if (sources.contents.metadata.has('index.json')) return planOciLayout(sources)
  if (sources.contents.metadata.has('manifest.json')) return planDockerArchive(sources)
  throw invalidArchive('not an image archive: neither index.json (OCI layout) nor manifest.json (docker save) found')
}

async function planOciLayout(sources: PlanSources): Promise<ImportPlan> {
  const index = parseJson(sources, 'index.json') as { manifests?: unknown } | undefined
  if (typeof index !== 'object' || index === null || !Array.isArray(index.manifests)) throw invalidArchive('index.json has no manifests list')
  const plan: ImportPlan = { format: 'oci', blobs: new Map(), manifests: [], images: [] }
  const done = new Set<Digest>()
  // Parses the layout's index as a manifest index, for its descriptor checks.
  const entries = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: index.manifests })), undefined)
  const descriptors = index.manifests as Descriptor[]
  for (const [i, reference] of entries.references.entries()) {
    if (reference.kind !== 'manifest') throw invalidArchive(`index.json entry ${i} is not a manifest (${reference.mediaType})`)
    await addManifest(sources, plan, reference, done)
    const tags = archiveTags([descriptors[i]?.annotations?.['org.opencontainers.image.ref.name'], descriptors[i]?.annotations?.['io.containerd.image.name']], sources.repository)
    const known = plan.images.find((image) => image.digest === reference.digest)
    if (known !== undefined) known.archiveTags = [...new Set([...known.archiveTags, ...tags])]
    else plan.images.push({ digest: reference.digest, mediaType: reference.mediaType, archiveTags: tags })
  }
  return plan
}

/** Adds a manifest (after everything it references: children before parents) and its blobs. */
async function addManifest(sources: PlanSources, plan: ImportPlan, descriptor: { digest: Digest; size: number; mediaType: string }, done: Set<Digest>): Promise<void> {
  if (done.has(descriptor.digest)) return
  done.add(descriptor.digest)
  const file = blobFile(sources, descriptor.digest)
  if (file === undefined) throw missingBlob(descriptor.digest)
  checkSize(descriptor, file)
  if (file.size > sources.manifestMaxBytes) {
    throw new RegistryError('SIZE_INVALID', { message: `manifest ${descriptor.digest} exceeds the limit of ${sources.manifestMaxBytes} bytes`, detail: { digest: descriptor.digest, limit: sources.manifestMaxBytes } })
  }
  const body = await sources.read(file)
  const parsed = parseManifest(body, descriptor.mediaType)
  for (const reference of parsed.references) {
    if (reference.kind === 'manifest') await addManifest(sources, plan, reference, done)
    else if (reference.kind !== 'external') await addBlob(sources, plan, reference)
  }
  plan.manifests.push({ digest: descriptor.digest, mediaType: parsed.mediaType, body })
}

async function addBlob(sources: PlanSources, plan: ImportPlan, descriptor: { digest: Digest; size: number }): Promise<void> {
  const file = blobFile(sources, descriptor.digest)
  if (file === undefined) {
    if (await sources.present(descriptor.digest)) return
    throw missingBlob(descriptor.digest)
  }
  checkSize(descriptor, file)
  plan.blobs.set(descriptor.digest, file)
}

/** OCI layout blobs live at blobs/<algorithm>/<hex>; the staged file was verified against that name. */
function blobFile(sources: PlanSources, digest: Digest): StagedFile | undefined {
  return fileAt(sources.contents, `blobs/${digest.slice(0, digest.indexOf(':'))}/${digestHex(digest)}`)
}

function checkSize(descriptor: { digest: Digest; size: number }, file: StagedFile): void {
  if (descriptor.size !== file.size) {
    throw invalidArchive(`descriptor of ${descriptor.digest} says ${descriptor.size} bytes, the archive holds ${file.size}`, { digest: descriptor.digest, size: descriptor.size, actual: file.size })
  }
}

function missingBlob(digest: Digest): RegistryError {
  return new RegistryError('MANIFEST_BLOB_UNKNOWN', { message: `the archive references ${digest}, which it does not hold`, detail: { digest } })
}

interface DockerEntry { Config?: unknown; RepoTags?: unknown; Layers?: unknown }

/** `docker save` (manifest.json: Config, RepoTags, Layers): an OCI image manifest is built per entry. */
async function planDockerArchive(sources: PlanSources): Promise<ImportPlan> {
  const entries = parseJson(sources, 'manifest.json')
  if (!Array.isArray(entries)) throw invalidArchive('manifest.json must be a list of images')
  const plan: ImportPlan = { format: 'docker', blobs: new Map(), manifests: [], images: [] }
  for (const [i, entry] of (entries as DockerEntry[]).entries()) {
    if (typeof entry?.Config !== 'string' || !Array.isArray(entry.Layers) || entry.Layers.some((l) => typeof l !== 'string')) {
      throw invalidArchive(`manifest.json entry ${i} needs Config and Layers`)
    }
    const config = dockerFile(sources, entry.Config)
    plan.blobs.set(config.digest, config)
    const layers = (entry.Layers as string[]).map((path) => {
      const file = dockerFile(sources, path)
      plan.blobs.set(file.digest, file)
      return { mediaType: layerMediaType(file.head), digest: file.digest, size: file.size }
    })
    const manifest = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size }, layers }
    const body = Buffer.from(JSON.stringify(manifest))
    const digest = digestOf(body)
    if (!plan.manifests.some((m) => m.digest === digest)) plan.manifests.push({ digest, mediaType: MediaTypes.ociManifest, body })
    const tags = archiveTags(Array.isArray(entry.RepoTags) ? entry.RepoTags : [], sources.repository)
    const known = plan.images.find((image) => image.digest === digest)
    if (known !== undefined) known.archiveTags = [...new Set([...known.archiveTags, ...tags])]
    else plan.images.push({ digest, mediaType: MediaTypes.ociManifest, archiveTags: tags })
  }
  return plan
}

function dockerFile(sources: PlanSources, rawPath: string): StagedFile {
  const path = rawPath.split('/').filter((s) => s !== '' && s !== '.').join('/')
  const file = fileAt(sources.contents, path)
  if (file === undefined) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { message: `manifest.json names ${rawPath.slice(0, 200)}, which the archive does not hold`, detail: { path: rawPath.slice(0, 200) } })
  // Config files of docker save are named by their digest: a mismatch is a damaged archive.
  const named = /^(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(path)
  if (named !== null && `sha256:${named[1]}` !== file.digest && path !== 'manifest.json') {
    throw new RegistryError('DIGEST_INVALID', { message: `${path} does not match its digest name`, detail: { path, actual: file.digest } })
  }
  return file
}

/** gzip and zstd by their magic bytes; anything else is a plain tar layer. */
function layerMediaType(head: Uint8Array): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'application/vnd.oci.image.layer.v1.tar+gzip'
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'application/vnd.oci.image.layer.v1.tar+zstd'
  return 'application/vnd.oci.image.layer.v1.tar'
}

/**
 * The tags among an archive's references that apply to `repository`: a bare tag ("v1", OCI's
 * ref.name), or "name:tag" whose name is the repository (with or without a registry host, and
 * docker.io's "library/").
 */
export function archiveTags(references: readonly unknown[], repository: RepoName): Tag[] {
  const tags = new Set<Tag>()
  for (const reference of references) {
    if (typeof reference !== 'string' || reference === '') continue
    const withoutDigest = reference.split('@')[0]!
    const slash = withoutDigest.lastIndexOf('/')
    const colon = withoutDigest.lastIndexOf(':')
    if (colon === -1 || colon < slash) {
      // No tag part: either a bare tag (ref.name) or a name without a tag.
      if (slash === -1 && isTag(withoutDigest) && !isDigest(reference)) tags.add(withoutDigest as Tag)
      continue
    }
    const name = withoutDigest.slice(0, colon)
    const tag = withoutDigest.slice(colon + 1)
    if (isTag(tag) && namesRepository(name, repository)) tags.add(tag as Tag)
  }
  return [...tags]
}

function namesRepository(name: string, repository: string): boolean {
  if (name === repository) return true
  const parts = name.split('/')
  const hasHost = parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')
  const path = hasHost ? parts.slice(1).join('/') : name
  return path === repository || (path.startsWith('library/') && path.slice('library/'.length) === repository)
}
