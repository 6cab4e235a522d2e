// `wharf serve` with its metadata in PostgreSQL (metadata.driver: postgres): a real server on a
// real PostgreSQL 15 (test/support/postgres.ts), driven over HTTP. Pushes and pulls verified by
// digest, tags listed, everything kept across a restart, an online collection, one process per
// database (a second server is refused in one line), the password in no log line.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { errorBody, makeBlob, RegistryClient, request, runCli, startWharf, uniqueRepo, waitFor, writeConfig, type WharfProcess } from '../support/index.js'
import { postgresAvailable, startPostgres } from '../support/postgres.js'

const PASSWORD = 'pg-secret-7f3a'

if (postgresAvailable(t)) {
  const postgres = await startPostgres(t)
  const database = await postgres.createDatabase({ password: PASSWORD })
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-pg-serve-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const config = await writeConfig(dir, { metadata: { driver: 'postgres', postgres: { url: database.url } }, gc: { graceSeconds: 0, intervalSeconds: 0 } })
  const storage = path.join(dir, 'storage')
  const start = (): Promise<WharfProcess> => startWharf({ storage, extraArgs: ['--config', config] })
  let wharf = await start()
  t.teardown(() => wharf.stop())
  const repo = uniqueRepo('pg')

  t.test('push, pull by digest, list tags: the records are in PostgreSQL', async (t) => {
    const client = new RegistryClient(wharf.url)
    const image = await client.pushImage(repo, { tag: 'v1', layers: 2 })
    await client.pushManifest(repo, 'v2', image.manifest)
    const pulled = await client.pullVerified(repo, 'v1')
    t.equal(pulled.digest, image.manifest.digest, 'the manifest pulled by tag')
    t.equal(pulled.blobs.size, 3, 'config and layers pulled, each checked against its digest')
    t.same((await client.getJson<{ tags: string[] }>(`/v2/${repo}/tags/list`)).tags, ['v1', 'v2'])
    const rows = await postgres.query<{ tag: string }>('SELECT tag FROM tags WHERE repo = $1 ORDER BY tag', [repo], database.name)
    t.same(rows.map((row) => row.tag), ['v1', 'v2'], 'the tags are rows of the database')
  })

  t.test('a restart keeps everything; an online collection removes an unreferenced blob', async (t) => {
    await wharf.stop()
    wharf = await start()
    const client = new RegistryClient(wharf.url)
    t.equal((await client.pullVerified(repo, 'v2')).blobs.size, 3, 'pulled whole after the restart')
    const loose = makeBlob(4096)
    await client.pushBlob(repo, loose)
    t.equal((await request(wharf.url, `/v2/${repo}/blobs/${loose.digest}`, { method: 'HEAD' })).status, 200)
    const gc = await request(wharf.url, '/_wharf/v1/gc', { method: 'POST' })
    t.equal(gc.status, 200, 'online collection')
    t.equal((await request(wharf.url, `/v2/${repo}/blobs/${loose.digest}`, { method: 'HEAD' })).status, 404, 'the unreferenced blob is gone')
    const [row] = await postgres.query<{ n: string | number }>('SELECT count(*) AS n FROM blobs WHERE digest = $1', [loose.digest], database.name)
    t.equal(Number(row?.n), 0, 'and its record')
    t.equal((await client.pullVerified(repo, 'v1')).blobs.size, 3, 'the tagged image is kept')
  })

  t.test('a second process on the same database is refused in one line; gc and fsck too', async (t) => {
    const other = await mkdtemp(path.join(tmpdir(), 'wharf-pg-other-'))
    t.teardown(() => rm(other, { recursive: true, force: true }))
    const serve = await runCli(['serve', '--host', '127.0.0.1', '--port', '0', '--storage', other, '--config', config], {}, { timeoutMs: 30_000 })
    t.equal(serve.code, 1, 'exit 1')
    const line = serve.stderr.trim()
    t.equal(line.split('\n').length, 1, `one line: ${line}`)
    t.match(line, /metadata database 127\.0\.0\.1:\d+\/\S+ is in use by another wharf process \(wharf: wharf serve from 127\.0\.0\.1 since /, 'names the holder')
    t.notMatch(line, PASSWORD, 'no password')
    for (const args of [['gc'], ['fsck']]) {
      const refused = await runCli([...args, '--storage', other, '--config', config], {}, { timeoutMs: 30_000 })
      t.not(refused.code, 0, `wharf ${args[0]} refused`)
      t.match(refused.stderr, /is in use by another wharf process/)
    }
    t.equal((await request(wharf.url, '/readyz')).status, 200, 'the first server still serves')
  })

  t.test('PostgreSQL restarts: requests fail clearly meanwhile, then the server serves and holds the database again', async (t) => {
    const client = new RegistryClient(wharf.url)
    await postgres.restart({
      whileDown: async () => {
        const res = await client.request(`/v2/${repo}/tags/list`)
        t.equal(res.status, 503, 'a request while the database is down fails: 503')
        t.equal(errorBody(res)?.errors[0]?.code, 'UNAVAILABLE', `a temporary failure, in the spec's error format: ${res.text()}`)
        t.notMatch(res.body.toString(), PASSWORD, 'no password in the answer')
      },
    })
    await waitFor('ready again', async () => (await request(wharf.url, '/readyz')).status === 200, 30_000, 200)
    t.equal((await client.pullVerified(repo, 'v1')).blobs.size, 3, 'pulled whole after the database restart')
    const other = await mkdtemp(path.join(tmpdir(), 'wharf-pg-again-'))
    t.teardown(() => rm(other, { recursive: true, force: true }))
    const second = await runCli(['serve', '--host', '127.0.0.1', '--port', '0', '--storage', other, '--config', config], {}, { timeoutMs: 30_000 })
    t.match(second.stderr, /is in use by another wharf process/, 'the lock was taken again: a second server is still refused')
  })

  t.test('an unreachable database: serve exits 1 with one line naming it, without the password', async (t) => {
    const other = await mkdtemp(path.join(tmpdir(), 'wharf-pg-down-'))
    t.teardown(() => rm(other, { recursive: true, force: true }))
    const url = `postgres://postgres:${PASSWORD}@127.0.0.1:1/nowhere`
    const serve = await runCli(['serve', '--host', '127.0.0.1', '--port', '0', '--storage', other], { WHARF_METADATA_DRIVER: 'postgres', WHARF_METADATA_POSTGRES_URL: url }, { timeoutMs: 60_000 })
    t.equal(serve.code, 1)
    t.match(serve.stderr.trim(), /^wharf: (metadata|coordination) database 127\.0\.0\.1:1\/nowhere is unavailable/, serve.stderr.trim())
    t.notMatch(serve.stderr, PASSWORD, 'no password')
  })

  t.test('no log line holds the password', async (t) => {
    t.ok(wharf.logs.length > 0)
    t.notOk(wharf.logs.some((line) => line.includes(PASSWORD)))
  })
}
