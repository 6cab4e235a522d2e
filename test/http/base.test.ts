import t from 'tap'
import { errorCodes, request, serverErrors, startTestServer } from '../support/index.js'

const { wharf, client } = await startTestServer(t)

t.test('GET /v2/ answers 200 with the API version header', async (t) => {
  for (const path of ['/v2/', '/v2']) {
    const res = await client.get(path)
    t.equal(res.status, 200, path)
    t.equal(res.header('docker-distribution-api-version'), 'registry/2.0')
    t.match(res.header('content-type'), /^application\/json/)
    t.same(res.json(), {})
  }
  const head = await client.head('/v2/')
  t.equal(head.status, 200, 'HEAD /v2/')
  t.equal(head.header('docker-distribution-api-version'), 'registry/2.0')
  t.equal(head.body.length, 0)
})

t.test('unknown routes answer a distribution-spec JSON error, never HTML', async (t) => {
  const cases: Array<[string, string]> = [
    ['GET', '/index.html'],
    ['GET', '/v1/'],
    ['GET', '/v2/foo'],
    ['GET', '/v2/foo/bar'],
    ['GET', '/v2/foo/tags'],
    ['GET', '/v2/foo/blobs/'],
    ['GET', '/v2/foo/manifests/'],
    ['GET', '/v2/foo/blobs/uploads/id/extra'],
    ['POST', '/v2/'],
    ['DELETE', '/v2/'],
    ['OPTIONS', '/v2/'],
    ['GET', '/v3/foo/tags/list'],
    ['PROPFIND', '/v2/'],
  ]
  for (const [method, path] of cases) {
    const res = await client.request(path, { method })
    t.ok(res.status >= 400 && res.status < 500, `${method} ${path}: ${res.status}`)
    t.match(res.header('content-type'), /^application\/json/, `${method} ${path}: JSON`)
    t.notMatch(res.text(), /<html|<!DOCTYPE/i)
    t.ok(errorCodes(res).length > 0, `${method} ${path}: an errors array`)
    t.equal(res.header('docker-distribution-api-version'), 'registry/2.0', `${method} ${path}: API version header`)
  }
  const unknown = await client.get('/v2/foo/bar')
  t.equal(unknown.status, 404)
  t.same(errorCodes(unknown), ['UNSUPPORTED'])
})

t.test('outside the API a browser gets the web UI: its home page and an HTML 404', async (t) => {
  const html = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }
  const home = await client.get('/', html)
  t.equal(home.status, 200)
  t.match(home.header('content-type'), /^text\/html/)
  const missing = await client.get('/index.html', html)
  t.equal(missing.status, 404)
  t.match(missing.header('content-type'), /^text\/html/)
  t.match(missing.text(), /Not found/)
  const api = await client.get('/v2/foo/bar', html)
  t.equal(api.status, 404, 'the API stays JSON whatever the Accept header')
  t.match(api.header('content-type'), /^application\/json/)
})

t.test('unsupported methods on known endpoints answer 405 UNSUPPORTED', async (t) => {
  const digest = `sha256:${'a'.repeat(64)}`
  const cases: Array<[string, string]> = [
    ['POST', '/v2/foo/tags/list'],
    ['PUT', '/v2/_catalog'],
    ['PUT', `/v2/foo/blobs/${digest}`],
    ['PATCH', '/v2/foo/manifests/latest'],
    ['GET', '/v2/foo/blobs/uploads/'],
    ['DELETE', `/v2/foo/referrers/${digest}`],
  ]
  for (const [method, path] of cases) {
    const res = await client.request(path, { method, ...(method === 'GET' ? {} : { body: Buffer.alloc(0) }) })
    t.equal(res.status, 405, `${method} ${path}`)
    t.same(errorCodes(res), ['UNSUPPORTED'], `${method} ${path}`)
  }
})

t.test('malformed percent-encoding in the path answers a distribution-spec JSON error', async (t) => {
  for (const path of ['/v2/foo/manifests/%zz', '/v2/foo/blobs/sha256%3', '/%zz', '/v2/%E0%A4%A/tags/list']) {
    const res = await client.get(path)
    t.equal(res.status, 400, `${path}: 400`)
    t.match(res.header('content-type'), /^application\/json/, `${path}: JSON`)
    t.ok(errorCodes(res).length > 0, `${path}: {"errors":[...]} body, got ${res.text()}`)
    t.equal(res.header('docker-distribution-api-version'), 'registry/2.0', `${path}: API version header`)
  }
})

t.test('the server keeps the connection usable after an error', async (t) => {
  const bad = await request(wharf.url, '/v2/foo/bar')
  t.equal(bad.status, 404)
  const good = await request(wharf.url, '/v2/')
  t.equal(good.status, 200)
})

t.test('no request ended in a server error (nothing logged at level error)', async (t) => {
  t.same(serverErrors(wharf), [])
})
