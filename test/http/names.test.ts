import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { descriptor, errorCodes, listFiles, makeBlob, MediaTypes, ociManifest, serverErrors, startTestServer } from '../support/index.js'

const parent = await mkdtemp(path.join(tmpdir(), 'wharf-names-'))
t.teardown(() => rm(parent, { recursive: true, force: true }))
const storage = path.join(parent, 'store')
const { wharf, client } = await startTestServer(t, { storage })

const name255 = ['n'.repeat(60), 'e'.repeat(60), 's'.repeat(60), 't'.repeat(60), 'd'.repeat(11)].join('/')

t.test('nested names up to 255 characters work on every endpoint', async (t) => {
  t.equal(name255.length, 255)
  for (const name of ['a', 'a/b', 'a/b/c/d/e/f/g', 'lib.x/app_1/web--srv/v__2', name255, 'blobs/uploads', 'x/manifests/tags/list', 'x/blobs']) {
    const config = await client.pushBlob(name, makeBlob(JSON.stringify({ name })))
    const layer = await client.pushBlob(name, makeBlob(100))
    const { location } = await client.startUpload(name)
    t.equal(location.startsWith(`/v2/${name}/blobs/uploads/`), true, `${name.slice(0, 40)}: session Location`)
    t.equal((await client.delete(location)).status, 204)
    const m = ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: [descriptor(layer, MediaTypes.ociLayer)] })
    const put = await client.putManifest(name, 'latest', m)
    t.equal(put.status, 201, `${name.slice(0, 40)}: PUT manifest`)
    t.equal(put.header('location'), `/v2/${name}/manifests/${m.digest}`)
    t.ok((await client.get(`/v2/${name}/manifests/latest`)).body.equals(m.body), 'GET manifest')
    t.same(await client.getJson(`/v2/${name}/tags/list`), { name, tags: ['latest'] }, 'tags/list')
    t.equal((await client.get(`/v2/${name}/blobs/${layer.digest}`)).status, 200, 'GET blob')
  }
  const catalog = await client.getJson<{ repositories: string[] }>('/v2/_catalog')
  t.ok(catalog.repositories.includes(name255), 'the 255-character name is in the catalog')
})

t.test('invalid names are 400 NAME_INVALID on every endpoint', async (t) => {
  const digest = makeBlob(1).digest
  const names = [
    `${name255}x`, 'evilname/..', '../evilname', 'evilname/../../etc', '%2e%2e/evilname', 'evilname/%2e%2e', 'evilname/%2E%2E/x', 'evilname%2f..%2fx',
    'evilname//x', '/evilname', 'Evilname', 'evilname/UPPER', 'evilname-', '-evilname', 'evil__name_', 'evil___name', 'evil..name', 'evilname%00', 'evil%20name',
  ]
  for (const name of names) {
    const requests: Array<[string, string]> = [
      ['POST', `/v2/${name}/blobs/uploads/`],
      ['POST', `/v2/${name}/blobs/uploads/?digest=${digest}`],
      ['PUT', `/v2/${name}/manifests/latest`],
      ['GET', `/v2/${name}/manifests/latest`],
      ['GET', `/v2/${name}/tags/list`],
      ['GET', `/v2/${name}/blobs/${digest}`],
      ['GET', `/v2/${name}/referrers/${digest}`],
      ['PATCH', `/v2/${name}/blobs/uploads/abc`],
    ]
    for (const [method, url] of requests) {
      const res = await client.request(url, { method, ...(method === 'GET' ? {} : { body: Buffer.from('{}') }) })
      t.equal(res.status, 400, `${method} ${url.slice(0, 70)}`)
      t.same(errorCodes(res), ['NAME_INVALID'], `${method} ${url.slice(0, 70)}`)
    }
  }
})

t.test('nothing is created outside the storage directory, nor under an invalid name inside it', async (t) => {
  t.same(await readdir(parent), ['store'], 'only the storage directory beside')
  const files = await listFiles(storage)
  t.same(files.filter((f) => /evil/i.test(f)), [], 'no path mentions the invalid names')
  for (const f of files) t.match(f, /^(blobs\/sha(256|512)\/[0-9a-f]{2}\/[0-9a-f]+|uploads\/[A-Za-z0-9-]+|metadata\.db(-wal|-shm)?|[^/]+)$/, `known layout: ${f}`)
  t.equal((await client.get('/v2/')).status, 200)
  t.ok(wharf.child.exitCode === null, 'server still running')
})

t.test('no request ended in a server error (nothing logged at level error)', async (t) => {
  t.same(serverErrors(wharf), [])
})
