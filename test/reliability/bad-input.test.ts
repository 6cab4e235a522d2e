/**
 * Bad input (issue #5): a corpus of malformed and hostile requests generated from tables. Each
 * must get a 4xx with the right error code (spec JSON body for registry errors), reveal nothing
 * internal, and leave the store exactly as it was (catalog, tags, blobs/ files, uploads/ count).
 * Requests fetch would refuse to send (bad Content-Length, raw bytes in paths, huge headers) go
 * over raw node:net sockets. The corpus counts 5xx answers: there must be none.
 */
import net from 'node:net'
import t from 'tap'
import { descriptor, digestOf, errorBody, makeBlob, MediaTypes, ociIndex, ociManifest, request, snapshot, startWharf, type StoreSnapshot, tempDir, withQuery, writeConfig, type HttpResponse } from '../support/index.js'
import { leaks, printFigures } from './harness.js'

interface Case {
  readonly name: string
  readonly method: string
  readonly path: string
  readonly headers?: Record<string, string | number>
  readonly body?: Buffer | string
  /** Sent verbatim over a socket instead (request line, headers and body). */
  readonly raw?: Buffer
  readonly status: number | readonly number[]
  /** Expected spec error code; undefined: any (or no) body, e.g. node's own 400/431. */
  readonly code?: string | readonly string[]
  /** Change in the number of upload files this case is allowed to make (its own session ends). */
  readonly uploadsDelta?: number
}

const MANIFEST_MAX = 64 * 1024
const storage = await tempDir('bad')
const config = await writeConfig(storage, { limits: { manifestMaxBytes: MANIFEST_MAX }, http: { maxHeaderBytes: 16384 }, gc: { intervalSeconds: 0 } })
const server = await startWharf({ storage, extraArgs: ['--config', config] })
t.teardown(() => server.stop({ removeStorage: true }))
const url = server.url
const REPO = 'bad/repo'
const OTHER = 'bad/other'

// --- fixtures: an image in REPO, a blob only in OTHER, sessions in various states -------------
const cfg = makeBlob(JSON.stringify({ architecture: 'amd64', os: 'linux' }))
const layer = makeBlob(5000)
const foreign = makeBlob(3000)
for (const [repo, b] of [[REPO, cfg], [REPO, layer], [OTHER, foreign]] as const) {
  const res = await request(url, `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.data })
  if (res.status !== 201) throw new Error(`fixture push ${res.status}`)
}
const good = ociManifest({ config: descriptor(cfg, MediaTypes.ociConfig), layers: [descriptor(layer)] })
if ((await request(url, `/v2/${REPO}/manifests/v1`, { method: 'PUT', body: good.body, headers: { 'content-type': MediaTypes.ociManifest } })).status !== 201) throw new Error('fixture manifest')
async function session(repo: string, bytes: number): Promise<string> {
  const start = await request(url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
  let location = start.header('location')!
  if (bytes > 0) location = (await request(url, location, { method: 'PATCH', body: Buffer.alloc(bytes, 7) })).header('location')!
  return location
}
const live = await session(REPO, 10) // 10 bytes received
const otherSession = await session(OTHER, 0)
const otherId = otherSession.slice(otherSession.lastIndexOf('/') + 1)
const completed = await session(REPO, 0)
{
  const b = makeBlob(100)
  const res = await request(url, withQuery(completed, { digest: b.digest }), { method: 'PUT', body: b.data })
  if (res.status !== 201) throw new Error('fixture completion')
}

// --- the tables ----------------------------------------------------------------------------------
const cases: Case[] = []
const add = (c: Case): void => { cases.push(c) }
const hex = (n: number, ch = 'a'): string => ch.repeat(n)
const goodHex = digestOf('x').slice(7)

const badNames = [
  'Upper/case', 'UPPER', 'a..b', 'a//b', 'a/../b', '..', 'a/..', '%2e%2e/x', 'a%2Fb', 'a%2fb', '-lead', 'trail-', '_x', 'x_', 'a___b',
  'a.-b', 'a-.b', '.hidden', 'a/.b', 'a%20b', '%C3%A4', '%FF', 'a:b', 'a@b', 'a+b', 'a!b', 'a~b', hex(256), `${'a/'.repeat(127)}ab`,
  `${hex(250)}/${hex(10)}`, 'a.', 'a/-b',
]
/** Malformed percent-encoding (not UTF-8) is refused before routing: 400 UNSUPPORTED "malformed request path". */
const malformed = (s: string): boolean => { try { decodeURIComponent(s); return false } catch { return true } }
for (const name of badNames) {
  const code = malformed(name) ? ['NAME_INVALID', 'UNSUPPORTED'] : 'NAME_INVALID'
  add({ name: `name ${name.slice(0, 40)}: tags/list`, method: 'GET', path: `/v2/${name}/tags/list`, status: 400, code })
  add({ name: `name ${name.slice(0, 40)}: start upload`, method: 'POST', path: `/v2/${name}/blobs/uploads/`, status: 400, code })
  add({ name: `name ${name.slice(0, 40)}: manifest PUT`, method: 'PUT', path: `/v2/${name}/manifests/latest`, body: good.body, headers: { 'content-type': MediaTypes.ociManifest }, status: 400, code })
  add({ name: `name ${name.slice(0, 40)}: blob HEAD`, method: 'HEAD', path: `/v2/${name}/blobs/${good.digest}`, status: 400 })
}

const badTags = ['-x', '.x', hex(129), 'a%20b', 'tag%2Fx', '%C3%A4', 'a*b', 'a$b', '%00', 'a%0Ab', 'a%FF']
for (const tag of badTags) {
  add({ name: `tag ${tag.slice(0, 30)}: PUT`, method: 'PUT', path: `/v2/${REPO}/manifests/${tag}`, body: good.body, headers: { 'content-type': MediaTypes.ociManifest }, status: 400, code: malformed(tag) ? ['TAG_INVALID', 'UNSUPPORTED'] : 'TAG_INVALID' })
  add({ name: `tag ${tag.slice(0, 30)}: ?tag=`, method: 'PUT', path: `/v2/${REPO}/manifests/${good.digest}?tag=${tag}`, body: good.body, headers: { 'content-type': MediaTypes.ociManifest }, status: 400, code: 'TAG_INVALID' })
}

const badDigests = [
  `sha256:${hex(63)}`, `sha256:${hex(65)}`, `sha256:${hex(64, 'A')}`, `SHA256:${goodHex}`, `md5:${hex(32)}`, `sha384:${hex(96)}`,
  `sha256:${hex(64, 'z')}`, `sha512:${hex(64)}`, `sha256:${goodHex}x`, 'sha256:', `sha256${goodHex}`, `sha256::${goodHex}`, `sha256:${hex(64, 'g')}`,
  `sha256%3A${hex(64, 'G')}`,
]
for (const d of badDigests) {
  add({ name: `digest ${d.slice(0, 20)}: blob GET`, method: 'GET', path: `/v2/${REPO}/blobs/${d}`, status: 400, code: 'DIGEST_INVALID' })
  add({ name: `digest ${d.slice(0, 20)}: blob DELETE`, method: 'DELETE', path: `/v2/${REPO}/blobs/${d}`, status: 400, code: 'DIGEST_INVALID' })
  if (d.includes(':') || d.includes('%3A')) add({ name: `digest ${d.slice(0, 20)}: manifest GET`, method: 'GET', path: `/v2/${REPO}/manifests/${d}`, status: 400, code: 'DIGEST_INVALID' })
  add({ name: `digest ${d.slice(0, 20)}: monolithic POST`, method: 'POST', path: `/v2/${REPO}/blobs/uploads/?digest=${d}`, body: 'data', status: 400, code: 'DIGEST_INVALID' })
  add({ name: `digest ${d.slice(0, 20)}: complete`, method: 'PUT', path: withQuery(live, { digest: d }), headers: { 'content-length': 0 }, status: 400, code: 'DIGEST_INVALID' })
  add({ name: `digest ${d.slice(0, 20)}: referrers`, method: 'GET', path: `/v2/${REPO}/referrers/${d}`, status: 400, code: 'DIGEST_INVALID' })
}
add({ name: 'monolithic digest mismatch', method: 'POST', path: `/v2/${REPO}/blobs/uploads/?digest=${digestOf('other')}`, body: 'data', status: 400, code: 'DIGEST_INVALID' })
add({ name: 'monolithic sha512 mismatch', method: 'POST', path: `/v2/${REPO}/blobs/uploads/?digest=sha512:${hex(128)}`, body: 'data', status: 400, code: 'DIGEST_INVALID' })
add({ name: 'PUT without digest', method: 'PUT', path: live, headers: { 'content-length': 0 }, status: 400, code: 'DIGEST_INVALID' })

// Manifests.
const putManifest = (name: string, body: Buffer | string, contentType: string | undefined, code: string | readonly string[], status: number | readonly number[] = 400, reference = 'newtag'): void => {
  add({ name: `manifest: ${name}`, method: 'PUT', path: `/v2/${REPO}/manifests/${reference}`, body, headers: contentType !== undefined ? { 'content-type': contentType } : {}, status, code })
}
const goodText = good.body.toString()
for (const cut of [0, 1, 2, 5, 10, 20, 40, 60, 80, 100, 150, 200, goodText.length - 20, goodText.length - 2, goodText.length - 1]) {
  putManifest(`truncated at ${cut}`, goodText.slice(0, cut), MediaTypes.ociManifest, 'MANIFEST_INVALID')
}
for (const junk of ['{', '}', '[', '{"schemaVersion":2,}', "{'schemaVersion':2}", 'nul', 'NaN', '{"a":1}{"b":2}', '\u0000', ' ', '{"schemaVersion":2', '{"schemaVersion":2 "config":{}}']) {
  putManifest(`malformed ${JSON.stringify(junk).slice(0, 30)}`, junk, MediaTypes.ociManifest, 'MANIFEST_INVALID')
}
for (const json of ['null', 'true', '2', '"manifest"', '[]', `[${goodText}]`]) putManifest(`not an object: ${json.slice(0, 20)}`, json, MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('deeply nested arrays', `${'['.repeat(30_000)}${']'.repeat(30_000)}`, MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('deeply nested objects', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`, MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('deeply nested platform', `{"schemaVersion":2,"mediaType":"${MediaTypes.ociIndex}","manifests":[{"mediaType":"${MediaTypes.ociManifest}","digest":"${digestOf('nope')}","size":1,"platform":${'{"a":'.repeat(9_000)}1${'}'.repeat(9_000)}}]}`, MediaTypes.ociIndex, 'MANIFEST_INVALID') // deeper than MANIFEST_MAX_DEPTH (1000)
const doc = JSON.parse(goodText) as Record<string, unknown>
const variant = (patch: Record<string, unknown>): string => JSON.stringify({ ...doc, ...patch })
for (const v of [1, 3, 0, -2, 2.5, '2', null, [2], { v: 2 }]) putManifest(`schemaVersion ${JSON.stringify(v)}`, variant({ schemaVersion: v }), MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('schemaVersion missing', JSON.stringify({ ...doc, schemaVersion: undefined }), MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('schema1 content type', goodText, MediaTypes.dockerSchema1, 'MANIFEST_INVALID')
putManifest('schema1 signed content type', goodText, MediaTypes.dockerSchema1Signed, 'MANIFEST_INVALID')
putManifest('schema1 body', JSON.stringify({ schemaVersion: 1, name: REPO, tag: 'x', architecture: 'amd64', fsLayers: [], history: [] }), undefined, 'MANIFEST_INVALID')
putManifest('schema1 body with v2 type', JSON.stringify({ schemaVersion: 1, name: REPO, fsLayers: [] }), MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('schema1 mediaType in body', variant({ mediaType: MediaTypes.dockerSchema1 }), undefined, 'MANIFEST_INVALID')
putManifest('header index, body manifest', goodText, MediaTypes.ociIndex, 'MANIFEST_INVALID')
putManifest('header docker, body oci', goodText, MediaTypes.dockerManifest, 'MANIFEST_INVALID')
putManifest('body index type, manifest shape', variant({ mediaType: MediaTypes.ociIndex }), undefined, 'MANIFEST_INVALID')
putManifest('unknown mediaType, no shape', JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-unknown' }), 'application/x-unknown', 'MANIFEST_INVALID')
putManifest('unknown content type, no type, no shape', JSON.stringify({ schemaVersion: 2 }), 'text/plain', 'MANIFEST_INVALID')
putManifest('mediaType a number', variant({ mediaType: 5 }), undefined, 'MANIFEST_INVALID')
putManifest('mediaType an object', variant({ mediaType: {} }), undefined, 'MANIFEST_INVALID')
putManifest('image with manifests field', variant({ manifests: [] }), MediaTypes.ociManifest, 'MANIFEST_INVALID')
const cfgDesc = descriptor(cfg, MediaTypes.ociConfig) as unknown as Record<string, unknown>
const descriptorMutations: Array<[string, Record<string, unknown>]> = [
  ['no digest', { digest: undefined }], ['digest number', { digest: 5 }], ['digest uppercase', { digest: cfg.digest.toUpperCase() }],
  ['digest short', { digest: cfg.digest.slice(0, 70) }], ['digest md5', { digest: `md5:${hex(32)}` }], ['size negative', { size: -1 }],
  ['size float', { size: 1.5 }], ['size string', { size: String(cfg.size) }], ['size huge', { size: 2 ** 60 }], ['size missing', { size: undefined }],
  ['mediaType missing', { mediaType: undefined }], ['mediaType empty', { mediaType: '' }], ['mediaType number', { mediaType: 1 }],
  ['annotations array', { annotations: ['a'] }], ['annotation number', { annotations: { a: 1 } }], ['urls string', { urls: 'http://x' }],
  ['urls numbers', { urls: [1] }], ['artifactType number', { artifactType: 3 }],
]
for (const [what, patch] of descriptorMutations) {
  putManifest(`config descriptor ${what}`, variant({ config: JSON.parse(JSON.stringify({ ...cfgDesc, ...patch })) }), MediaTypes.ociManifest, 'MANIFEST_INVALID')
  putManifest(`layer descriptor ${what}`, variant({ layers: [JSON.parse(JSON.stringify({ ...descriptor(layer), ...patch }))] }), MediaTypes.ociManifest, 'MANIFEST_INVALID')
}
for (const [what, patch] of [['config null', { config: null }], ['config array', { config: [] }], ['config string', { config: 'x' }], ['layers object', { layers: {} }],
  ['layers string', { layers: 'x' }], ['layers of null', { layers: [null] }], ['annotations string', { annotations: 'x' }], ['annotations nested', { annotations: { a: { b: 'c' } } }],
  ['subject invalid', { subject: { digest: 'x' } }], ['artifactType object', { artifactType: {} }]] as const) {
  putManifest(what, variant(patch as Record<string, unknown>), MediaTypes.ociManifest, 'MANIFEST_INVALID')
}
const unknownBlob = makeBlob('never pushed')
putManifest('unknown config blob', variant({ config: descriptor(unknownBlob, MediaTypes.ociConfig) }), MediaTypes.ociManifest, 'MANIFEST_BLOB_UNKNOWN')
putManifest('unknown layer blob', variant({ layers: [descriptor(unknownBlob)] }), MediaTypes.ociManifest, 'MANIFEST_BLOB_UNKNOWN')
putManifest('foreign-repository layer', variant({ layers: [descriptor(foreign)] }), MediaTypes.ociManifest, 'MANIFEST_BLOB_UNKNOWN')
putManifest('foreign-repository config', variant({ config: descriptor(foreign, MediaTypes.ociConfig) }), MediaTypes.ociManifest, 'MANIFEST_BLOB_UNKNOWN')
putManifest('layer size mismatch', variant({ layers: [{ ...descriptor(layer), size: layer.size + 1 }] }), MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('config size mismatch', variant({ config: { ...cfgDesc, size: 1 } }), MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('index of unknown manifest', ociIndex([descriptor(makeBlob('nope'), MediaTypes.ociManifest)]).body, MediaTypes.ociIndex, 'MANIFEST_BLOB_UNKNOWN')
putManifest('index of foreign blob', ociIndex([descriptor(foreign, 'application/x-thing')]).body, MediaTypes.ociIndex, 'MANIFEST_BLOB_UNKNOWN')
putManifest('index manifests not array', JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: {} }), MediaTypes.ociIndex, 'MANIFEST_INVALID')
putManifest('digest reference mismatch', goodText, MediaTypes.ociManifest, 'DIGEST_INVALID', 400, digestOf('something else'))
putManifest('sha512 reference mismatch', goodText, MediaTypes.ociManifest, 'DIGEST_INVALID', 400, `sha512:${hex(128)}`)
putManifest('over the size limit', `{"schemaVersion":2,"pad":"${'x'.repeat(MANIFEST_MAX)}"}`, MediaTypes.ociManifest, 'SIZE_INVALID', 413)
putManifest('empty body', '', MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('invalid UTF-8 outside strings', Buffer.concat([Buffer.from('{"schemaVersion":2,'), Buffer.from([0xff, 0xfe]), Buffer.from('}')]), MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('invalid UTF-8 inside an annotation', Buffer.concat([Buffer.from(goodText.slice(0, -1)), Buffer.from(',"annotations":{"a":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}}')]), MediaTypes.ociManifest, 'MANIFEST_INVALID')
putManifest('UTF-16 body', Buffer.from(goodText, 'utf16le'), MediaTypes.ociManifest, 'MANIFEST_INVALID')

// Pagination.
for (const endpoint of ['/v2/_catalog', `/v2/${REPO}/tags/list`]) {
  for (const n of ['-1', 'abc', '1e3', '1.5', '', '+5', '0x10', '%20']) {
    add({ name: `n=${n} on ${endpoint}`, method: 'GET', path: `${endpoint}?n=${n}`, status: 400, code: 'PAGINATION_NUMBER_INVALID' })
  }
}
add({ name: 'tags of an unknown repository', method: 'GET', path: '/v2/bad/nothing/tags/list', status: 404, code: 'NAME_UNKNOWN' })

// Content-Range on a session holding 10 bytes.
const chunk = (range: string, body: Buffer, headers: Record<string, string | number> = {}, status: number | readonly number[] = 416, code: string = 'RANGE_INVALID'): void => {
  add({ name: `Content-Range ${range} (${body.length} bytes)`, method: 'PATCH', path: live, body, headers: { 'content-range': range, ...headers }, status, code })
}
chunk('20-29', Buffer.alloc(10)) // gap
chunk('5-14', Buffer.alloc(10)) // overlap
chunk('0-9', Buffer.alloc(10)) // rewrite
chunk('9-18', Buffer.alloc(10)) // overlap by one
chunk('11-20', Buffer.alloc(10)) // gap by one
chunk('10-999999999999999', Buffer.alloc(10)) // overflow past the body
chunk('10-19', Buffer.alloc(5)) // range longer than the body
chunk('10-12', Buffer.alloc(10)) // range shorter than the body
chunk('10-5', Buffer.alloc(10)) // reversed
chunk('abc', Buffer.alloc(10))
chunk('-1-8', Buffer.alloc(10))
chunk('10-', Buffer.alloc(10))
chunk('bytes 10-19/5x', Buffer.alloc(10))
chunk('9999999999999999-99999999999999999', Buffer.alloc(10))
chunk('10-19, 20-29', Buffer.alloc(10))
add({ name: 'PUT completion with a gap', method: 'PUT', path: withQuery(live, { digest: digestOf('x') }), body: Buffer.alloc(10), headers: { 'content-range': '30-39' }, status: 416, code: 'RANGE_INVALID' })

// Sessions: foreign, unknown, malformed, completed.
for (const [method, extra] of [['GET', {}], ['PATCH', { body: 'abc' }], ['PUT', { headers: { 'content-length': 0 } }], ['DELETE', {}]] as const) {
  const pathWithDigest = (p: string): string => method === 'PUT' ? withQuery(p, { digest: digestOf('abc') }) : p
  add({ name: `${method} another repository's session`, method, path: pathWithDigest(`/v2/${REPO}/blobs/uploads/${otherId}`), ...extra, status: 404, code: 'BLOB_UPLOAD_UNKNOWN' })
  add({ name: `${method} after completion`, method, path: pathWithDigest(completed), ...extra, status: 404, code: 'BLOB_UPLOAD_UNKNOWN' })
  for (const id of ['00000000-0000-0000-0000-000000000000', '..%2F..%2Fmetadata.db', '%2E%2E', hex(65), 'x'.repeat(3000), '%FF%FE', 'a%00b']) {
    add({ name: `${method} session ${id.slice(0, 30)}`, method, path: pathWithDigest(`/v2/${REPO}/blobs/uploads/${id}`), ...extra, ...(malformed(id) ? { status: 400, code: 'UNSUPPORTED' } : { status: 404, code: 'BLOB_UPLOAD_UNKNOWN' }) })
  }
}

// Methods and endpoints.
for (const [method, path] of [['PATCH', `/v2/${REPO}/tags/list`], ['POST', `/v2/${REPO}/manifests/v1`], ['PATCH', `/v2/${REPO}/manifests/v1`], ['DELETE', '/v2/_catalog'],
  ['POST', '/v2/_catalog'], ['PUT', `/v2/${REPO}/blobs/${layer.digest}`], ['PATCH', `/v2/${REPO}/blobs/${layer.digest}`], ['DELETE', `/v2/${REPO}/referrers/${good.digest}`],
  ['PUT', `/v2/${REPO}/blobs/uploads/`], ['POST', '/v2/']] as const) {
  add({ name: `${method} ${path.slice(0, 50)}`, method, path, status: [404, 405], code: 'UNSUPPORTED' })
}
for (const path of ['/v2/x', '/v3/', '/v2/a/b/c', '/_wharf/v1/nothing', '/v2/bad/repo/blobs/', '/v2/bad/repo/manifests/', '/v2/bad/repo/tags/']) {
  add({ name: `unknown endpoint ${path}`, method: 'GET', path, status: 404 })
}
add({ name: 'manifest GET of a foreign blob digest', method: 'GET', path: `/v2/${REPO}/manifests/${foreign.digest}`, status: 404, code: 'MANIFEST_UNKNOWN' })
add({ name: 'blob GET of a foreign blob', method: 'GET', path: `/v2/${REPO}/blobs/${foreign.digest}`, status: 404, code: 'BLOB_UNKNOWN' })
add({ name: 'blob DELETE of a foreign blob', method: 'DELETE', path: `/v2/${REPO}/blobs/${foreign.digest}`, status: 404, code: 'BLOB_UNKNOWN' })
add({ name: 'range beyond the blob', method: 'GET', path: `/v2/${REPO}/blobs/${layer.digest}`, headers: { range: 'bytes=999999-' }, status: 416, code: 'RANGE_INVALID' })
add({ name: 'suffix range of zero', method: 'GET', path: `/v2/${REPO}/blobs/${layer.digest}`, headers: { range: 'bytes=-0' }, status: 416, code: 'RANGE_INVALID' })

// Raw sockets: what node:http clients refuse to send.
const rawReq = (head: string, body: Buffer | string = ''): Buffer => Buffer.concat([Buffer.from(head.replace(/\n/g, '\r\n')), Buffer.from(body)])
const rawCases: Array<[string, Buffer, number | readonly number[], string?]> = [
  ['Content-Length negative', rawReq(`PATCH ${live} HTTP/1.1\nHost: x\nContent-Length: -1\n\n`), 400],
  ['Content-Length text', rawReq(`PATCH ${live} HTTP/1.1\nHost: x\nContent-Length: abc\n\n`), 400],
  ['Content-Length float', rawReq(`PATCH ${live} HTTP/1.1\nHost: x\nContent-Length: 1.5\n\n`), 400],
  ['two different Content-Lengths', rawReq(`PATCH ${live} HTTP/1.1\nHost: x\nContent-Length: 3\nContent-Length: 5\n\nabcde`), 400],
  ['Content-Length with Transfer-Encoding', rawReq(`PATCH ${live} HTTP/1.1\nHost: x\nContent-Length: 3\nTransfer-Encoding: chunked\n\n3\r\nabc\r\n0\r\n\r\n`), 400],
  ['bad chunked encoding', rawReq(`PATCH ${live} HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nContent-Range: 10-12\n\nzz\r\nabc\r\n0\r\n\r\n`), 400],
  // The 3 bytes fail the digest; the 3 that follow are a malformed pipelined request, which ends the connection.
  ['Content-Length shorter than the monolithic body', rawReq(`POST /v2/${REPO}/blobs/uploads/?digest=${digestOf('abcdef')} HTTP/1.1\nHost: x\nContent-Length: 3\n\nabcdef`), 400],
  ['Content-Length shorter than the body, then closed', rawReq(`POST /v2/${REPO}/blobs/uploads/?digest=${digestOf('abcdef')} HTTP/1.1\nHost: x\nContent-Length: 3\nConnection: close\n\nabc`), 400, 'DIGEST_INVALID'],
  ['Content-Length longer than the body, then closed', rawReq(`POST /v2/${REPO}/blobs/uploads/?digest=${digestOf('abc')} HTTP/1.1\nHost: x\nContent-Length: 30\n\nabc`), [0, 400]],
  ['raw 0xFF in the name', Buffer.concat([Buffer.from('GET /v2/'), Buffer.from([0xff, 0xfe]), Buffer.from('/tags/list HTTP/1.1\r\nHost: x\r\n\r\n')]), 400],
  ['raw 0xFF in a tag', Buffer.concat([Buffer.from(`GET /v2/${REPO}/manifests/`), Buffer.from([0xff]), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]), 400],
  ['raw UTF-8 in a digest', Buffer.concat([Buffer.from(`GET /v2/${REPO}/blobs/sha256:`), Buffer.from('ä'.repeat(32)), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]), 400],
  ['NUL in the path', Buffer.concat([Buffer.from(`GET /v2/${REPO}`), Buffer.from([0]), Buffer.from('/tags/list HTTP/1.1\r\nHost: x\r\n\r\n')]), 400],
  ['huge header value', rawReq(`GET /v2/ HTTP/1.1\nHost: x\nX-Big: ${'a'.repeat(20_000)}\n\n`), 431],
  ['many headers', rawReq(`GET /v2/ HTTP/1.1\nHost: x\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'b'.repeat(100)}`).join('\n')}\n\n`), 431],
  ['huge request line', rawReq(`GET /v2/${'a'.repeat(20_000)}/tags/list HTTP/1.1\nHost: x\n\n`), [414, 431]],
  ['header without colon', rawReq(`GET /v2/ HTTP/1.1\nHost: x\nnocolon\n\n`), 400],
  ['header with CR in value', rawReq(`GET /v2/ HTTP/1.1\nHost: x\nX-A: a\rb\n\n`), 400],
  ['HTTP/1.1 without Host', rawReq('GET /v2/ HTTP/1.1\n\n'), 400],
  ['unknown HTTP version', rawReq('GET /v2/ HTTP/9.9\nHost: x\n\n'), [400, 505]],
  ['garbage request', rawReq('\u0001\u0002\u0003 garbage\n\n'), 400],
  ['absolute-form to another host', rawReq(`GET http://evil.example/v2/${REPO}/tags/list?n=abc HTTP/1.1\nHost: x\n\n`), [400, 404]],
]
for (const [name, raw, status, code] of rawCases) add({ name: `raw: ${name}`, method: 'RAW', path: '', raw, status, ...(code !== undefined ? { code } : {}) })

// --- the run -------------------------------------------------------------------------------------
/** `halfClose`: end our side after sending (a client that stops mid-body). */
async function sendRaw(raw: Buffer, halfClose: boolean): Promise<{ status: number; text: string }> {
  const { port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), '127.0.0.1')
    const chunks: Buffer[] = []
    const finish = (): void => {
      const text = Buffer.concat(chunks).toString('latin1')
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resolve({ status: match ? Number(match[1]) : 0, text })
    }
    socket.setTimeout(3000, () => socket.destroy())
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      // One response is enough: stop at the end of its body.
      const text = Buffer.concat(chunks).toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      if (end === -1) return
      const length = /content-length: (\d+)/i.exec(text.slice(0, end))
      if (length && text.length >= end + 4 + Number(length[1])) socket.destroy()
    })
    socket.on('close', finish)
    socket.on('error', () => undefined)
    if (halfClose) socket.end(raw)
    else socket.write(raw)
  })
}

const repos = [REPO, OTHER]
let fiveXx = 0
let tried = 0
const failures: string[] = []
t.test(`bad-input corpus (${cases.length} requests)`, async (t) => {
  t.ok(cases.length >= 300, `at least 300 cases (${cases.length})`)
  let before: StoreSnapshot = await snapshot(url, storage, repos)
  for (const c of cases) {
    tried++
    let status: number
    let text: string
    let res: HttpResponse | undefined
    if (c.raw !== undefined) {
      ({ status, text } = await sendRaw(c.raw, c.name.includes('longer than the body')))
      await new Promise((resolve) => setTimeout(resolve, 150)) // a dropped connection's clean-up runs after it
    } else {
      res = await request(url, c.path, { method: c.method, ...(c.body !== undefined ? { body: c.body } : {}), headers: c.headers ?? {}, fresh: true })
      status = res.status
      text = res.text()
    }
    const problems: string[] = []
    if (status >= 500) { fiveXx++; problems.push(`5xx: ${status} ${text.slice(0, 300)}`) }
    const statuses = Array.isArray(c.status) ? c.status : [c.status]
    if (!statuses.includes(status)) problems.push(`status ${status}, expected ${statuses.join('/')}: ${text.slice(0, 200)}`)
    if (c.code !== undefined && res !== undefined && c.method !== 'HEAD') {
      const codes = Array.isArray(c.code) ? c.code : [c.code]
      const got = errorBody(res)?.errors[0]?.code
      if (got === undefined || !codes.includes(got)) problems.push(`code ${got ?? '(no spec body)'}, expected ${codes.join('/')}: ${text.slice(0, 200)}`)
    } else if (c.code !== undefined && c.raw !== undefined) {
      if (!text.includes(`"code":"${c.code as string}"`)) problems.push(`code: expected ${c.code as string} in ${text.slice(0, 200)}`)
    }
    const leaked = leaks(text, storage)
    if (leaked.length > 0) problems.push(`reveals ${leaked.join(', ')}`)
    const after = await snapshot(url, storage, repos)
    const expected = { ...before, uploadFiles: before.uploadFiles + (c.uploadsDelta ?? 0) }
    if (JSON.stringify(after) !== JSON.stringify(expected)) problems.push(`store changed: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`.slice(0, 600))
    before = after
    if (problems.length > 0) failures.push(`${c.name}: ${problems.join('; ')}`)
  }
  t.same(failures, [], 'every bad request refused with the right 4xx and no change to the store')
  t.equal(fiveXx, 0, '5xx answers in the corpus')
  // The fixtures are intact.
  const pulled = await request(url, `/v2/${REPO}/manifests/v1`, { headers: { accept: MediaTypes.ociManifest } })
  t.same(pulled.body, good.body, 'the fixture image is untouched')
  t.equal((await request(url, live)).header('range'), '0-9', 'the live session still holds its 10 bytes')
  printFigures('bad-input', { tried, fiveXx, failures: failures.length })
})
