// A replay client that talks to a registry the way BuildKit v0.24 does (see
// /work/shared/buildkit-requests.md): no ping, HEAD before every PUT, POST + one PUT per blob,
// mounts with ?mount&from, manifests HEADed with `Accept: <type>, */*` before their PUT.
// Every request is recorded as "METHOD pattern -> status" for comparison with the recording.
import { ACCEPT_ALL_MANIFESTS, allBlobs, allManifests, type Blob, type Content, type Descriptor, type HttpResponse, type Manifest, request, withQuery } from '../../test/support/index.js'

const USER_AGENT = 'buildkit/v0.24 (wharf-conformance replay)'

export class ReplayError extends Error {}

export class BuildkitReplay {
  readonly base: string
  readonly log: string[] = []
  constructor(base: string) { this.base = base.replace(/\/+$/, '') }

  private async send(method: string, pathOrUrl: string, pattern: string, headers: Record<string, string>, body?: Buffer): Promise<HttpResponse> {
    const url = new URL(pathOrUrl, `${this.base}/`).toString()
    const res = await request(this.base, url, { method, headers: { 'User-Agent': USER_AGENT, ...headers }, body, timeoutMs: 120_000 })
    this.log.push(`${pattern} -> ${res.status}`)
    return res
  }

  private fail(what: string, res: HttpResponse): never {
    throw new ReplayError(`${what}: ${res.describe()}`)
  }

  /** HEAD by tag with every manifest type: containerd's resolver needs all three headers. */
  async resolve(repo: string, tag: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    const res = await this.send('HEAD', `/v2/${repo}/manifests/${tag}`, 'HEAD /v2/<name>/manifests/<tag>', { Accept: ACCEPT_ALL_MANIFESTS })
    if (res.status === 404) return undefined
    if (res.status !== 200) this.fail(`resolve ${repo}:${tag}`, res)
    const digest = res.header('docker-content-digest')
    const mediaType = res.header('content-type')?.split(';')[0]
    const size = Number(res.header('content-length'))
    if (!digest || !mediaType || !Number.isInteger(size)) this.fail('resolve: Docker-Content-Digest, Content-Type and Content-Length are required', res)
    return { digest, mediaType, size }
  }

  async fetchManifest(repo: string, desc: Descriptor): Promise<Buffer> {
    const res = await this.send('GET', `/v2/${repo}/manifests/${desc.digest}`, 'GET /v2/<name>/manifests/<digest>', { Accept: `${desc.mediaType}, */*` })
    if (res.status !== 200) this.fail(`GET manifest ${desc.digest}`, res)
    return res.body
  }

  async fetchBlob(repo: string, desc: Descriptor): Promise<Buffer> {
    const res = await this.send('GET', `/v2/${repo}/blobs/${desc.digest}`, 'GET /v2/<name>/blobs/<digest>', { Accept: `${desc.mediaType}, */*` })
    if (res.status !== 200) this.fail(`GET blob ${desc.digest}`, res)
    return res.body
  }

  /**
   * BuildKit's blob push, in its phases: HEAD every blob, then for the missing ones a mount (when
   * a source repository is known) or a POST, then one PUT of each whole blob.
   */
  async pushBlobs(repo: string, blobs: readonly Blob[], mounts: ReadonlyMap<string, string> = new Map()): Promise<void> {
    const missing: Blob[] = []
    for (const blob of blobs) {
      const head = await this.send('HEAD', `/v2/${repo}/blobs/${blob.digest}`, 'HEAD /v2/<name>/blobs/<digest>', {})
      if (head.status === 404) missing.push(blob)
      else if (head.status !== 200) this.fail(`HEAD blob ${blob.digest}`, head)
    }
    const sessions: Array<[Blob, string]> = []
    for (const blob of missing) {
      const from = mounts.get(blob.digest)
      const res = from === undefined
        ? await this.send('POST', `/v2/${repo}/blobs/uploads/`, 'POST /v2/<name>/blobs/uploads/', { 'Content-Length': '0' }, Buffer.alloc(0))
        : await this.send('POST', `/v2/${repo}/blobs/uploads/?mount=${blob.digest}&from=${from}`,
          'POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<name>', { 'Content-Length': '0' }, Buffer.alloc(0))
      if (from !== undefined && res.status === 201) continue
      if (res.status !== 202) this.fail(from === undefined ? 'POST upload' : `mount ${blob.digest} from ${from}`, res)
      const location = res.header('location')
      if (!location) this.fail('upload without Location', res)
      sessions.push([blob, location])
    }
    for (const [blob, location] of sessions) {
      const put = await this.send('PUT', withQuery(location, { digest: blob.digest }), 'PUT /v2/<name>/blobs/uploads/<upload-id>?digest=<digest>',
        { 'Content-Type': 'application/octet-stream' }, blob.data)
      if (put.status !== 201) this.fail(`PUT blob ${blob.digest}`, put)
    }
  }

  /** HEAD with `Accept: <type>` and the wildcard type; a 200 with the same digest skips the PUT. */
  async pushManifest(repo: string, reference: string, manifest: Manifest): Promise<boolean> {
    const kind = reference.startsWith('sha256:') ? '<digest>' : '<tag>'
    const head = await this.send('HEAD', `/v2/${repo}/manifests/${reference}`, `HEAD /v2/<name>/manifests/${kind}`, { Accept: `${manifest.mediaType}, */*` })
    if (head.status === 200 && head.header('docker-content-digest') === manifest.digest) return false
    if (head.status !== 200 && head.status !== 404) this.fail(`HEAD manifest ${reference}`, head)
    const put = await this.send('PUT', `/v2/${repo}/manifests/${reference}`, `PUT /v2/<name>/manifests/${kind}`, { 'Content-Type': manifest.mediaType }, manifest.body)
    if (put.status !== 201) this.fail(`PUT manifest ${reference}`, put)
    if (put.header('docker-content-digest') !== undefined && put.header('docker-content-digest') !== manifest.digest) this.fail('PUT manifest digest', put)
    return true
  }

  /** Blobs (mounting those listed in `mounts`), children by digest, then the top manifest by tag. */
  async pushContent(repo: string, tag: string, content: Content, mounts: ReadonlyMap<string, string> = new Map()): Promise<void> {
    await this.pushBlobs(repo, allBlobs(content), mounts)
    const manifests = allManifests(content)
    for (const m of manifests.slice(0, -1)) await this.pushManifest(repo, m.digest, m)
    await this.pushManifest(repo, tag, content.manifest)
  }

  /** Pattern → count. */
  counts(): Map<string, number> {
    const out = new Map<string, number>()
    for (const line of this.log) out.set(line, (out.get(line) ?? 0) + 1)
    return out
  }
}

/** Expands the recording's "2x PATTERN" shorthand. */
export function expand(lines: readonly string[]): string[] {
  return lines.flatMap((line) => {
    const m = /^(\d+)x (.*)$/.exec(line.trim())
    return m ? Array<string>(Number(m[1])).fill(m[2]!) : [line.trim()]
  })
}

export function countsOf(lines: readonly string[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of expand(lines)) out.set(line, (out.get(line) ?? 0) + 1)
  return out
}
