import { spawnSync } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import { tar } from '../../conformance/helpers/tar.js'
import { dockerArchive, ociArchive } from '../support/archives.js'
import {
  MediaTypes, allBlobs, allManifests, configBlob, errorCodes, hexOf, makeBlob, makeImage, makeIndex, sameContent,
  serverErrors, startTestServer, uniqueRepo, WHARF_CLI, type Content, type HttpResponse,
} from '../support/index.js'

const { wharf, client } = await startTestServer(t)

function importPath(repo: string, query = ''): string {
  return `/_wharf/v1/repositories/${repo}/import${query}`
}

async function importRaw(repo: string, archive: Buffer, query = ''): Promise<HttpResponse> {
  return client.request(importPath(repo, query), { method: 'POST', headers: { 'content-type': 'application/x-tar' }, body: archive })
}

/** The upload form as a browser sends it: tag fields first, then the file. */
async function importForm(repo: string, archive: Buffer, tags?: string): Promise<{ status: number; body: any }> {
  const form = new FormData()
  if (tags !== undefined) form.append('tags', tags)
  form.append('archive', new Blob([new Uint8Array(archive)]), 'image.tar')
  const res = await fetch(`${wharf.url}${importPath(repo)}`, { method: 'POST', body: form })
  return { status: res.status, body: await res.json() }
}

function multiPlatform(): Content {
  const amd = makeImage(MediaTypes.ociManifest, configBlob({ architecture: 'amd64' }), [makeBlob(3000), makeBlob(70_000)], { platform: { os: 'linux', architecture: 'amd64' } })
  const arm = makeImage(MediaTypes.ociManifest, configBlob({ architecture: 'arm64' }), [makeBlob(5000)], { platform: { os: 'linux', architecture: 'arm64' } })
  return makeIndex(MediaTypes.ociIndex, [amd, arm])
}

/** Nothing of the repository exists: not listed, no tags, no manifest, no blob. */
async function nothingLeft(t: Test, repo: string, content: Content): Promise<void> {
  t.notOk((await client.catalog()).includes(repo), 'repository not in the catalog')
  t.equal((await client.get(`/v2/${repo}/tags/list`)).status, 404, 'no tags')
  for (const m of allManifests(content)) t.equal((await client.head(`/v2/${repo}/manifests/${m.digest}`)).status, 404, `no manifest ${m.digest}`)
  for (const b of allBlobs(content)) t.equal((await client.head(`/v2/${repo}/blobs/${b.digest}`)).status, 404, `no blob ${b.digest}`)
  t.same(await readdir(path.join(wharf.storage, 'uploads')), [], 'no staged upload left')
}

t.test('an OCI layout with a multi-platform index, raw body, tags from the request', async (t) => {
  const repo = uniqueRepo('import')
  const content = multiPlatform()
  const res = await importRaw(repo, ociArchive(content, { refName: 'from-archive' }), '?tag=v1&tag=stable')
  t.equal(res.status, 201, res.text())
  const result = res.json<any>()
  t.equal(result.format, 'oci')
  t.same(result.images, [{ digest: content.manifest.digest, mediaType: MediaTypes.ociIndex, tags: ['v1', 'stable'] }], 'the index digest kept, request tags win')
  t.equal(result.blobs.count, allBlobs(content).length)
  t.same(sameContent(await client.pullVerified(repo, 'v1'), content), [], 'pulled bytes equal the archive')
  t.same((await client.tags(repo)).sort(), ['stable', 'v1'])
})

t.test('multipart upload, tags from the archive (ref.name), then from a form field', async (t) => {
  const repo = uniqueRepo('import')
  const content = multiPlatform()
  const archive = ociArchive(content, { refName: 'v3' })
  const first = await importForm(repo, archive)
  t.equal(first.status, 201, JSON.stringify(first.body))
  t.same(first.body.images[0].tags, ['v3'])
  const second = await importForm(repo, archive, 'a, b c')
  t.equal(second.status, 201)
  t.same(second.body.images[0].tags, ['a', 'b', 'c'])
  t.same((await client.tags(repo)).sort(), ['a', 'b', 'c', 'v3'])
  t.same(sameContent(await client.pullVerified(repo, 'b'), content), [])
})

t.test('a legacy docker save archive: OCI manifest built, config digest kept, layer types detected', async (t) => {
  const repo = uniqueRepo('import')
  const gzipped = makeBlob(Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), makeBlob(4000).data]))
  const plain = makeBlob(tar([{ name: 'hello.txt', type: 'file', data: Buffer.from('hello') }]))
  const config = configBlob({ rootfs: { type: 'layers', diff_ids: [] } })
  const archive = dockerArchive(config, [plain, gzipped, plain], [`${repo}:latest`, 'elsewhere/name:nope', `docker.io/${repo}:v2`])
  const res = await importRaw(repo, archive)
  t.equal(res.status, 201, res.text())
  const result = res.json<any>()
  t.equal(result.format, 'docker')
  t.same(result.images[0].tags, ['latest', 'v2'], 'RepoTags of this repository only')
  const manifest = await client.getJson<any>(`/v2/${repo}/manifests/latest`, { accept: MediaTypes.ociManifest })
  t.equal(manifest.config.digest, config.digest)
  t.same(manifest.layers.map((l: any) => [l.mediaType, l.digest, l.size]), [
    [MediaTypes.ociLayerUncompressed, plain.digest, plain.size], [MediaTypes.ociLayer, gzipped.digest, gzipped.size], [MediaTypes.ociLayerUncompressed, plain.digest, plain.size],
  ], 'layers with their real digests; the repeated (symlinked) layer resolved')
  for (const blob of [config, plain, gzipped]) t.ok((await client.get(`/v2/${repo}/blobs/${blob.digest}`)).body.equals(blob.data), `blob ${blob.digest} pulls back`)
  t.equal(result.images[0].digest, (await client.head(`/v2/${repo}/manifests/latest`, { accept: MediaTypes.ociManifest })).header('docker-content-digest'))
})

t.test('a real gzip layer is detected as gzip', async (t) => {
  const repo = uniqueRepo('import')
  const { gzipSync } = await import('node:zlib')
  const layer = makeBlob(gzipSync(Buffer.alloc(10_000, 1)))
  t.ok(gunzipSync(layer.data).length === 10_000)
  const res = await importRaw(repo, dockerArchive(configBlob(), [layer], []), '?tag=x')
  t.equal(res.status, 201)
  const manifest = await client.getJson<any>(`/v2/${repo}/manifests/x`, { accept: MediaTypes.ociManifest })
  t.equal(manifest.layers[0].mediaType, MediaTypes.ociLayer)
})

t.test('malformed archives: a clear error and nothing left behind', async (t) => {
  const content = multiPlatform()
  const good = ociArchive(content, { refName: 'v1' })
  const firstLayer = allBlobs(content).find((b) => b.size === 70_000)!
  const cases: Array<{ name: string; archive: Buffer; status: number; code: string }> = [
    { name: 'truncated', archive: good.subarray(0, good.length - 2000), status: 400, code: 'BLOB_UPLOAD_INVALID' },
    { name: 'not a tar', archive: Buffer.alloc(4096, 7), status: 400, code: 'BLOB_UPLOAD_INVALID' },
    {
      name: 'a blob that does not match its digest name',
      archive: ociArchive(content, { extra: [{ name: `blobs/sha256/${hexOf(firstLayer.digest)}`, type: 'file', data: Buffer.alloc(70_000) }] }),
      status: 400, code: 'DIGEST_INVALID',
    },
    { name: 'a path traversal entry', archive: ociArchive(content, { extra: [{ name: '../../etc/evil', type: 'file', data: Buffer.from('x') }] }), status: 400, code: 'BLOB_UPLOAD_INVALID' },
    { name: 'an absolute path', archive: ociArchive(content, { extra: [{ name: '/etc/evil', type: 'file', data: Buffer.from('x') }] }), status: 400, code: 'BLOB_UPLOAD_INVALID' },
    { name: 'a symlink out of the archive', archive: ociArchive(content, { extra: [{ name: 'blobs/x', type: 'symlink', linkname: '../../../etc/passwd' }] }), status: 400, code: 'BLOB_UPLOAD_INVALID' },
    { name: 'a huge index.json', archive: tar([{ name: 'index.json', type: 'file', data: Buffer.alloc(5 << 20, 0x20) }]), status: 400, code: 'SIZE_INVALID' },
    { name: 'a huge manifest.json', archive: tar([{ name: 'manifest.json', type: 'file', data: Buffer.alloc(5 << 20, 0x20) }]), status: 400, code: 'SIZE_INVALID' },
    { name: 'neither layout nor docker save', archive: tar([{ name: 'hello', type: 'file', data: Buffer.from('x') }]), status: 400, code: 'MANIFEST_INVALID' },
    { name: 'a manifest referencing a missing blob', archive: ociArchiveWithout(content, firstLayer.digest), status: 400, code: 'MANIFEST_BLOB_UNKNOWN' },
    { name: 'manifest.json naming a missing layer', archive: withoutEntry(dockerArchive(configBlob(), [makeBlob(100)], []), '00'), status: 400, code: 'MANIFEST_BLOB_UNKNOWN' },
  ]
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const repo = uniqueRepo('import-bad')
      const res = await importRaw(repo, c.archive)
      t.equal(res.status, c.status, res.text())
      t.same(errorCodes(res), [c.code])
      await nothingLeft(t, repo, content)
    })
  }
  t.test('an existing repository keeps its tags and content', async (t) => {
    const repo = uniqueRepo('import-bad')
    const pushed = await client.pushImage(repo, { tag: 'v1' })
    const res = await importRaw(repo, ociArchiveWithout(content, firstLayer.digest), '?tag=v1')
    t.equal(res.status, 400)
    t.same(await client.tags(repo), ['v1'])
    t.equal((await client.head(`/v2/${repo}/manifests/v1`)).header('docker-content-digest'), pushed.manifest.digest)
    for (const m of allManifests(content)) t.equal((await client.head(`/v2/${repo}/manifests/${m.digest}`)).status, 404)
    for (const b of allBlobs(content)) t.equal((await client.head(`/v2/${repo}/blobs/${b.digest}`)).status, 404)
  })
})

t.test('access to other paths and methods', async (t) => {
  const res = await client.request(`/_wharf/v1/repositories/${uniqueRepo('x')}/tags`, { method: 'POST', body: Buffer.from('x') })
  t.equal(res.status, 404)
  const empty = await client.request(importPath(uniqueRepo('x')), { method: 'POST' })
  t.equal(empty.status, 400)
})

t.test('wharf import: the CLI streams a file and prints the digests', async (t) => {
  const repo = uniqueRepo('import-cli')
  const content = multiPlatform()
  const dir = await mkdtemp(path.join(tmpdir(), 'import-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'image.tar')
  await writeFile(file, ociArchive(content))
  const run = (args: string[]): { code: number; stdout: string; stderr: string } => {
    const out = spawnSync(process.execPath, [WHARF_CLI, 'import', ...args], { encoding: 'utf8' })
    return { code: out.status ?? -1, stdout: out.stdout, stderr: out.stderr }
  }
  const ok = run([file, '--repository', repo, '--tag', 'cli', '--url', wharf.url])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, `${repo}@${content.manifest.digest}  tags: cli`)
  t.same(sameContent(await client.pullVerified(repo, 'cli'), content), [])
  await writeFile(file, ociArchiveWithout(content, allBlobs(content)[0]!.digest))
  const bad = run([file, '--repository', uniqueRepo('import-cli'), '--url', wharf.url])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /import failed \(HTTP 400\): MANIFEST_BLOB_UNKNOWN/)
})

t.test('no server errors', async (t) => {
  t.same(serverErrors(wharf), [])
})

/** The archive with one blob left out of blobs/. */
function ociArchiveWithout(content: Content, digest: string): Buffer {
  return withoutEntry(ociArchive(content), `blobs/sha256/${hexOf(digest)}`)
}

/** Rewrites a ustar archive without the entries whose name starts with `prefix` (their data blocks too). */
function withoutEntry(archive: Buffer, prefix: string): Buffer {
  const parts: Buffer[] = []
  let at = 0
  while (at + 512 <= archive.length && archive.subarray(at, at + 512).some((b) => b !== 0)) {
    const name = archive.subarray(at, at + 100).toString('utf8').replace(/\0.*$/s, '')
    const size = parseInt(archive.subarray(at + 124, at + 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8)
    const end = at + 512 + Math.ceil(size / 512) * 512
    if (!name.startsWith(prefix)) parts.push(archive.subarray(at, end))
    at = end
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

