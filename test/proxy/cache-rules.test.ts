// The cache's rules: tags re-validated after their TTL (digests never), one upstream fetch for
// concurrent pulls of a blob, the `ns` query parameter and mirror mode reaching the same cache,
// and cached content under garbage collection, fsck and disk usage.
import t from 'tap'
import {
  ACCEPT_ALL_MANIFESTS, configBlob, digestOf, errorBody, makeBlob, makeImage, MediaTypes, runCli, sleep, waitFor,
  CredentialedClient, tempDir,
} from '../support/index.js'
import { basic, htpasswdLine } from '../auth/auth-server.js'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { PREFIX, settleLogs, startProxy, startUpstream } from './proxy-support.js'

t.test('a tag is served from the cache within its TTL and re-validated after it; a digest never', async (t) => {
  const upstream = await startUpstream(t)
  const first = makeImage(MediaTypes.ociManifest, configBlob({ v: 1 }), [makeBlob(1000)])
  await upstream.client.pushContent('team/app', 'latest', first)
  const proxy = await startProxy(t, [{ url: upstream.wharf.url, tagTtlSeconds: 3 }])
  const repo = `${PREFIX}/team/app`
  const digestOfTag = async (): Promise<string | undefined> => (await proxy.client.get(`/v2/${repo}/manifests/latest`, { Accept: ACCEPT_ALL_MANIFESTS })).header('docker-content-digest')

  t.equal(await digestOfTag(), first.manifest.digest)
  const second = makeImage(MediaTypes.ociManifest, configBlob({ v: 2 }), [makeBlob(1000)])
  await upstream.client.pushContent('team/app', 'latest', second)
  await settleLogs()
  const asked = upstream.requests('HEAD', '/v2/team/app/manifests/latest') + upstream.requests('GET', '/v2/team/app/manifests/latest')
  t.equal(await digestOfTag(), first.manifest.digest, 'within the TTL: the cached digest, though the tag moved upstream')
  await settleLogs()
  t.equal(upstream.requests('HEAD', '/v2/team/app/manifests/latest') + upstream.requests('GET', '/v2/team/app/manifests/latest'), asked, 'the upstream was not asked')
  await sleep(3200)
  t.equal(await digestOfTag(), second.manifest.digest, 'after the TTL: the upstream\'s new digest')
  await settleLogs()
  t.equal(upstream.requests('HEAD', '/v2/team/app/manifests/latest'), 2, 'the tag was re-validated with a HEAD')

  const old = await proxy.client.get(`/v2/${repo}/manifests/${first.manifest.digest}`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(old.status, 200, 'the old manifest by digest still serves')
  t.ok(old.body.equals(first.manifest.body))

  // An unchanged tag past its TTL is confirmed by a HEAD alone; with the upstream down the cached tag serves, stale.
  await sleep(3200)
  const gets = upstream.requests('GET', `/v2/team/app/manifests/${second.manifest.digest}`)
  t.equal(await digestOfTag(), second.manifest.digest)
  await settleLogs()
  t.equal(upstream.requests('GET', `/v2/team/app/manifests/${second.manifest.digest}`), gets, 'confirmed without fetching the body again')
  await upstream.wharf.stop()
  await sleep(3200)
  t.equal(await digestOfTag(), second.manifest.digest, 'upstream down after the TTL: the cached tag')
  // The log arrives through a pipe: wait for it rather than assume it is read by now.
  t.ok(await waitFor('the stale answer in the log', async () => proxy.wharf.logs.some((line) => line.includes('serving the cached tag, stale')), 5000), 'and it is logged')
})

t.test('concurrent pulls of one blob share one upstream GET; every client gets the right bytes', async (t) => {
  const upstream = await startUpstream(t)
  const layer = makeBlob(8 * 1024 * 1024)
  const image = makeImage(MediaTypes.ociManifest, configBlob(), [layer])
  await upstream.client.pushContent('team/big', 'v1', image)
  const proxy = await startProxy(t, [{ url: upstream.wharf.url }])
  const pulls = await Promise.all(Array.from({ length: 6 }, () => proxy.client.getBlob(`${PREFIX}/team/big`, layer.digest)))
  for (const [i, res] of pulls.entries()) {
    t.equal(res.status, 200, `pull ${i}`)
    t.equal(digestOf(res.body), layer.digest, `pull ${i}: the blob's bytes`)
  }
  await settleLogs()
  t.equal(upstream.requests('GET', `/blobs/${layer.digest}`), 1, 'one upstream GET')
  const later = await proxy.client.getBlob(`${PREFIX}/team/big`, layer.digest, { Range: 'bytes=10-19' })
  t.equal(later.status, 206)
  t.ok(later.body.equals(layer.data.subarray(10, 20)), 'a range of the cached blob')
  await settleLogs()
  t.equal(upstream.requests('GET', `/blobs/${layer.digest}`), 1, 'served locally from then on')

  // The same layer in another upstream repository: stored once, linked there once the upstream confirms it has it.
  await upstream.client.pushContent('team/big2', 'v1', makeImage(MediaTypes.ociManifest, configBlob({ other: true }), [layer]))
  const other = await proxy.client.getBlob(`${PREFIX}/team/big2`, layer.digest)
  t.equal(other.status, 200)
  t.equal(digestOf(other.body), layer.digest)
  await settleLogs()
  t.equal(upstream.requests('GET', `/blobs/${layer.digest}`), 1, 'not fetched again for another repository')
  t.equal((await proxy.client.getBlob(`${PREFIX}/team/big2`, digestOf('not in team/big2'))).status, 404, 'a digest the upstream repository lacks stays unknown')
})

t.test('a Range request of a blob not cached yet fetches it whole, then serves the range', async (t) => {
  const upstream = await startUpstream(t)
  const layer = makeBlob(100_000)
  await upstream.client.pushContent('team/ranged', 'v1', makeImage(MediaTypes.ociManifest, configBlob(), [layer]))
  const proxy = await startProxy(t, [{ url: upstream.wharf.url }])
  const res = await proxy.client.getBlob(`${PREFIX}/team/ranged`, layer.digest, { Range: 'bytes=1000-1999' })
  t.equal(res.status, 206)
  t.equal(res.header('content-range'), `bytes 1000-1999/${layer.size}`)
  t.ok(res.body.equals(layer.data.subarray(1000, 2000)))
  await upstream.wharf.stop()
  const whole = await proxy.client.getBlob(`${PREFIX}/team/ranged`, layer.digest)
  t.equal(digestOf(whole.body), layer.digest, 'the whole blob was stored')
})

t.test('?ns= and mirror mode reach the same cache as the prefixed name', async (t) => {
  const upstream = await startUpstream(t)
  const image = makeImage(MediaTypes.ociManifest, configBlob(), [makeBlob(5000)])
  await upstream.client.pushContent('library/alpine', '3', image)
  const proxy = await startProxy(t, [{ url: upstream.wharf.url, mirror: true }])

  const ns = await proxy.client.get(`/v2/library/alpine/manifests/3?ns=${PREFIX}`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(ns.status, 200, 'containerd\'s ?ns=')
  t.equal(ns.header('oci-namespace'), PREFIX, 'OCI-Namespace names the ns used')
  t.equal(ns.header('docker-content-digest'), image.manifest.digest)
  const nsBlob = await proxy.client.get(`/v2/library/alpine/blobs/${image.layers[0]!.digest}?ns=${PREFIX}`)
  t.equal(nsBlob.status, 200)
  t.equal(nsBlob.header('oci-namespace'), PREFIX)
  t.equal(digestOf(nsBlob.body), image.layers[0]!.digest)
  const catalog = await proxy.client.catalog()
  t.ok(catalog.includes(`${PREFIX}/library/alpine`), 'cached under the prefixed name')
  t.notOk(catalog.includes('library/alpine'), 'not under the unprefixed one')

  await upstream.wharf.stop()
  const mirrored = await proxy.client.get('/v2/library/alpine/manifests/3', { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(mirrored.status, 200, 'registry-mirrors\' unprefixed name: served from the same cache with the upstream down')
  t.equal(mirrored.header('oci-namespace'), undefined, 'no ns, no OCI-Namespace')
  t.ok(mirrored.body.equals(image.manifest.body))
  const prefixed = await proxy.client.getBlob(`${PREFIX}/library/alpine`, image.layers[0]!.digest)
  t.equal(prefixed.status, 200, 'and the prefixed name sees what ns= cached')
  t.equal(digestOf(prefixed.body), image.layers[0]!.digest)
  t.equal((await proxy.client.getBlob('library/alpine', image.layers[0]!.digest)).status, 200, 'and so does the mirror')

  const other = await proxy.client.get(`/v2/library/alpine/manifests/3?ns=other.example`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(other.header('oci-namespace'), undefined, 'an ns that is no configured prefix is ignored')

  // A repository stored here is served as it is, never from the mirror's upstream; pushing a new
  // one works with the upstream down (its blob HEADs are answered here: unknown).
  const local = makeImage(MediaTypes.ociManifest, configBlob({ local: true }), [makeBlob(10)])
  await proxy.client.pushContent('library/mine', 'v1', local)
  const mine = await proxy.client.get('/v2/library/mine/manifests/v1', { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(mine.status, 200)
  t.equal(mine.header('docker-content-digest'), local.manifest.digest)
})

t.test('with access control, an ns= pull needs pull on the prefixed name', async (t) => {
  const upstream = await startUpstream(t)
  const image = makeImage(MediaTypes.ociManifest, configBlob(), [makeBlob(100)])
  await upstream.client.pushContent('library/alpine', '3', image)
  const dir = await tempDir('proxy-auth')
  const htpasswd = path.join(dir, 'htpasswd')
  await writeFile(htpasswd, `${htpasswdLine('cached', 'pw1')}\n${htpasswdLine('plain', 'pw2')}\n`)
  const proxy = await startProxy(t, [{ url: upstream.wharf.url, mirror: true }], {
    config: { auth: { htpasswd, rules: [{ repositories: `${PREFIX}/**`, users: ['cached'], actions: ['pull'] }, { repositories: 'library/**', users: ['plain'], actions: ['pull'] }] } },
  })
  const cached = new CredentialedClient(proxy.wharf.url, { headers: { authorization: basic('cached', 'pw1') } })
  const plain = new CredentialedClient(proxy.wharf.url, { headers: { authorization: basic('plain', 'pw2') } })
  t.equal((await cached.get(`/v2/library/alpine/manifests/3?ns=${PREFIX}`, { Accept: ACCEPT_ALL_MANIFESTS })).status, 200, 'pull on the prefixed name')
  const refused = await plain.get(`/v2/library/alpine/manifests/3?ns=${PREFIX}`, { Accept: ACCEPT_ALL_MANIFESTS })
  t.equal(refused.status, 403, 'pull on the unprefixed name is not enough')
  t.equal(errorBody(refused)?.errors[0]?.code, 'DENIED')
  t.equal((await plain.get('/v2/library/alpine/manifests/3', { Accept: ACCEPT_ALL_MANIFESTS })).status, 403, 'nor through the mirror')
  t.equal((await cached.get('/v2/library/alpine/manifests/3', { Accept: ACCEPT_ALL_MANIFESTS })).status, 200, 'the mirror with pull on the prefixed name')
})

t.test('cached manifests without their blobs: garbage collection keeps them, fsck is clean, du marks the repository', async (t) => {
  const upstream = await startUpstream(t)
  const image = makeImage(MediaTypes.ociManifest, configBlob(), [makeBlob(4000), makeBlob(5000)])
  await upstream.client.pushContent('team/lazy', 'v1', image)
  const proxy = await startProxy(t, [{ url: upstream.wharf.url }], { config: { gc: { intervalSeconds: 0, graceSeconds: 0 } } })
  const repo = `${PREFIX}/team/lazy`
  t.equal((await proxy.client.get(`/v2/${repo}/manifests/v1`, { Accept: ACCEPT_ALL_MANIFESTS })).status, 200)
  const report = await proxy.client.gc()
  t.same(report.manifestsRemoved, [], 'the tagged cached manifest is kept')
  t.equal((await proxy.client.get(`/v2/${repo}/manifests/v1`, { Accept: ACCEPT_ALL_MANIFESTS })).status, 200)
  const layer = await proxy.client.getBlob(repo, image.layers[0]!.digest)
  t.equal(digestOf(layer.body), image.layers[0]!.digest, 'a blob fetched after the collection')
  await proxy.client.gc()
  t.equal((await proxy.client.headBlob(repo, image.layers[0]!.digest)).status, 200, 'a fetched blob its kept manifest references stays')
  await proxy.wharf.stop()

  const fsck = await runCli(['fsck', '--json', '--config', proxy.configFile, '--storage', proxy.wharf.storage])
  t.equal(fsck.code, 0, fsck.stdout + fsck.stderr)
  const fsckReport = JSON.parse(fsck.stdout) as { ok: boolean; missingReferences: unknown[]; notYetCached: number }
  t.same(fsckReport.missingReferences, [])
  t.equal(fsckReport.notYetCached, 2, 'the config and the layer not pulled yet are reported as such')
  const du = await runCli(['du', '--json', '--config', proxy.configFile, '--storage', proxy.wharf.storage])
  t.equal(du.code, 0, du.stderr)
  const usage = JSON.parse(du.stdout) as { repositories: Array<{ name: string; cached?: boolean }> }
  t.match(usage.repositories.find((r) => r.name === repo), { name: repo, cached: true }, 'the repository is marked cached')
})
