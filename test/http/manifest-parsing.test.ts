// Manifests Go clients (skopeo, containerd, docker) cannot parse are refused with MANIFEST_INVALID
// and nothing is stored, as the reference registry does: a UTF-8 byte-order mark, and nesting
// deeper than Go's encoding/json reads.
import t from 'tap'
import { MediaTypes, descriptor, errorCodes, manifestOf, uniqueRepo, startTestServer } from '../support/index.js'
import { MANIFEST_MAX_DEPTH } from '../../src/oci/manifest.js'

const { client } = await startTestServer(t)

async function base(repo: string): Promise<Record<string, unknown>> {
  const { config } = await client.pushImage(repo)
  return { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: descriptor(config, MediaTypes.ociConfig), layers: [] }
}

/** The document's JSON with `raw` spliced in as the value of an unknown field. */
function withRawField(document: Record<string, unknown>, raw: string): string {
  return `${JSON.stringify(document).slice(0, -1)},"x-unknown":${raw}}`
}

t.test('a UTF-8 byte-order mark: 400 MANIFEST_INVALID, nothing stored', async (t) => {
  const repo = uniqueRepo('parse')
  const document = await base(repo)
  const bom = manifestOf(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(document))]), MediaTypes.ociManifest)
  for (const reference of ['bom', bom.digest]) {
    const put = await client.putManifest(repo, reference, bom)
    t.equal(put.status, 400, `PUT ${reference}`)
    t.same(errorCodes(put), ['MANIFEST_INVALID'])
  }
  t.equal((await client.get(`/v2/${repo}/manifests/bom`)).status, 404, 'no tag')
  t.equal((await client.get(`/v2/${repo}/manifests/${bom.digest}`)).status, 404, 'no manifest')
  const plain = manifestOf(JSON.stringify(document), MediaTypes.ociManifest)
  t.equal((await client.putManifest(repo, 'plain', plain)).status, 201, 'the same manifest without the mark')
})

t.test('200,000 levels of nesting in an unknown field: 400 MANIFEST_INVALID, server unharmed', async (t) => {
  const repo = uniqueRepo('parse')
  const document = await base(repo)
  for (const levels of [200_000, MANIFEST_MAX_DEPTH]) {
    const deep = manifestOf(withRawField(document, `${'['.repeat(levels)}${']'.repeat(levels)}`), MediaTypes.ociManifest)
    const put = await client.putManifest(repo, 'deep', deep)
    t.equal(put.status, 400, `${levels} levels`)
    t.same(errorCodes(put), ['MANIFEST_INVALID'], `${levels} levels`)
    t.equal((await client.get(`/v2/${repo}/manifests/${deep.digest}`)).status, 404, 'not stored')
  }
  const deepest = manifestOf(withRawField(document, `${'['.repeat(MANIFEST_MAX_DEPTH - 1)}${']'.repeat(MANIFEST_MAX_DEPTH - 1)}`), MediaTypes.ociManifest)
  t.equal((await client.putManifest(repo, 'deepest', deepest)).status, 201, `${MANIFEST_MAX_DEPTH} levels in all are accepted`)
  const back = await client.get(`/v2/${repo}/manifests/deepest`)
  t.equal(back.status, 200)
  t.same(back.body, deepest.body, 'stored byte for byte')
  t.equal((await client.get('/v2/')).status, 200, 'the server still answers')
})
