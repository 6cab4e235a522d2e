// GET /_wharf/v1/repositories/<name>/export against a real server: archives read back with GNU tar,
// every blob checked against its digest, index.json and manifest.json as loaders expect them.
import t, { type Test } from 'tap'
import {
  allBlobs, allManifests, configBlob, digestOf, errorCodes, extractTar, makeBlob, makeImage, makeIndex, MediaTypes, startTestServer, uniqueRepo,
  type ExtractedArchive, type HttpResponse,
} from '../support/index.js'

const { wharf, client } = await startTestServer(t)
const exportPath = (repo: string, query: string): string => `/_wharf/v1/repositories/${repo}/export?${query}`

interface IndexJson { manifests: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }> }
interface DockerManifestJson { Config: string; RepoTags: string[]; Layers: string[] }

/** The archive of a 200 answer, after checking what every export carries. */
async function archiveOf(t: Test, res: HttpResponse): Promise<ExtractedArchive> {
  t.equal(res.status, 200, `200 (${res.text().slice(0, 200)})`)
  t.equal(res.header('content-type'), 'application/x-tar')
  t.equal(Number(res.header('content-length')), res.body.length, 'Content-Length is the number of bytes sent')
  const archive = await extractTar(res.body)
  t.same(JSON.parse(archive.files.get('oci-layout')!.toString()), { imageLayoutVersion: '1.0.0' })
  const blobNames = archive.names.filter((name) => name.startsWith('blobs/sha256/') && name !== 'blobs/sha256/')
  t.equal(new Set(blobNames).size, blobNames.length, 'each blob once')
  for (const name of blobNames) t.equal(digestOf(archive.files.get(name)!), `sha256:${name.slice('blobs/sha256/'.length)}`, `${name.slice(0, 24)}… matches its digest`)
  return archive
}

const blobSet = (archive: ExtractedArchive): string[] => archive.names.filter((n) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n.slice(13)}`).sort()

t.test('an image by tag, oci and docker formats', async (t) => {
  const repo = uniqueRepo('export')
  const image = await client.pushImage(repo, { tag: 'v1', layers: [makeBlob(3 * 1024 * 1024 + 7), makeBlob(100)] })
  const expectedBlobs = [image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.digest)].sort()

  const oci = await client.get(exportPath(repo, 'reference=v1&format=oci'))
  t.equal(oci.header('content-disposition'), `attachment; filename="${repo.replace(/\//g, '_')}_v1.tar"`)
  const ociArchive = await archiveOf(t, oci)
  t.same(blobSet(ociArchive), expectedBlobs, 'the manifest, its config and its layers')
  t.notOk(ociArchive.files.has('manifest.json'), 'no manifest.json in the oci format')
  const index = JSON.parse(ociArchive.files.get('index.json')!.toString()) as IndexJson
  t.same(index.manifests, [{
    mediaType: MediaTypes.ociManifest, digest: image.manifest.digest, size: image.manifest.size,
    annotations: { 'io.containerd.image.name': `${wharf.address}/${repo}:v1`, 'org.opencontainers.image.ref.name': 'v1' },
  }], 'index.json names the exported manifest, its tag and full name')

  const docker = await archiveOf(t, await client.get(exportPath(repo, 'reference=v1&format=docker')))
  t.same(blobSet(docker), expectedBlobs)
  const [entry, ...more] = JSON.parse(docker.files.get('manifest.json')!.toString()) as DockerManifestJson[]
  t.equal(more.length, 0)
  t.same(entry, {
    Config: `blobs/sha256/${image.config.digest.slice(7)}`, RepoTags: [`${wharf.address}/${repo}:v1`],
    Layers: image.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
  }, 'manifest.json points into blobs/ as Docker 25 writes it')
  t.same(JSON.parse(docker.files.get('repositories')!.toString()), { [`${wharf.address}/${repo}`]: { v1: image.layers[1]!.digest.slice(7) } })

  const again = await client.get(exportPath(repo, 'reference=v1&format=docker'))
  const first = await client.get(exportPath(repo, 'reference=v1&format=docker'))
  t.ok(again.body.equals(first.body), 'two exports are byte-identical')

  const head = await client.head(exportPath(repo, 'reference=v1&format=docker'))
  t.equal(head.status, 200)
  t.equal(head.header('content-length'), String(first.body.length), 'HEAD announces the same length')
  t.equal(head.body.length, 0)
})

t.test('by digest: no tag in the archive', async (t) => {
  const repo = uniqueRepo('export')
  const image = await client.pushImage(repo, { tag: 'v1' })
  const res = await client.get(exportPath(repo, `reference=${image.manifest.digest}&format=docker`))
  t.equal(res.header('content-disposition'), `attachment; filename="${repo.replace(/\//g, '_')}_${image.manifest.digest.slice(7, 19)}.tar"`)
  const archive = await archiveOf(t, res)
  const index = JSON.parse(archive.files.get('index.json')!.toString()) as IndexJson
  t.same(index.manifests[0]!.annotations, { 'io.containerd.image.name': `${wharf.address}/${repo}@${image.manifest.digest}` })
  t.same((JSON.parse(archive.files.get('manifest.json')!.toString()) as DockerManifestJson[])[0]!.RepoTags, [])
  t.notOk(archive.files.has('repositories'))
})

t.test('a multi-platform index: the whole index, and docker\'s image by platform', async (t) => {
  const repo = uniqueRepo('export')
  const shared = makeBlob(2048)
  const amd64 = makeImage(MediaTypes.ociManifest, configBlob({ architecture: 'amd64', os: 'linux' }), [shared, makeBlob(500)], { platform: { os: 'linux', architecture: 'amd64' } })
  const arm64 = makeImage(MediaTypes.ociManifest, configBlob({ architecture: 'arm64', os: 'linux' }), [shared, makeBlob(600)], { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } })
  const index = makeIndex(MediaTypes.ociIndex, [amd64, arm64])
  await client.pushContent(repo, 'multi', index)
  const everything = [...allManifests(index).map((m) => m.digest), ...allBlobs(index).map((b) => b.digest)].sort()

  const oci = await archiveOf(t, await client.get(exportPath(repo, 'reference=multi')))
  t.same(blobSet(oci), everything, 'the index, both images and all their blobs (the shared layer once)')
  t.equal((JSON.parse(oci.files.get('index.json')!.toString()) as IndexJson).manifests[0]!.digest, index.manifest.digest)

  const dockerOf = async (query: string): Promise<DockerManifestJson> => {
    const archive = await archiveOf(t, await client.get(exportPath(repo, `reference=multi&format=docker${query}`)))
    t.same(blobSet(archive), everything, 'the OCI part holds the whole index')
    return (JSON.parse(archive.files.get('manifest.json')!.toString()) as DockerManifestJson[])[0]!
  }
  t.equal((await dockerOf('')).Config, `blobs/sha256/${amd64.config.digest.slice(7)}`, 'default: linux/amd64')
  t.equal((await dockerOf('&platform=linux/arm64')).Config, `blobs/sha256/${arm64.config.digest.slice(7)}`, 'linux/arm64 (any variant)')
  t.same((await dockerOf('&platform=linux/arm64/v8')).Layers, arm64.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`))

  const absent = await client.get(exportPath(repo, 'reference=multi&format=docker&platform=linux/s390x'))
  t.equal(absent.status, 404, 'a platform the index lacks')
  t.same(errorCodes(absent), ['MANIFEST_UNKNOWN'])
  t.match(absent.json(), { errors: [{ detail: { platforms: ['linux/amd64', 'linux/arm64/v8'] } }] }, 'the answer lists the platforms there are')
})

t.test('errors in the spec format, before any byte', async (t) => {
  const repo = uniqueRepo('export')
  await client.pushImage(repo, { tag: 'v1' })
  const cases: Array<[string, string, number, string]> = [
    ['unknown repository', exportPath(uniqueRepo('nothing'), 'reference=v1'), 404, 'MANIFEST_UNKNOWN'],
    ['unknown tag', exportPath(repo, 'reference=v2'), 404, 'MANIFEST_UNKNOWN'],
    ['unknown digest', exportPath(repo, `reference=sha256:${'0'.repeat(64)}`), 404, 'MANIFEST_UNKNOWN'],
    ['malformed digest', exportPath(repo, 'reference=sha256:abc'), 400, 'DIGEST_INVALID'],
    ['malformed tag', exportPath(repo, 'reference=-x'), 400, 'TAG_INVALID'],
    ['no reference', exportPath(repo, 'format=oci'), 400, 'UNSUPPORTED'],
    ['unknown format', exportPath(repo, 'reference=v1&format=zip'), 400, 'UNSUPPORTED'],
    ['malformed platform', exportPath(repo, 'reference=v1&format=docker&platform=linux'), 400, 'UNSUPPORTED'],
    ['malformed platform (oci format too)', exportPath(repo, 'reference=v1&platform=a/b/c/d'), 400, 'UNSUPPORTED'],
    ['malformed name', '/_wharf/v1/repositories/UPPER/export?reference=v1', 400, 'NAME_INVALID'],
  ]
  for (const [what, url, status, code] of cases) {
    const res = await client.get(url)
    t.equal(res.status, status, `${what}: ${status}`)
    t.same(errorCodes(res), [code], `${what}: ${code}`)
    t.match(res.header('content-type') ?? '', /^application\/json/, `${what}: JSON, not a tar`)
  }
  t.equal((await client.request(exportPath(repo, 'reference=v1'), { method: 'DELETE' })).status, 404, 'only GET and HEAD')
})
