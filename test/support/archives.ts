import { tar, type TarEntry } from '../../conformance/helpers/tar.js'
import { allBlobs, allManifests, hexOf, jsonBytes, type Blob, type Content } from './content.js'

/** Image archives as the clients write them, for import tests: an OCI layout in a tar, `docker save`'s legacy layout. */

/** An OCI layout holding `content`, index.json naming it with `refName` (org.opencontainers.image.ref.name). */
export function ociArchive(content: Content, options: { refName?: string; extra?: readonly TarEntry[] } = {}): Buffer {
  const blobs = [...allBlobs(content).map((b) => ({ digest: b.digest, data: b.data })), ...allManifests(content).map((m) => ({ digest: m.digest, data: m.body }))]
  const index = {
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: content.manifest.mediaType, digest: content.manifest.digest, size: content.manifest.body.length,
      ...(options.refName !== undefined ? { annotations: { 'org.opencontainers.image.ref.name': options.refName } } : {}) }],
  }
  return tar([
    { name: 'oci-layout', type: 'file', data: jsonBytes({ imageLayoutVersion: '1.0.0' }) },
    { name: 'blobs/', type: 'dir' },
    { name: 'blobs/sha256/', type: 'dir' },
    ...blobs.map((b): TarEntry => ({ name: `blobs/sha256/${hexOf(b.digest)}`, type: 'file', data: b.data })),
    ...options.extra ?? [],
    { name: 'index.json', type: 'file', data: jsonBytes(index) },
  ])
}

/** `docker save` before Docker 25: <id>/layer.tar, <config hex>.json, manifest.json; a repeated layer is a symlink. */
export function dockerArchive(config: Blob, layers: readonly Blob[], repoTags: readonly string[]): Buffer {
  const entries: TarEntry[] = []
  const layerPaths: string[] = []
  const saved = new Map<string, string>()
  layers.forEach((layer, i) => {
    const id = `${i.toString(16).padStart(2, '0')}${hexOf(layer.digest).slice(2)}`
    const path = `${id}/layer.tar`
    entries.push({ name: `${id}/`, type: 'dir' }, { name: `${id}/VERSION`, type: 'file', data: Buffer.from('1.0') }, { name: `${id}/json`, type: 'file', data: jsonBytes({ id }) })
    const first = saved.get(layer.digest)
    if (first !== undefined) entries.push({ name: path, type: 'symlink', linkname: `../${first}` })
    else {
      entries.push({ name: path, type: 'file', data: layer.data })
      saved.set(layer.digest, path)
    }
    layerPaths.push(path)
  })
  entries.push({ name: `${hexOf(config.digest)}.json`, type: 'file', data: config.data })
  entries.push({ name: 'manifest.json', type: 'file', data: jsonBytes([{ Config: `${hexOf(config.digest)}.json`, RepoTags: repoTags, Layers: layerPaths }]) })
  return tar(entries)
}
