/**
 * Content for the UI tests: an index of two platforms with a BuildKit attestation manifest, a
 * signature referring to it, a plain image whose config carries hostile labels and environment
 * (markup that must come out escaped), and a BuildKit cache manifest.
 */
import {
  configBlob, imageManifest, makeBlob, makeImage, makeIndex, MediaTypes, type RegistryClient,
} from '../support/index.js'

/** A label value that would run a script if the UI did not escape it. */
export const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)>`

export interface Seeded {
  readonly indexDigest: string
  readonly amd64Digest: string
  readonly arm64Digest: string
  readonly attestationDigest: string
  readonly signatureDigest: string
  readonly hostileDigest: string
  readonly cacheDigest: string
}

export async function seed(client: RegistryClient, repo = 'team/app', other = 'tools/hostile'): Promise<Seeded> {
  const image = (arch: string) => makeImage(MediaTypes.ociManifest, configBlob({
    architecture: arch, os: 'linux', created: '2026-11-30T12:00:00Z',
    config: { Entrypoint: ['/bin/app'], Cmd: ['--serve'], Env: ['PATH=/usr/bin', 'MODE=prod'], Labels: { 'org.opencontainers.image.title': `app ${arch}` } },
    history: [{ created: '2026-11-30T12:00:00Z', created_by: 'COPY app /bin/app' }],
  }), [makeBlob(2048)], { platform: { os: 'linux', architecture: arch } })
  const amd64 = image('amd64')
  const arm64 = image('arm64')
  // BuildKit's provenance: an image manifest in the index, annotated as an attestation of amd64.
  const attestation = makeImage(MediaTypes.ociManifest, makeBlob('{}', { mediaType: MediaTypes.ociConfig }), [makeBlob('{"_type":"https://in-toto.io/Statement/v0.1"}', { mediaType: MediaTypes.inToto })],
    { platform: { os: 'unknown', architecture: 'unknown' } })
  const index = makeIndex(MediaTypes.ociIndex, [amd64, arm64, attestation], {
    childAnnotations: new Map([[attestation, { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64.manifest.digest }]]),
  })
  await client.pushContent(repo, 'v1', index)
  await client.pushContent(repo, 'latest', amd64)
  // A cosign-style signature: an artifact whose subject is the index.
  const sigConfig = makeBlob('{}', { mediaType: MediaTypes.ociEmpty })
  const sigLayer = makeBlob('signature', { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json' })
  await client.pushBlob(repo, sigConfig)
  await client.pushBlob(repo, sigLayer)
  const signature = imageManifest(sigConfig, [sigLayer], { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', subject: index.manifest })
  await client.pushManifest(repo, signature.digest, signature)

  const hostile = makeImage(MediaTypes.ociManifest, configBlob({ config: { Labels: { evil: HOSTILE }, Env: [`X=${HOSTILE}`] } }), [makeBlob(512)])
  await client.pushContent(other, 'v1', hostile)

  // A BuildKit registry cache (image-manifest mode): a cache config, layers as cache records.
  const cacheConfig = makeBlob('{"layers":[],"records":[]}', { mediaType: MediaTypes.buildkitCacheConfig })
  const cacheLayer = makeBlob(256)
  await client.pushBlob(repo, cacheConfig)
  await client.pushBlob(repo, cacheLayer)
  const cache = imageManifest(cacheConfig, [cacheLayer])
  await client.pushManifest(repo, 'buildcache', cache)
  return {
    indexDigest: index.manifest.digest, amd64Digest: amd64.manifest.digest, arm64Digest: arm64.manifest.digest,
    attestationDigest: attestation.manifest.digest, signatureDigest: signature.digest, hostileDigest: hostile.manifest.digest, cacheDigest: cache.digest,
  }
}

/** The href of the page's stylesheet or script (hashed names). */
export function assetHref(page: string, kind: 'css' | 'js'): string {
  const match = kind === 'css' ? /<link rel="stylesheet" href="([^"]+)"/.exec(page) : /<script src="([^"]+)"/.exec(page)
  if (match === null) throw new Error(`no ${kind} asset in the page`)
  return match[1]!
}
