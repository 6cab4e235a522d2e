// Test images built from real files: busybox-static for linux/amd64 and linux/arm64, Docker
// schema2 images and manifest lists, a large random layer, an artifact with a custom config media
// type and a referrer whose subject points at it. Plus writers for the on-disk formats the clients
// read: OCI image layout, oci-archive, skopeo's dir: format and docker-archive.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { toolPath } from './env.js'
import { allBlobs, type Blob, type Content, descriptor, digestOf, hexOf, type ImageContent, type IndexContent, jsonBytes, makeBlob, makeImage, makeIndex, MediaTypes, type Platform } from '../../test/support/index.js'
import { tar, type TarEntry } from './tar.js'

export type Format = 'oci' | 'docker'

const CREATED = '2024-01-01T00:00:00Z'

const busyboxCache = new Map<string, Buffer>()
function busyboxBinary(arch: 'amd64' | 'arm64'): Buffer {
  let data = busyboxCache.get(arch)
  if (!data) {
    data = readFileSync(toolPath(arch === 'amd64' ? 'busybox' : 'busyboxArm64'))
    busyboxCache.set(arch, data)
  }
  return data
}

/** A gzip layer and the diff_id (digest of the uncompressed tar) its config must list. */
export function gzipLayer(mediaType: string, entries: readonly TarEntry[], level = 6): { layer: Blob; diffId: string } {
  const plain = tar(entries)
  return { layer: makeBlob(gzipSync(plain, { level }), { mediaType: mediaType }), diffId: digestOf(plain) }
}

function imageConfig(mediaType: string, platform: Platform, diffIds: readonly string[], extra: Record<string, unknown> = {}): Blob {
  return makeBlob(jsonBytes({
    created: CREATED,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], ...extra },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map(() => ({ created: CREATED, created_by: 'wharf conformance fixture' })),
  }), { mediaType: mediaType })
}

function types(format: Format): { manifest: string; index: string; config: string; layer: string } {
  return format === 'oci'
    ? { manifest: MediaTypes.ociManifest, index: MediaTypes.ociIndex, config: MediaTypes.ociConfig, layer: MediaTypes.ociLayer }
    : { manifest: MediaTypes.dockerManifest, index: MediaTypes.dockerManifestList, config: MediaTypes.dockerConfig, layer: MediaTypes.dockerLayer }
}

/**
 * A real busybox image for one architecture. `salt` goes into /etc/wharf-salt so that each run
 * pushes layers no earlier run pushed (mount and dedup checks then mean something).
 */
export function busyboxImage(arch: 'amd64' | 'arm64', format: Format, salt: string): ImageContent {
  const t = types(format)
  const entries: TarEntry[] = [
    { name: 'bin/', type: 'dir' },
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: busyboxBinary(arch) },
    ...['sh', 'ls', 'cat', 'echo', 'uname'].map((cmd): TarEntry => ({ name: `bin/${cmd}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/', type: 'dir' },
    { name: 'etc/wharf-salt', type: 'file', data: Buffer.from(`${salt}\n`) },
    { name: 'etc/wharf-platform', type: 'file', data: Buffer.from(`linux/${arch}\n`) },
  ]
  const { layer, diffId } = gzipLayer(t.layer, entries)
  const platform: Platform = { architecture: arch, os: 'linux' }
  const config = imageConfig(t.config, platform, [diffId])
  return makeImage(t.manifest, config, [layer], { platform })
}

/** linux/amd64 + linux/arm64 busybox as an OCI index or a Docker manifest list. */
export function multiPlatform(format: Format, salt: string): IndexContent {
  const t = types(format)
  return makeIndex(t.index, [busyboxImage('amd64', format, salt), busyboxImage('arm64', format, salt)])
}

/** A small image with a single tiny layer (fast scenarios that need many distinct images). */
export function tinyImage(format: Format, salt: string, files: Readonly<Record<string, string>> = {}): ImageContent {
  const t = types(format)
  const entries: TarEntry[] = [{ name: 'etc/', type: 'dir' }, { name: 'etc/wharf-salt', type: 'file', data: Buffer.from(`${salt}\n`) },
    ...Object.entries(files).map(([name, text]): TarEntry => ({ name, type: 'file', data: Buffer.from(text) }))]
  const { layer, diffId } = gzipLayer(t.layer, entries)
  const platform: Platform = { architecture: 'amd64', os: 'linux' }
  return makeImage(t.manifest, imageConfig(t.config, platform, [diffId]), [layer], { platform })
}

/**
 * An image whose one layer is a gzip (stored, level 0) tar of `mib` MiB of random bytes. Stored
 * gzip keeps it a valid layer that clients do not try to recompress, at random-data size.
 */
export function bigLayerImage(mib: number, salt: string): ImageContent {
  const t = types('oci')
  const { layer, diffId } = gzipLayer(t.layer, [
    { name: 'etc/', type: 'dir' }, { name: 'etc/wharf-salt', type: 'file', data: Buffer.from(`${salt}\n`) },
    { name: 'random.bin', type: 'file', data: randomBytes(mib * 1024 * 1024) },
  ], 0)
  const platform: Platform = { architecture: 'amd64', os: 'linux' }
  return makeImage(t.manifest, imageConfig(t.config, platform, [diffId]), [layer], { platform })
}

export const ARTIFACT_CONFIG_TYPE = 'application/vnd.wharf.conformance.config.v1+json'
export const ARTIFACT_LAYER_TYPE = 'application/vnd.wharf.conformance.payload.v1'
export const REFERRER_ARTIFACT_TYPE = 'application/vnd.wharf.conformance.signature.v1'

/** An OCI artifact: image manifest with a custom config media type and a custom payload layer. */
export function artifact(salt: string): ImageContent {
  const config = makeBlob(jsonBytes({ tool: 'wharf-conformance', salt }), { mediaType: ARTIFACT_CONFIG_TYPE })
  const payload = makeBlob(`artifact payload ${salt}\n`, { mediaType: ARTIFACT_LAYER_TYPE })
  return makeImage(MediaTypes.ociManifest, config, [payload])
}

/** A manifest whose `subject` refers to `subject` (a signature-like referrer with artifactType). */
export function referrer(subject: Content, salt: string, annotations: Record<string, string> = { 'org.example.note': 'referrer' }): ImageContent {
  const empty = makeBlob('{}', { mediaType: MediaTypes.ociEmpty })
  const payload = makeBlob(`signature over ${subject.manifest.digest} ${salt}\n`, { mediaType: 'application/vnd.wharf.conformance.signature.payload.v1' })
  return makeImage(MediaTypes.ociManifest, empty, [payload], {
    extra: { artifactType: REFERRER_ARTIFACT_TYPE, subject: descriptor(subject.manifest), annotations },
  })
}

// ---------------------------------------------------------------------------------------------
// On-disk formats

async function writeBlob(blobsDir: string, digest: string, data: Buffer): Promise<void> {
  await writeFile(path.join(blobsDir, hexOf(digest)), data)
}

/** Manifests of a content tree (children first) and blobs, as [digest, bytes] pairs. */
function everything(content: Content): Array<[string, Buffer]> {
  const out = new Map<string, Buffer>()
  const visit = (c: Content): void => {
    if (c.kind === 'index') { for (const child of c.children) visit(child); for (const b of c.blobs) out.set(b.digest, b.data) }
    else for (const b of [c.config, ...c.layers]) out.set(b.digest, b.data)
    out.set(c.manifest.digest, c.manifest.body)
  }
  visit(content)
  return [...out.entries()]
}

/** An OCI image layout directory; each content tree is listed in index.json under its ref name. */
export async function writeOciLayout(dir: string, refs: ReadonlyArray<{ readonly name: string; readonly content: Content }>): Promise<void> {
  const blobsDir = path.join(dir, 'blobs', 'sha256')
  await mkdir(blobsDir, { recursive: true })
  for (const { content } of refs) for (const [digest, data] of everything(content)) await writeBlob(blobsDir, digest, data)
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: refs.map(({ name, content }) => descriptor(content.manifest, undefined, {
      annotations: { 'org.opencontainers.image.ref.name': name },
      ...(content.kind === 'image' && content.platform ? { platform: content.platform } : {}),
    })),
  }))
}

/**
 * Reads an OCI image layout a client wrote: the manifest digests index.json lists, and every blob,
 * each checked against its file name (a mismatch throws).
 */
export async function readOciLayout(dir: string): Promise<{ refs: string[]; blobs: Map<string, Buffer> }> {
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }
  const blobs = new Map<string, Buffer>()
  const blobsDir = path.join(dir, 'blobs', 'sha256')
  for (const hex of await readdir(blobsDir)) {
    const data = await readFile(path.join(blobsDir, hex))
    const digest = `sha256:${hex}`
    if (digestOf(data) !== digest) throw new Error(`${dir}: blob ${digest} holds bytes of ${digestOf(data)}`)
    blobs.set(digest, data)
  }
  return { refs: index.manifests.map((m) => m.digest), blobs }
}

/** The same layout as a tar archive (oci-archive:, podman load, ctr import). */
export function ociArchive(refs: ReadonlyArray<{ readonly name: string; readonly content: Content }>): Buffer {
  const entries: TarEntry[] = [{ name: 'blobs/', type: 'dir' }, { name: 'blobs/sha256/', type: 'dir' }]
  const seen = new Set<string>()
  for (const { content } of refs) {
    for (const [digest, data] of everything(content)) {
      if (seen.has(digest)) continue
      seen.add(digest)
      entries.push({ name: `blobs/sha256/${hexOf(digest)}`, type: 'file', data })
    }
  }
  entries.push({ name: 'oci-layout', type: 'file', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) })
  entries.push({ name: 'index.json', type: 'file', data: Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: refs.map(({ name, content }) => descriptor(content.manifest, undefined, { annotations: { 'org.opencontainers.image.ref.name': name } })),
  })) })
  return tar(entries)
}

/**
 * skopeo's dir: transport (containers/image "Directory Transport Version: 1.1"): manifest.json is
 * the top manifest, instance manifests of a list are <hex>.manifest.json, blobs are named by hex.
 */
export async function writeDirLayout(dir: string, content: Content): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, 'version'), 'Directory Transport Version: 1.1\n')
  await writeFile(path.join(dir, 'manifest.json'), content.manifest.body)
  for (const b of allBlobs(content)) await writeFile(path.join(dir, hexOf(b.digest)), b.data)
  if (content.kind === 'index') {
    const visit = (c: Content): Promise<void>[] => c.kind === 'index'
      ? c.children.flatMap((child) => [writeFile(path.join(dir, `${hexOf(child.manifest.digest)}.manifest.json`), child.manifest.body), ...visit(child)])
      : []
    await Promise.all(visit(content))
  }
}

/** `docker save` format (docker load, podman load): config <hex>.json, layers <hex>/layer.tar (gzip is accepted). */
export function dockerArchive(image: ImageContent, repoTags: readonly string[]): Buffer {
  const entries: TarEntry[] = [{ name: `${hexOf(image.config.digest)}.json`, type: 'file', data: image.config.data }]
  const layerPaths: string[] = []
  for (const layer of image.layers) {
    const p = `${hexOf(layer.digest)}/layer.tar`
    layerPaths.push(p)
    entries.push({ name: `${hexOf(layer.digest)}/`, type: 'dir' }, { name: p, type: 'file', data: layer.data })
  }
  entries.push({ name: 'manifest.json', type: 'file', data: Buffer.from(JSON.stringify([{ Config: `${hexOf(image.config.digest)}.json`, RepoTags: repoTags, Layers: layerPaths }])) })
  return tar(entries)
}

/** A fresh random salt for one run of one test file. */
export function newSalt(): string {
  return randomBytes(8).toString('hex')
}
