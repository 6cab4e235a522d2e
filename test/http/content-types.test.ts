// Every answer's Content-Type, byte for byte: oras 1.2 compares the referrers type exactly and
// falls back to the tag schema on anything else; manifests echo the type they were pushed as.
import t from 'tap'
import {
  MediaTypes, descriptor, dockerManifest, makeBlob, manifestOf, ociIndex, ociManifest, uniqueRepo, startTestServer,
} from '../support/index.js'

const { client } = await startTestServer(t)

t.test('referrers: exactly application/vnd.oci.image.index.v1+json, with and without referrers or a filter', async (t) => {
  const repo = uniqueRepo('ctype')
  const { manifest } = await client.pushImage(repo, { tag: 'app' })
  const empty = await client.pushBlob(repo, makeBlob('{}'))
  const referrer = ociManifest({
    artifactType: 'application/vnd.example.sig', config: descriptor(empty, MediaTypes.ociEmpty), layers: [descriptor(empty, MediaTypes.ociEmpty)],
    subject: descriptor(manifest, MediaTypes.ociManifest),
  })
  await client.pushManifest(repo, referrer.digest, referrer)
  for (const path of [
    `/v2/${repo}/referrers/${manifest.digest}`,
    `/v2/${repo}/referrers/${manifest.digest}?artifactType=application%2Fvnd.example.sig`,
    `/v2/${repo}/referrers/${makeBlob('nothing refers to this').digest}`,
  ]) {
    const res = await client.get(path)
    t.equal(res.status, 200, path)
    t.equal(res.header('content-type'), MediaTypes.ociIndex, path)
  }
})

t.test('manifests: the stored media type exactly, on GET and HEAD, whatever parameters the PUT carried', async (t) => {
  const repo = uniqueRepo('ctype')
  const { manifest, config } = await client.pushImage(repo)
  const docker = dockerManifest(descriptor(config, MediaTypes.dockerConfig), [])
  await client.pushManifest(repo, 'docker', docker)
  const index = ociIndex([descriptor(manifest, MediaTypes.ociManifest)])
  await client.pushManifest(repo, 'index', index)
  // No mediaType field: the type comes from the Content-Type, whose parameters are dropped.
  const bare = ociManifest({ config: descriptor(config, MediaTypes.ociConfig), layers: [], omitMediaType: true, annotations: { bare: 'yes' } })
  t.equal((await client.putManifest(repo, 'bare', bare, { contentType: `${MediaTypes.ociManifest}; charset=utf-8` })).status, 201)
  for (const [tag, type] of [['docker', MediaTypes.dockerManifest], ['index', MediaTypes.ociIndex], ['bare', MediaTypes.ociManifest]] as const) {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = method === 'GET' ? await client.get(`/v2/${repo}/manifests/${tag}`) : await client.head(`/v2/${repo}/manifests/${tag}`)
      t.equal(res.status, 200, `${method} ${tag}`)
      t.equal(res.header('content-type'), type, `${method} ${tag}`)
    }
  }
})

t.test('JSON answers (base, tags, catalog, errors) are exactly application/json', async (t) => {
  const repo = uniqueRepo('ctype')
  await client.pushImage(repo, { tag: 'v1' })
  const cases: Array<[string, string, number]> = [
    ['GET', '/v2/', 200],
    ['GET', `/v2/${repo}/tags/list`, 200],
    ['GET', '/v2/_catalog', 200],
    ['GET', `/v2/${repo}/manifests/missing`, 404],
    ['GET', `/v2/${repo}/blobs/${makeBlob('absent').digest}`, 404],
    ['GET', '/v2/Bad_Name/tags/list', 400],
    ['GET', '/v2/nothing/here/at/all', 404],
    ['GET', `/v2/${repo}/tags/list?n=x`, 400],
    ['GET', '/v2/a%ZZ/tags/list', 400],
    ['PATCH', `/v2/${repo}/tags/list`, 405],
  ]
  for (const [method, path, status] of cases) {
    const res = await client.request(path, { method })
    t.equal(res.status, status, `${method} ${path}`)
    t.equal(res.header('content-type'), 'application/json', `${method} ${path}`)
  }
  const refused = await client.putManifest(repo, 'broken', manifestOf('{"schemaVersion":', MediaTypes.ociManifest))
  t.equal(refused.status, 400)
  t.equal(refused.header('content-type'), 'application/json', 'an error after a PUT body')
})

t.test('blobs are application/octet-stream', async (t) => {
  const repo = uniqueRepo('ctype')
  const blob = await client.pushBlob(repo, makeBlob(300))
  for (const res of [await client.get(`/v2/${repo}/blobs/${blob.digest}`), await client.head(`/v2/${repo}/blobs/${blob.digest}`)]) {
    t.equal(res.status, 200)
    t.equal(res.header('content-type'), 'application/octet-stream')
  }
})
