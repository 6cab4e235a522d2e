// Export as a stream: a damaged blob cuts the download short (never a complete-looking archive),
// a client that leaves mid-download leaves no file open, and `wharf export` writes atomically.
import { execFile } from 'node:child_process'
import { get } from 'node:http'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { blobPath, extractTar, makeBlob, openFdCount, startTestServer, uniqueRepo, waitFor, WHARF_CLI } from '../support/index.js'

const { wharf, client } = await startTestServer(t)
const exportUrl = (repo: string, query: string): string => `${wharf.url}/_wharf/v1/repositories/${repo}/export?${query}`
const run = promisify(execFile)

/** Bytes a GET received before the server ended it, and the length it announced. */
function download(url: string): Promise<{ status: number; announced: number; received: number }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let received = 0
      res.on('data', (chunk: Buffer) => { received += chunk.length })
      const done = (): void => resolve({ status: res.statusCode ?? 0, announced: Number(res.headers['content-length']), received })
      res.on('end', done)
      res.on('error', done)
      res.on('close', done)
    }).on('error', reject)
  })
}

t.test('a blob damaged on disk: the download ends short of its Content-Length', async (t) => {
  const repo = uniqueRepo('export')
  const layer = makeBlob(200_000)
  await client.pushImage(repo, { tag: 'v1', layers: [layer] })
  const file = blobPath(wharf.storage, layer.digest)
  const original = await readFile(file)
  const damaged = Buffer.from(original)
  damaged[damaged.length - 1]! ^= 0xff
  await writeFile(file, damaged)
  t.teardown(() => writeFile(file, original))
  const result = await download(exportUrl(repo, 'reference=v1'))
  t.equal(result.status, 200, 'the headers were sent (the damage shows only at the blob\'s end)')
  t.ok(result.received < result.announced, `cut short: ${result.received} of ${result.announced} bytes`)
  await writeFile(file, original)
  const healthy = await download(exportUrl(repo, 'reference=v1'))
  t.equal(healthy.received, healthy.announced, 'the server serves the next export whole')
})

t.test('a client that leaves mid-download leaves no file handle open', async (t) => {
  const repo = uniqueRepo('export')
  await client.pushImage(repo, { tag: 'big', layers: [makeBlob(8 * 1024 * 1024), makeBlob(4 * 1024 * 1024)] })
  const baseline = await openFdCount(wharf.pid)
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve, reject) => {
      const request = get(exportUrl(repo, 'reference=big'), (res) => {
        let received = 0
        res.on('data', (chunk: Buffer) => {
          received += chunk.length
          // Well inside the first layer: its file is open.
          if (received > 1024 * 1024) { request.destroy(); resolve() }
        })
      }).on('error', (err) => { if (!request.destroyed) reject(err) })
    })
  }
  await waitFor('the exports\' blob files closed', async () => await openFdCount(wharf.pid) <= baseline).catch(() => undefined)
  t.ok(await openFdCount(wharf.pid) <= baseline, 'as many open descriptors as before')
  const after = await download(exportUrl(repo, 'reference=big'))
  t.equal(after.received, after.announced, 'a whole export still works')
})

t.test('wharf export: a complete file or none', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-export-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const repo = uniqueRepo('export')
  const image = await client.pushImage(repo, { tag: 'v1', layers: 2 })
  const http = await client.get(`/_wharf/v1/repositories/${repo}/export?reference=v1&format=docker`)

  const target = path.join(dir, 'image.tar')
  await run(process.execPath, [WHARF_CLI, 'export', `${repo}:v1`, target, '--url', wharf.url, '--format', 'docker'])
  t.ok((await readFile(target)).equals(http.body), 'the file is the HTTP export, byte for byte')
  t.same(await readdir(dir), ['image.tar'], 'no temporary file left beside it')

  const byDigest = await run(process.execPath, [WHARF_CLI, 'export', `${repo}@${image.manifest.digest}`, '-', '--url', wharf.url], { encoding: 'buffer', maxBuffer: 1 << 26 })
  const archive = await extractTar(byDigest.stdout)
  t.ok(archive.files.has(`blobs/sha256/${image.manifest.digest.slice(7)}`), '"-" writes the archive to standard output')

  const failed = await run(process.execPath, [WHARF_CLI, 'export', `${repo}:nope`, path.join(dir, 'nope.tar'), '--url', wharf.url]).then(() => undefined, (err: { code: number; stderr: string }) => err)
  t.equal(failed?.code, 1, 'an unknown tag fails')
  t.match(failed?.stderr ?? '', /404 MANIFEST_UNKNOWN/, 'with the registry\'s error')
  t.same(await readdir(dir), ['image.tar'], 'and writes nothing')

  const usage = await run(process.execPath, [WHARF_CLI, 'export', repo, target, '--url', wharf.url]).then(() => undefined, (err: { code: number; stderr: string }) => err)
  t.equal(usage?.code, 2, 'a reference without tag or digest is a usage error')
})
