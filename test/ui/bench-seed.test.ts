/**
 * The UI seeder (bench/ui/seed.ts) fills a real Wharf with what it says: team/service repositories
 * with their tags, a repository with many tags, buildx's multi-platform index with attestations,
 * a signed image with its SBOM as referrers and a BuildKit cache, all pullable with their digests.
 */
import t from 'tap'
import { seedRegistry, repositoryName } from '../../bench/ui/seed.js'
import { ArtifactTypes } from '../../bench/ui/seed-content.js'
import { digestOf, MediaTypes, startTestServer } from '../support/index.js'

interface OciDoc {
  mediaType: string
  artifactType?: string
  config: { mediaType: string; digest: string }
  layers: Array<{ mediaType: string; digest: string }>
  manifests: Array<{ digest: string; platform?: { os: string; architecture: string }; annotations?: Record<string, string> }>
  subject?: { digest: string }
}

t.test('repository names are unique and read as team/service', async (t) => {
  const names = Array.from({ length: 20_000 }, (_, i) => repositoryName(i))
  t.equal(new Set(names).size, names.length)
  t.ok(names.every((name) => /^[a-z]+\/[a-z-]+(-\d+)?$/.test(name)), 'every name is team/service')
})

t.test('seeds a real Wharf with everything the UI shows', async (t) => {
  const { wharf, client } = await startTestServer(t)
  const seeded = await seedRegistry(wharf.url, { repositories: 40, tagsPerRepository: 3, bigRepositoryTags: 150, concurrency: 8 })

  const catalog = await client.catalog()
  t.same([...catalog].sort(), [...seeded.repositories].sort(), 'the catalog is the repositories it reports')
  t.equal(seeded.repositories.length, 40 + 5)
  t.same((await client.tags(repositoryName(7))).sort(), ['1.7.0', '1.7.1', 'latest'])
  t.equal(seeded.tags, 40 * 3 + 150 + 4)
  t.equal((await client.tags(seeded.big!.repository)).length, 150, 'the big repository has every tag')

  const manifestOf = async (repo: string, ref: string, digest: string): Promise<OciDoc> => {
    const res = await client.get(`/v2/${repo}/manifests/${ref}`, { accept: `${MediaTypes.ociManifest}, ${MediaTypes.ociIndex}` })
    t.equal(res.status, 200, `${repo}:${ref}`)
    t.equal(digestOf(res.body), digest, `${repo}:${ref} has the digest reported`)
    return res.json<OciDoc>()
  }

  // Config with the fields the image page shows.
  const image = await manifestOf(repositoryName(3), 'latest', (await client.head(`/v2/${repositoryName(3)}/manifests/latest`)).header('docker-content-digest')!)
  const config = (await client.getBlob(repositoryName(3), image.config.digest)).json<{ config: Record<string, unknown>; history: unknown[] }>()
  for (const field of ['Env', 'Entrypoint', 'Cmd', 'Labels', 'User', 'WorkingDir']) t.ok(config.config[field], `config has ${field}`)
  t.ok(config.history.length >= 3, 'config has a history')

  const index = await manifestOf(seeded.index.repository, seeded.index.tag, seeded.index.digest)
  t.equal(index.mediaType, MediaTypes.ociIndex)
  t.same(index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`), ['linux/amd64', 'unknown/unknown', 'linux/arm64', 'unknown/unknown'])
  t.same(index.manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest').map((m) => m.annotations!['vnd.docker.reference.digest']),
    [index.manifests[0]!.digest, index.manifests[2]!.digest], 'each attestation names its image')
  for (const child of seeded.index.children) t.equal((await client.head(`/v2/${seeded.index.repository}/manifests/${child}`)).status, 200, `child ${child} is stored`)

  t.same((await client.referrers(seeded.signed.repository, seeded.signed.digest)).sort(), [...seeded.signed.referrers].sort(), 'signature and SBOM are referrers')
  const [signature, sbom] = await Promise.all(seeded.signed.referrers.map((digest) => manifestOf(seeded.signed.repository, digest, digest)))
  t.equal(signature!.artifactType, ArtifactTypes.cosignSignature)
  t.equal(sbom!.artifactType, ArtifactTypes.spdx)
  t.equal(sbom!.subject?.digest, seeded.signed.digest)

  const cache = await manifestOf(seeded.cache.repository, seeded.cache.tag, seeded.cache.digest)
  t.equal(cache.config.mediaType, MediaTypes.buildkitCacheConfig)
  t.same(client.serverErrorResponses, [])
})
