/**
 * The web UI over HTTP against a real server without access control: status codes, content types,
 * escaping, cache headers, CSP, hashed assets, HTML 404s beside the JSON APIs, the admin pages and
 * their same-origin forms. (With access control: session.test.ts.)
 */
import t, { type Test } from 'tap'
import { configBlob, makeBlob, makeImage, MediaTypes, request, startTestServer } from '../support/index.js'
import { assetHref, HOSTILE, seed } from './seed.js'

const { wharf, client } = await startTestServer(t)
const seeded = await seed(client)
const get = (path: string, headers: Record<string, string> = {}) => request(wharf.url, path, { headers })

function expectPage(t: Test, res: Awaited<ReturnType<typeof get>>, status = 200): string {
  t.equal(res.status, status, `${res.url} → ${status}`)
  t.equal(res.header('content-type'), 'text/html; charset=utf-8')
  t.equal(res.header('cache-control'), 'no-cache')
  t.match(res.header('content-security-policy'), /default-src 'self'/)
  t.notMatch(res.header('content-security-policy'), /unsafe-inline/)
  return res.text()
}

t.test('repositories: listed with counts, filtered by ?q=, links to each', async (t) => {
  const page = expectPage(t, await get('/'))
  t.match(page, '<a href="/repositories/team/app">team/app</a>')
  t.match(page, 'tools/hostile')
  t.match(page, '2 repositories')
  t.notMatch(page, 'Log in', 'no login without access control')
  const filtered = expectPage(t, await get('/?q=TEAM'))
  t.match(filtered, 'team/app')
  t.notMatch(filtered, 'tools/hostile')
  t.match(filtered, '1 matching')
  t.match(expectPage(t, await get('/?q=nothing-like-it')), 'No repository matches.')
})

t.test('a repository: tags with kinds, pull commands for this host, export links', async (t) => {
  const page = expectPage(t, await get('/repositories/team/app'))
  for (const tag of ['v1', 'latest', 'buildcache']) t.match(page, `>${tag}</a>`)
  t.match(page, '>index</span>')
  t.match(page, '>BuildKit cache</span>')
  t.match(page, `data-copy="docker pull ${wharf.address}/team/app:v1"`)
  t.match(page, `data-copy="podman pull ${wharf.address}/team/app:v1"`)
  t.match(page, `data-copy="crane digest ${wharf.address}/team/app:v1"`)
  t.match(page, `data-copy="${wharf.address}/team/app@${seeded.indexDigest}"`)
  t.match(page, '/_wharf/v1/repositories/team/app/export?reference=v1&amp;format=oci')
  t.match(page, 'linux/amd64')
  t.match(page, 'data-delete-repo="team/app"', 'open registry: delete offered')
  const byTime = expectPage(t, await get('/repositories/team/app?sort=time'))
  t.ok(byTime.indexOf('>buildcache</a>') < byTime.indexOf('>v1</a>'), 'newest first')
  const filtered = expectPage(t, await get('/repositories/team/app?q=late'))
  t.match(filtered, '>latest</a>')
  t.notMatch(filtered, '>v1</a>')
})

t.test('an index: platforms link to their manifests, attestation labelled, referrers listed, raw manifest', async (t) => {
  const page = expectPage(t, await get(`/repositories/team/app/manifests/${seeded.indexDigest}`))
  t.match(page, `href="/repositories/team/app/manifests/${seeded.amd64Digest}"`)
  t.match(page, `href="/repositories/team/app/manifests/${seeded.arm64Digest}"`)
  t.match(page, '>attestation</span>')
  t.match(page, '<td><span class="muted">for</span> <span class="mono">linux/amd64</span></td>', 'an attestation names the platform it describes')
  t.notMatch(page, 'unknown/unknown')
  t.match(page, `href="/repositories/team/app/manifests/${seeded.signatureDigest}"`)
  t.match(page, 'application/vnd.dev.cosign.artifact.sig.v1+json')
  t.match(page, '&quot;schemaVersion&quot;: 2', 'raw manifest pretty-printed and escaped')
  const child = expectPage(t, await get(`/repositories/team/app/manifests/${seeded.amd64Digest}`))
  t.match(child, '[&quot;/bin/app&quot;]')
  t.match(child, 'MODE=prod')
  t.match(child, 'COPY app /bin/app')
  t.match(child, '<time datetime="2026-11-30T12:00:00Z">2026-11-30 12:00 UTC</time>', 'config times read like the other pages')
  t.notMatch(child, 'Artifact type', 'an image is not labelled with its config type')
  const signature = expectPage(t, await get(`/repositories/team/app/manifests/${seeded.signatureDigest}`))
  t.match(signature, `href="/repositories/team/app/manifests/${seeded.indexDigest}"`, 'subject linked')
  const cache = expectPage(t, await get(`/repositories/team/app/manifests/${seeded.cacheDigest}`))
  t.match(cache, 'BuildKit build cache')
})

t.test('hostile labels and environment come out escaped', async (t) => {
  const page = expectPage(t, await get(`/repositories/tools/hostile/manifests/${seeded.hostileDigest}`))
  t.notMatch(page, HOSTILE)
  t.notMatch(page, '<script>alert')
  t.notMatch(page, '<img src=x')
  t.match(page, '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;')
  const query = expectPage(t, await get(`/?q=${encodeURIComponent('"><script>x</script>')}`))
  t.notMatch(query, '<script>x</script>')
  t.match(query, 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"')
})

t.test('assets: hashed names, immutable, right types; other names 404', async (t) => {
  const page = (await get('/')).text()
  for (const [kind, type] of [['css', 'text/css; charset=utf-8'], ['js', 'text/javascript; charset=utf-8']] as const) {
    const href = assetHref(page, kind)
    t.match(href, new RegExp(`^/assets/app\\.[0-9a-f]{12}\\.${kind}$`))
    const res = await get(href)
    t.equal(res.status, 200)
    t.equal(res.header('content-type'), type)
    t.equal(res.header('cache-control'), 'public, max-age=31536000, immutable')
    t.ok(res.bodyLength > 500)
  }
  const icon = /<link rel="icon" href="([^"]+)"/.exec(page)![1]!
  t.equal((await get(icon)).header('content-type'), 'image/svg+xml')
  expectPage(t, await get('/assets/app.000000000000.css'), 404)
})

t.test('unknown pages are HTML 404s; /v2/ and /_wharf/ keep JSON', async (t) => {
  t.match(expectPage(t, await get('/no/such/page', { accept: 'text/html' }), 404), 'Not found')
  const scripted = await get('/no/such/page')
  t.equal(scripted.status, 404, 'a client that does not ask for HTML...')
  t.match(scripted.header('content-type'), /^application\/json/, '...gets the JSON error')
  expectPage(t, await get('/repositories/team/nothing'), 404)
  expectPage(t, await get(`/repositories/team/app/manifests/sha256:${'0'.repeat(64)}`), 404)
  expectPage(t, await get('/repositories/Bad_Name'), 404)
  for (const path of ['/v2/nothing/here', '/_wharf/v1/nothing']) {
    const res = await get(path)
    t.equal(res.status, 404)
    t.match(res.header('content-type'), /^application\/json/)
  }
  t.equal((await get('/login')).status, 404, 'no login page without access control')
})

t.test('admin pages: usage bars, gc status; gc forms only from this origin', async (t) => {
  const usage = expectPage(t, await get('/usage'))
  t.match(usage, 'team/app')
  t.match(usage, /class="excl w\d+"/)
  t.match(usage, 'Last collection freed<b>none yet</b>', 'no dry run on a page view: the last report, none before any')
  t.match(expectPage(t, await get('/gc')), 'No collection is running.')
  const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'dryRun=true' } as const
  const crossSite = await request(wharf.url, '/gc', { ...form, headers: { ...form.headers, origin: 'http://evil.example' } })
  t.equal(crossSite.status, 403, 'cross-site form refused')
  const preview = await request(wharf.url, '/gc', { ...form, headers: { ...form.headers, origin: wharf.url } })
  t.match(expectPage(t, preview), 'Preview: what would go')
  t.equal((await client.get('/v2/team/app/manifests/v1', { accept: 'application/vnd.oci.image.index.v1+json' })).status, 200, 'a preview removes nothing')
})

t.test('usage: 50 repositories a page largest first, one repository\'s tags, a 404 for an unknown one', async (t) => {
  t.match(expectPage(t, await get('/usage')), /A collection would free<b>[^<]+<\/b><span class="muted">preview of <time/, 'the preview above: what a collection would free, and when')
  // 50 more repositories, each one blob larger than the one before: 52 in all, two pages.
  for (let i = 0; i < 50; i++) await client.pushContent(`many/r${String(i).padStart(2, '0')}`, 'v1', makeImage(MediaTypes.ociManifest, configBlob({}), [makeBlob(100 + i * 10)]))
  const first = expectPage(t, await get('/usage'))
  const rows = (page: string) => [...page.matchAll(/<th scope="row" class="name"><a href="\/repositories\/([^"]+)">/g)].map((m) => m[1])
  t.equal(rows(first).length, 50, 'a page holds 50 repositories')
  t.match(first, 'Largest first: 1–50 of 52 repositories')
  t.match(first, 'href="/usage?page=2" rel="next"')
  const second = expectPage(t, await get('/usage?page=2'))
  t.equal(rows(second).length, 2)
  const many = Array.from({ length: 50 }, (_, i) => `many/r${String(i).padStart(2, '0')}`)
  t.same([...rows(first), ...rows(second)].sort(), [...many, 'team/app', 'tools/hostile'].sort(), 'every repository once')
  t.ok(rows(first).indexOf('many/r49') < rows(first).indexOf('many/r10'), 'largest first')
  t.same(rows(expectPage(t, await get('/usage?page=99'))), rows(second), 'past the end: the last page')
  const detail = expectPage(t, await get('/usage?repository=team/app'))
  t.match(detail, '<th scope="row" class="name mono">v1</th>')
  t.match(detail, '<th scope="row" class="name mono">latest</th>')
  expectPage(t, await get('/usage?repository=no/such'), 404)
  const collect = await request(wharf.url, '/gc', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: wharf.url }, body: 'dryRun=false' })
  t.equal(collect.status, 200)
  t.match(expectPage(t, await get('/usage')), /Last collection freed<b>0 B<\/b><span class="muted"><time datetime="\d{4}-/, 'after a collection: what it freed, and when')
})

t.test('import page: the form with its contract field names', async (t) => {
  const page = expectPage(t, await get('/import'))
  t.match(page, 'name="repository"')
  t.match(page, 'name="tags"')
  t.match(page, 'type="file" name="archive"')
  t.match(page, 'role="status"')
})
