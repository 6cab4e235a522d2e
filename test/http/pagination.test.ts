// Page limits: `n` above the limit is clamped to it and the listing pages on with Link (the
// distribution-spec allows fewer than n results when a Link header is provided); referrers are
// paged the same way. The server runs
// with a page limit of 3 so that a few entries span pages.
import t from 'tap'
import type { Test } from 'tap'
import { MediaTypes, RegistryClient, descriptor, errorCodes, makeBlob, ociManifest, uniqueRepo, type HttpResponse, startTestServer } from '../support/index.js'

const PAGE_LIMIT = 3
const { client } = await startTestServer(t, { env: { WHARF_LIMITS_PAGEMAXENTRIES: String(PAGE_LIMIT) } })

/** The next-page path of a Link header, checking its shape. */
function nextLink(t: Test, res: HttpResponse): string | undefined {
  const link = res.header('link')
  if (link === undefined) return undefined
  const match = /^<([^>]+)>; rel="next"$/.exec(link)
  t.ok(match, `Link header shape: ${link}`)
  return match?.[1]
}

/** Follows Link from `first`, collecting `key` of every page; every page holds at most the limit. */
async function walk(t: Test, own: RegistryClient, first: string, collect: (res: HttpResponse) => string[]): Promise<string[]> {
  const seen: string[] = []
  let path: string | undefined = first
  for (let pages = 0; path !== undefined && pages < 20; pages++) {
    const res = await own.get(path)
    t.equal(res.status, 200, path)
    const entries = collect(res)
    t.ok(entries.length <= PAGE_LIMIT, `${path}: ${entries.length} entries, at most the limit`)
    seen.push(...entries)
    path = nextLink(t, res)
  }
  return seen
}

const HUGE = ['4', '10000', '9999999999', '10000000000', '99999999999999999999999999999']

t.test('tags/list: n above the limit is clamped and pages on with Link', async (t) => {
  const repo = uniqueRepo('page')
  const { manifest } = await client.pushImage(repo)
  const tags = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
  t.equal((await client.putManifest(repo, manifest.digest, manifest, { query: `?${tags.map((x) => `tag=${x}`).join('&')}` })).status, 201)
  for (const n of HUGE) {
    const res = await client.get(`/v2/${repo}/tags/list?n=${n}`)
    t.equal(res.status, 200, `n=${n}`)
    t.same(res.json<{ tags: string[] }>().tags, tags.slice(0, PAGE_LIMIT), `n=${n}: the first page`)
    t.equal(res.header('link'), `</v2/${repo}/tags/list?n=${PAGE_LIMIT}&last=c>; rel="next"`, `n=${n}: Link to the next page`)
  }
  t.same(await walk(t, client, `/v2/${repo}/tags/list?n=${HUGE.at(-1)}`, (res) => res.json<{ tags: string[] }>().tags), tags, 'every tag once')
  t.same(await walk(t, client, `/v2/${repo}/tags/list`, (res) => res.json<{ tags: string[] }>().tags), tags, 'without n: pages of the limit')
  for (const n of ['-1', '1e3', 'x']) t.same(errorCodes(await client.get(`/v2/${repo}/tags/list?n=${n}`)), ['PAGINATION_NUMBER_INVALID'], `n=${n} is still refused`)
})

t.test('catalog: n above the limit is clamped and pages on with Link (on a server of its own)', async (t) => {
  const { client: own } = await startTestServer(t, { env: { WHARF_LIMITS_PAGEMAXENTRIES: String(PAGE_LIMIT) } })
  const names = ['r1', 'r2', 'r3', 'r4', 'r5']
  for (const name of names) await own.pushBlob(name, makeBlob(4))
  for (const n of HUGE) {
    const res = await own.get(`/v2/_catalog?n=${n}`)
    t.equal(res.status, 200, `n=${n}`)
    t.same(res.json<{ repositories: string[] }>().repositories, names.slice(0, PAGE_LIMIT), `n=${n}`)
    t.equal(res.header('link'), `</v2/_catalog?n=${PAGE_LIMIT}&last=r3>; rel="next"`, `n=${n}: Link`)
  }
  t.same(await walk(t, own, `/v2/_catalog?n=${HUGE.at(-1)}`, (res) => res.json<{ repositories: string[] }>().repositories), names)
})
t.test('referrers: paged with Link at the page limit, every referrer once, filter kept across pages', async (t) => {
  const repo = uniqueRepo('page')
  const { manifest: subject } = await client.pushImage(repo, { tag: 'app' })
  const empty = await client.pushBlob(repo, makeBlob('{}'))
  const expected = new Map<string, string>()
  for (let i = 0; i < 8; i++) {
    const artifactType = i % 2 === 0 ? 'application/vnd.example.even' : 'application/vnd.example.odd'
    const referrer = ociManifest({
      artifactType, config: descriptor(empty, MediaTypes.ociEmpty), layers: [descriptor(empty, MediaTypes.ociEmpty)],
      subject: descriptor(subject, MediaTypes.ociManifest), annotations: { n: String(i) },
    })
    t.equal((await client.putManifest(repo, referrer.digest, referrer)).status, 201)
    expected.set(referrer.digest, artifactType)
  }
  const digests = (res: HttpResponse): string[] => {
    t.equal(res.header('content-type'), MediaTypes.ociIndex)
    return res.json<{ manifests: Array<{ digest: string }> }>().manifests.map((m) => m.digest)
  }
  const first = await client.get(`/v2/${repo}/referrers/${subject.digest}`)
  t.equal(digests(first).length, PAGE_LIMIT, 'the first page is full')
  t.match(first.header('link'), new RegExp(`^</v2/${repo}/referrers/${subject.digest}\\?last=sha256%3A[0-9a-f]{64}>; rel="next"$`))
  const all = await walk(t, client, `/v2/${repo}/referrers/${subject.digest}`, digests)
  t.same([...all].sort(), [...expected.keys()].sort(), 'every referrer exactly once over the pages')
  const even = [...expected].filter(([, type]) => type === 'application/vnd.example.even').map(([digest]) => digest)
  const filteredFirst = await client.get(`/v2/${repo}/referrers/${subject.digest}?artifactType=application%2Fvnd.example.even`)
  t.equal(filteredFirst.header('oci-filters-applied'), 'artifactType')
  t.match(filteredFirst.header('link'), /artifactType=application%2Fvnd\.example\.even/, 'the filter is part of the next link')
  const filtered = await walk(t, client, `/v2/${repo}/referrers/${subject.digest}?artifactType=application%2Fvnd.example.even`, digests)
  t.same([...filtered].sort(), [...even].sort(), 'the filtered referrers over the pages')
  const exact = await client.get(`/v2/${repo}/referrers/${subject.digest}?artifactType=application%2Fvnd.example.none`)
  t.same(digests(exact), [])
  t.equal(exact.header('link'), undefined, 'no Link after the last page')
  const bad = await client.get(`/v2/${repo}/referrers/${subject.digest}?last=not-a-digest`)
  t.equal(bad.status, 400, 'a malformed last')
  t.same(errorCodes(bad), ['DIGEST_INVALID'])
})
