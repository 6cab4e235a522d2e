// The raw-HTTP scenario set of the differential mode: one fixed sequence of requests, run against
// two registries, each answer reduced to what must agree (status, key headers, body).
import { createHash } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import { type Blob, descriptor, digestOf, errorCodes, type HttpResponse, jsonBytes, makeBlob, type Manifest, manifestOf, MediaTypes, RegistryClient, withQuery } from '../test/support/index.js'

/** What is compared of one answer. */
export interface Observation {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** Error codes for 4xx/5xx, parsed JSON for JSON bodies, else sha256 and length of the body. */
  readonly body: unknown
}

const COMPARED_HEADERS = ['content-type', 'docker-content-digest', 'location', 'range', 'content-length', 'oci-subject', 'oci-tag', 'link', 'oci-filters-applied'] as const

/** Reduces an answer: Location made a path with upload ids replaced, Link without its origin. */
export function observe(reg: RegistryClient, res: HttpResponse): Observation {
  const headers: Record<string, string> = {}
  for (const name of COMPARED_HEADERS) {
    const values = res.headerValues(name)
    if (values.length === 0) continue
    // Content-Type is compared byte for byte, parameters included: oras compares the referrers
    // Content-Type exactly, and the spec wants no parameters on manifest and referrers types.
    let value = name === 'oci-tag' ? [...values].sort().join(', ') : res.all(name).join(', ')
    if (name === 'location') {
      const u = new URL(reg.resolve(value))
      value = u.pathname.replace(/\/blobs\/uploads\/[^/]+$/, '/blobs/uploads/<upload-id>')
    }
    if (name === 'link') value = value.replace(/<https?:\/\/[^/]+/, '<')
    // Content-Length of error bodies and of JSON listings depends on the message text: not compared.
    if (name === 'content-length' && (res.status >= 400 || res.header('content-type')?.includes('json') && !/\/manifests\//.test(res.url))) continue
    headers[name] = value
  }
  let body: unknown
  if (res.method === 'HEAD' || res.body.length === 0) body = null
  else if (res.status >= 400) {
    const codes = errorCodes(res)
    body = codes.length > 0 ? { errorCodes: codes.sort() } : { nonJsonError: true }
  } else if (/json/.test(res.header('content-type') ?? '') && !/\/(manifests|blobs)\//.test(new URL(res.url).pathname)) {
    try { body = JSON.parse(res.text()) } catch { body = { unparsable: digestOf(res.body) } }
  } else body = { sha256: digestOf(res.body), length: res.body.length }
  return { status: res.status, headers, body }
}

/** One field in which two observations of a step disagree. */
export interface Difference { readonly step: string; readonly field: string; readonly wharf: unknown; readonly reference: unknown }

/** Where Wharf's and the reference's observations of a step differ: status, each compared header, body. */
export function compare(step: string, wharf: Observation, reference: Observation): Difference[] {
  const out: Difference[] = []
  if (wharf.status !== reference.status) out.push({ step, field: 'status', wharf: wharf.status, reference: reference.status })
  for (const name of new Set([...Object.keys(wharf.headers), ...Object.keys(reference.headers)])) {
    if (wharf.headers[name] !== reference.headers[name]) out.push({ step, field: `header:${name}`, wharf: wharf.headers[name], reference: reference.headers[name] })
  }
  if (!isDeepStrictEqual(wharf.body, reference.body)) out.push({ step, field: 'body', wharf: wharf.body, reference: reference.body })
  return out
}

export interface Step {
  readonly id: string
  readonly what: string
  run(ctx: StepContext): Promise<HttpResponse>
}

/** Per-registry state of one run (upload locations differ between registries). */
export interface StepContext {
  readonly reg: RegistryClient
  readonly state: Map<string, string>
}

/** Deterministic content shared by both runs, so that digests agree. */
export interface Fixture {
  readonly repo: string
  readonly other: string
  readonly chunked: Buffer
  readonly config: Blob
  readonly layer: Blob
  readonly manifest: Manifest
  readonly dockerConfig: Blob
  readonly dockerManifest: Manifest
  readonly index: Manifest
  readonly referrer: Manifest
  readonly dangling: Manifest
}

/** Deterministic pseudo-random bytes: both registries are fresh, so every run can use the same content. */
function bytes(n: number, seed: string): Buffer {
  const parts: Buffer[] = []
  for (let i = 0; parts.length * 32 < n; i++) parts.push(createHash('sha256').update(`${seed}/${i}`).digest())
  return Buffer.concat(parts).subarray(0, n)
}

/** Fixed content and names, so that observed values (digests, names in bodies) are stable across runs. */
export function fixture(namespace = 'conformance/differential'): Fixture {
  const salt = 'wharf-differential-v1'
  const config = makeBlob(jsonBytes({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, salt }), { mediaType: MediaTypes.ociConfig })
  const layer = makeBlob(bytes(2048, 'layer'), { mediaType: MediaTypes.ociLayer })
  const manifest = manifestOf(jsonBytes({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: descriptor(config), layers: [descriptor(layer)] }), MediaTypes.ociManifest)
  const dockerConfig = makeBlob(jsonBytes({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, salt }), { mediaType: MediaTypes.dockerConfig })
  const dockerManifest = manifestOf(jsonBytes({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: descriptor(dockerConfig), layers: [{ ...descriptor(layer), mediaType: MediaTypes.dockerLayer }] }), MediaTypes.dockerManifest)
  const index = manifestOf(jsonBytes({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [
    descriptor(manifest, undefined, { platform: { architecture: 'amd64', os: 'linux' } }),
  ] }), MediaTypes.ociIndex)
  const referrer = manifestOf(jsonBytes({
    schemaVersion: 2, mediaType: MediaTypes.ociManifest, artifactType: 'application/vnd.example.sbom.v1',
    config: descriptor(makeBlob('{}', { mediaType: MediaTypes.ociEmpty })), layers: [descriptor(layer)], subject: descriptor(manifest), annotations: { 'org.example.k': 'v' },
  }), MediaTypes.ociManifest)
  const dangling = manifestOf(jsonBytes({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: descriptor(config), layers: [descriptor(makeBlob(`missing ${salt}`, { mediaType: MediaTypes.ociLayer }))] }), MediaTypes.ociManifest)
  return { repo: `${namespace}/diff`, other: `${namespace}/diff-other`, chunked: bytes(3000, 'chunked'), config, layer, manifest, dockerConfig, dockerManifest, index, referrer, dangling }
}

const octet = { 'Content-Type': 'application/octet-stream' }

/** The scenario set. Step ids are stable: differences.ts refers to them. */
export function steps(f: Fixture): Step[] {
  const r = f.repo
  const chunkDigest = digestOf(f.chunked)
  const start = (key: string, repo = r): Step['run'] => async ({ reg, state }) => {
    const res = await reg.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } })
    state.set(key, res.header('location') ?? '/missing-location')
    return res
  }
  const at = (key: string, fn: (loc: string, ctx: StepContext) => Promise<HttpResponse>, next?: string): Step['run'] => async (ctx) => {
    const res = await fn(ctx.state.get(key) ?? '/missing-location', ctx)
    // Only an upload answer (202 / 204) moves the session; a 201 Location is the blob's URL.
    if (res.header('location') && (res.status === 202 || res.status === 204)) ctx.state.set(next ?? key, res.header('location')!)
    return res
  }
  const putBlob = (blob: Blob): Step['run'] => async ({ reg }) => {
    const s = await reg.request(`/v2/${r}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } })
    return reg.request(withQuery(s.header('location') ?? '', { digest: blob.digest }), { method: 'PUT', headers: octet, body: blob.data })
  }
  const putManifest = (ref: string, m: Manifest, contentType = m.mediaType): Step['run'] => ({ reg }) =>
    reg.request(`/v2/${r}/manifests/${ref}`, { method: 'PUT', headers: { 'Content-Type': contentType }, body: m.body })
  const get = (path: string, headers?: Record<string, string>): Step['run'] => ({ reg }) => reg.get(path, headers)
  const head = (path: string, headers?: Record<string, string>): Step['run'] => ({ reg }) => reg.head(path, headers)
  const del = (path: string): Step['run'] => ({ reg }) => reg.delete(path)
  const oci = { Accept: MediaTypes.ociManifest }

  return [
    { id: 'ping', what: 'GET /v2/', run: get('/v2/') },
    { id: 'unknown-route', what: 'GET of a path outside the API', run: get('/v2/_no/such/route') },
    { id: 'unknown-method', what: 'PATCH /v2/<name>/manifests/<tag>', run: ({ reg }) => reg.request(`/v2/${r}/manifests/latest`, { method: 'PATCH', body: '{}' }) },
    { id: 'invalid-name', what: 'tags/list of an invalid repository name', run: get('/v2/Invalid_Name/tags/list') },
    { id: 'tags-unknown-repo', what: 'tags/list of an unknown repository', run: get(`/v2/${r}-never/tags/list`) },
    { id: 'manifest-unknown-repo', what: 'GET manifest in an unknown repository', run: get(`/v2/${r}-never/manifests/latest`, oci) },
    { id: 'blob-invalid-digest', what: 'GET blob with an invalid digest', run: get(`/v2/${r}/blobs/sha256:xyz`) },
    { id: 'manifest-invalid-reference', what: 'GET manifest with an invalid reference', run: get(`/v2/${r}/manifests/-bad-tag`, oci) },

    { id: 'chunked-post', what: 'POST upload (chunked)', run: start('chunked') },
    { id: 'chunked-patch-1', what: 'PATCH 0-999', run: at('chunked', (loc, { reg }) => reg.request(loc, { method: 'PATCH', headers: { ...octet, 'Content-Range': '0-999' }, body: f.chunked.subarray(0, 1000) })) },
    { id: 'chunked-status', what: 'GET upload status', run: at('chunked', (loc, { reg }) => reg.get(loc)) },
    { id: 'chunked-patch-2', what: 'PATCH 1000-1999', run: at('chunked', (loc, { reg }) => reg.request(loc, { method: 'PATCH', headers: { ...octet, 'Content-Range': '1000-1999' }, body: f.chunked.subarray(1000, 2000) })) },
    { id: 'chunked-patch-nocr', what: 'PATCH without Content-Range (streamed)', run: at('chunked', (loc, { reg }) => reg.request(loc, { method: 'PATCH', headers: octet, body: f.chunked.subarray(2000, 2500) })) },
    { id: 'chunked-put', what: 'closing PUT with the last chunk', run: at('chunked', (loc, { reg }) => reg.request(withQuery(loc, { digest: chunkDigest }), { method: 'PUT', headers: { ...octet, 'Content-Range': '2500-2999' }, body: f.chunked.subarray(2500) })) },
    { id: 'chunked-get-blob', what: 'GET the chunked blob', run: get(`/v2/${r}/blobs/${chunkDigest}`) },
    { id: 'chunked-closed-status', what: 'GET status of a closed upload', run: at('chunked', (loc, { reg }) => reg.get(loc)) },

    { id: 'ooo-post', what: 'POST upload (out of order)', run: start('ooo') },
    { id: 'ooo-patch-1', what: 'PATCH 0-999', run: at('ooo', (loc, { reg }) => reg.request(loc, { method: 'PATCH', headers: { ...octet, 'Content-Range': '0-999' }, body: f.chunked.subarray(0, 1000) })) },
    { id: 'ooo-patch-gap', what: 'PATCH 2000-2999 (gap)', run: at('ooo', (loc, { reg }) => reg.request(loc, { method: 'PATCH', headers: { ...octet, 'Content-Range': '2000-2999' }, body: f.chunked.subarray(2000, 3000) })) },
    { id: 'ooo-status', what: 'GET upload status after the gap', run: at('ooo', (loc, { reg }) => reg.get(loc)) },
    { id: 'ooo-cancel', what: 'DELETE the upload', run: at('ooo', (loc, { reg }) => reg.request(loc, { method: 'DELETE' })) },
    { id: 'ooo-cancelled-status', what: 'GET status of a cancelled upload', run: at('ooo', (loc, { reg }) => reg.get(loc)) },
    { id: 'upload-unknown', what: 'PATCH an unknown upload', run: ({ reg }) => reg.request(`/v2/${r}/blobs/uploads/00000000-0000-4000-8000-000000000000`, { method: 'PATCH', headers: { ...octet, 'Content-Range': '0-9' }, body: Buffer.alloc(10) }) },

    { id: 'mono-config', what: 'POST + PUT config', run: putBlob(f.config) },
    { id: 'mono-layer', what: 'POST + PUT layer', run: putBlob(f.layer) },
    { id: 'mono-docker-config', what: 'POST + PUT Docker config', run: putBlob(f.dockerConfig) },
    { id: 'mono-empty', what: 'POST + PUT the empty descriptor blob {}', run: putBlob(makeBlob('{}', { mediaType: MediaTypes.ociEmpty })) },
    { id: 'mono-wrong-digest', what: 'PUT with a digest that does not match', run: async ({ reg }) => {
      const s = await reg.request(`/v2/${r}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } })
      return reg.request(withQuery(s.header('location') ?? '', { digest: digestOf('other') }), { method: 'PUT', headers: octet, body: Buffer.from('not other') })
    } },
    { id: 'mono-bad-digest-syntax', what: 'PUT with an invalid digest', run: async ({ reg }) => {
      const s = await reg.request(`/v2/${r}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } })
      return reg.request(withQuery(s.header('location') ?? '', { digest: 'sha256:zz' }), { method: 'PUT', headers: octet, body: Buffer.from('x') })
    } },
    { id: 'single-post', what: 'single POST with ?digest=', run: ({ reg }) => {
      const b = f.chunked.subarray(0, 100)
      return reg.request(`/v2/${r}/blobs/uploads/?digest=${digestOf(b)}`, { method: 'POST', headers: octet, body: b })
    } },
    { id: 'head-blob', what: 'HEAD blob', run: head(`/v2/${r}/blobs/${f.layer.digest}`) },
    { id: 'get-blob', what: 'GET blob', run: get(`/v2/${r}/blobs/${f.layer.digest}`) },
    { id: 'get-blob-range', what: 'GET blob with Range', run: ({ reg }) => reg.request(`/v2/${r}/blobs/${f.layer.digest}`, { method: 'GET', headers: { Range: 'bytes=0-99' } }) },
    { id: 'get-blob-if-none-match', what: 'GET blob with If-None-Match of its ETag', run: get(`/v2/${r}/blobs/${f.layer.digest}`, { 'If-None-Match': `"${f.layer.digest}"` }) },
    { id: 'head-blob-unknown', what: 'HEAD unknown blob', run: head(`/v2/${r}/blobs/${digestOf('unknown')}`) },
    { id: 'get-blob-unknown', what: 'GET unknown blob', run: get(`/v2/${r}/blobs/${digestOf('unknown')}`) },
    { id: 'mount', what: 'mount the layer into another repository', run: ({ reg }) => reg.request(`/v2/${f.other}/blobs/uploads/?mount=${f.layer.digest}&from=${r}`, { method: 'POST', headers: { 'Content-Length': '0' } }) },
    { id: 'mount-unknown', what: 'mount an unknown blob', run: ({ reg }) => reg.request(`/v2/${f.other}/blobs/uploads/?mount=${digestOf('unknown')}&from=${r}`, { method: 'POST', headers: { 'Content-Length': '0' } }) },

    { id: 'put-manifest-tag', what: 'PUT OCI manifest by tag', run: putManifest('v1', f.manifest) },
    { id: 'put-manifest-digest', what: 'PUT OCI manifest by digest', run: putManifest(f.manifest.digest, f.manifest) },
    { id: 'put-docker-manifest', what: 'PUT Docker manifest by tag', run: putManifest('docker', f.dockerManifest) },
    { id: 'put-index', what: 'PUT OCI index by tag', run: putManifest('index', f.index) },
    { id: 'put-manifest-dangling', what: 'PUT manifest referring to a missing blob', run: putManifest('dangling', f.dangling) },
    { id: 'put-manifest-invalid', what: 'PUT invalid JSON', run: ({ reg }) => reg.request(`/v2/${r}/manifests/broken`, { method: 'PUT', headers: { 'Content-Type': MediaTypes.ociManifest }, body: '{"schemaVersion": 2,' }) },
    { id: 'put-manifest-digest-mismatch', what: 'PUT manifest to a digest it does not have', run: putManifest(digestOf('other'), f.manifest) },
    { id: 'put-referrer', what: 'PUT manifest with subject', run: putManifest(f.referrer.digest, f.referrer) },
    { id: 'put-multi-tag', what: 'PUT by digest with ?tag=a&tag=b', run: putManifest(`${f.manifest.digest}?tag=multi-b&tag=multi-a`, f.manifest) },

    { id: 'get-manifest-tag', what: 'GET manifest by tag, Accept OCI', run: get(`/v2/${r}/manifests/v1`, oci) },
    { id: 'get-manifest-digest', what: 'GET manifest by digest, Accept OCI', run: get(`/v2/${r}/manifests/${f.manifest.digest}`, oci) },
    { id: 'head-manifest-tag', what: 'HEAD manifest by tag', run: head(`/v2/${r}/manifests/v1`, oci) },
    { id: 'get-manifest-no-accept', what: 'GET OCI manifest without Accept', run: get(`/v2/${r}/manifests/v1`) },
    { id: 'get-manifest-wildcard', what: 'GET OCI manifest with Accept */*', run: get(`/v2/${r}/manifests/v1`, { Accept: '*/*' }) },
    { id: 'get-docker-manifest', what: 'GET Docker manifest, Accept Docker', run: get(`/v2/${r}/manifests/docker`, { Accept: MediaTypes.dockerManifest }) },
    { id: 'get-index', what: 'GET index, Accept index', run: get(`/v2/${r}/manifests/index`, { Accept: MediaTypes.ociIndex }) },
    { id: 'get-manifest-if-none-match', what: 'GET manifest by tag with If-None-Match of its ETag', run: get(`/v2/${r}/manifests/v1`, { ...oci, 'If-None-Match': `"${f.manifest.digest}"` }) },
    { id: 'head-manifest-unknown', what: 'HEAD unknown tag', run: head(`/v2/${r}/manifests/nope`, oci) },
    { id: 'get-manifest-unknown-digest', what: 'GET unknown manifest digest', run: get(`/v2/${r}/manifests/${digestOf('nope')}`, oci) },

    { id: 'tags-list', what: 'tags/list', run: get(`/v2/${r}/tags/list`) },
    { id: 'tags-n2', what: 'tags/list?n=2', run: get(`/v2/${r}/tags/list?n=2`) },
    { id: 'tags-n2-last', what: 'tags/list?n=2&last=index', run: get(`/v2/${r}/tags/list?n=2&last=index`) },
    { id: 'tags-n0', what: 'tags/list?n=0', run: get(`/v2/${r}/tags/list?n=0`) },
    { id: 'referrers', what: 'GET referrers', run: get(`/v2/${r}/referrers/${f.manifest.digest}`) },
    { id: 'referrers-filtered', what: 'GET referrers?artifactType=', run: get(`/v2/${r}/referrers/${f.manifest.digest}?artifactType=application%2Fvnd.example.sbom.v1`) },

    { id: 'delete-tag', what: 'DELETE by tag', run: del(`/v2/${r}/manifests/docker`) },
    { id: 'get-after-delete-tag', what: 'GET the tag after DELETE by tag', run: get(`/v2/${r}/manifests/docker`, { Accept: MediaTypes.dockerManifest }) },
    { id: 'delete-manifest', what: 'DELETE manifest by digest', run: del(`/v2/${r}/manifests/${f.dockerManifest.digest}`) },
    { id: 'get-deleted-manifest', what: 'GET the deleted manifest', run: get(`/v2/${r}/manifests/${f.dockerManifest.digest}`, { Accept: MediaTypes.dockerManifest }) },
    { id: 'delete-manifest-again', what: 'DELETE it again', run: del(`/v2/${r}/manifests/${f.dockerManifest.digest}`) },
    { id: 'delete-blob', what: 'DELETE blob', run: del(`/v2/${r}/blobs/${f.dockerConfig.digest}`) },
    { id: 'get-deleted-blob', what: 'GET the deleted blob', run: get(`/v2/${r}/blobs/${f.dockerConfig.digest}`) },
    { id: 'delete-blob-again', what: 'DELETE the blob again', run: del(`/v2/${r}/blobs/${f.dockerConfig.digest}`) },
    { id: 'tags-after-deletes', what: 'tags/list after the deletes', run: get(`/v2/${r}/tags/list`) },
  ]
}

/** Runs the scenario set against one registry; step id → observation. */
export async function runSteps(base: string, f: Fixture): Promise<Map<string, Observation>> {
  const reg = new RegistryClient(base, { timeoutMs: 60_000 })
  const ctx: StepContext = { reg, state: new Map() }
  const out = new Map<string, Observation>()
  for (const step of steps(f)) {
    const res = await step.run(ctx)
    out.set(step.id, observe(reg, res))
  }
  return out
}
