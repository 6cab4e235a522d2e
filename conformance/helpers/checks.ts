// Assertions shared by the client scenarios: what a fresh client pulls is what was pushed.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { Tap } from './env.js'
import { ACCEPT_ALL_MANIFESTS, allBlobs, allManifests, bytesOf, type Content, digestOf, hexOf, type PulledTree, type RegistryClient, sameContent } from '../../test/support/index.js'
import { untar } from './tar.js'

/**
 * Pulls repo:reference with raw HTTP, checks every digest (manifest body = Docker-Content-Digest =
 * sha256, blobs = descriptors), and, when `content` is given, that every byte equals what was pushed.
 */
export async function assertPulls(t: Tap, reg: RegistryClient, repo: string, reference: string, content?: Content): Promise<PulledTree> {
  const pulled = await reg.pullVerified(repo, reference)
  t.ok(pulled.manifests.has(pulled.digest) && pulled.blobs.size > 0,
    `${repo}:${reference} pulls with verified digests (${pulled.manifests.size} manifests, ${pulled.blobs.size} blobs)`)
  if (content) t.same(sameContent(pulled, content), [], `${repo}:${reference} is byte-identical to what was pushed`)
  const head = await reg.head(`/v2/${repo}/manifests/${reference}`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(head.status, 200, `HEAD ${repo}:${reference}`)
  t.equal(head.header('docker-content-digest'), pulled.digest, 'HEAD Docker-Content-Digest equals the GET body digest')
  t.equal(Number(head.header('content-length')), pulled.manifests.get(pulled.digest)?.body.length, 'HEAD Content-Length equals the manifest size')
  return pulled
}

export async function assertTags(t: Tap, reg: RegistryClient, repo: string, expected: readonly string[]): Promise<void> {
  const tags = await reg.tags(repo)
  for (const tag of expected) t.ok(tags.includes(tag), `tags/list of ${repo} has ${tag} (got ${tags.join(',')})`)
}

export async function assertManifestGone(t: Tap, reg: RegistryClient, repo: string, reference: string): Promise<void> {
  const res = await reg.get(`/v2/${repo}/manifests/${reference}`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(res.status, 404, `${repo}:${reference} answers 404 after delete`)
}

/** Files of an image's layers (gzip or plain tar), later layers overriding earlier ones. */
export function layerFiles(pulled: PulledTree, manifestDigest = pulled.digest): Map<string, { type: string; data: Buffer; linkname: string }> {
  const manifest = pulled.manifests.get(manifestDigest)
  if (!manifest) throw new Error(`manifest ${manifestDigest} was not pulled`)
  const parsed = JSON.parse(manifest.body.toString('utf8')) as { layers?: Array<{ digest: string }> }
  const files = new Map<string, { type: string; data: Buffer; linkname: string }>()
  for (const layer of parsed.layers ?? []) {
    const blob = pulled.blobs.get(layer.digest)
    if (!blob) throw new Error(`layer ${layer.digest} was not pulled`)
    const plain = blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob
    for (const [name, entry] of untar(plain)) files.set(name, entry)
  }
  return files
}

/** Child manifest digest of an index for a platform. */
export function childFor(pulled: PulledTree, architecture: string): string {
  const index = JSON.parse(pulled.manifests.get(pulled.digest)!.body.toString('utf8')) as { manifests: Array<{ digest: string; platform?: { architecture?: string } }> }
  const child = index.manifests.find((m) => m.platform?.architecture === architecture)
  if (!child) throw new Error(`no ${architecture} entry in ${pulled.digest}`)
  return child.digest
}

/** Checks that an OCI layout written by a client holds every manifest and blob of `content`, byte for byte. */
export async function assertLayoutHolds(t: Tap, layoutDir: string, content: Content): Promise<void> {
  const problems: string[] = []
  for (const item of [...allManifests(content), ...allBlobs(content)]) {
    try {
      const data = await readFile(path.join(layoutDir, 'blobs', 'sha256', hexOf(item.digest)))
      if (!data.equals(bytesOf(item))) problems.push(`${item.digest} differs`)
    } catch { problems.push(`${item.digest} missing`) }
  }
  t.same(problems, [], `layout ${path.basename(layoutDir)} holds every manifest and blob byte-identical`)
}

/** Same for skopeo's dir: format. */
export async function assertDirHolds(t: Tap, dir: string, content: Content): Promise<void> {
  const problems: string[] = []
  const top = await readFile(path.join(dir, 'manifest.json'))
  if (digestOf(top) !== content.manifest.digest) problems.push(`manifest.json is ${digestOf(top)}`)
  if (content.kind === 'index') {
    for (const m of allManifests(content).slice(0, -1)) {
      try {
        const data = await readFile(path.join(dir, `${hexOf(m.digest)}.manifest.json`))
        if (!data.equals(m.body)) problems.push(`${m.digest} differs`)
      } catch { problems.push(`${m.digest}.manifest.json missing`) }
    }
  }
  for (const b of allBlobs(content)) {
    try {
      const data = await readFile(path.join(dir, hexOf(b.digest)))
      if (!data.equals(b.data)) problems.push(`${b.digest} differs`)
    } catch { problems.push(`${b.digest} missing`) }
  }
  t.same(problems, [], `dir ${path.basename(dir)} holds every manifest and blob byte-identical`)
}
