// A server that cannot start exits non-zero with one line saying why, having closed what it opened
// and released the store's lock, so that a supervisor restarts it and the store is usable at once.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { request, runCli, spawnWharf, stopSpawned } from '../support/index.js'

const storage = await mkdtemp(path.join(tmpdir(), 'wharf-start-'))
t.teardown(() => rm(storage, { recursive: true, force: true }))

async function storeIsUsable(t: Test, dir: string): Promise<void> {
  const fsck = await runCli(['fsck', '--storage', dir], {}, { timeoutMs: 30_000 })
  t.equal(fsck.code, 0, `fsck runs at once (the lock was released): ${fsck.stderr}`)
  const server = spawnWharf(['serve', '--host', '127.0.0.1', '--port', '0', '--storage', dir])
  t.teardown(() => stopSpawned(server))
  const url = await server.listening
  t.ok(url, `a server starts on the same store: ${server.stderr()}`)
  if (url !== undefined) t.equal((await request(url, '/v2/')).status, 200)
}

// Alone, and as the primary of two workers (the failed worker's line, said once by the primary).
for (const workers of [[], ['--workers', '2']]) {
  const how = workers.length === 0 ? '' : ' (--workers 2)'

  t.test(`the port taken${how}: exit non-zero within seconds, one clear line, the store usable right after`, async (t) => {
    const squatter = createServer()
    squatter.listen(0, '127.0.0.1')
    await once(squatter, 'listening')
    t.teardown(() => { squatter.close() })
    const port = (squatter.address() as { port: number }).port
    const run = await runCli(['serve', '--host', '127.0.0.1', '--port', String(port), '--storage', storage, ...workers], {}, { timeoutMs: 60_000 })
    t.equal(run.code, 1, 'exits with status 1')
    t.ok(run.ms < 20_000, `exits within seconds (${run.ms} ms)`)
    const lines = run.stderr.trim().split('\n')
    t.equal(lines.length, 1, `one line: ${run.stderr}`)
    t.match(lines[0], `wharf: cannot listen on 127.0.0.1:${port}: the address is already in use`)
    t.match(lines[0], /EADDRINUSE/)
    t.notMatch(run.stdout, /"level":(50|60)/, 'no error logs besides it')
    t.notMatch(run.stdout + run.stderr, /\n\s+at /, 'no stack trace')
    t.notMatch(run.stdout, /wharf listening/, 'never said it listens')
    await storeIsUsable(t, storage)
  })

  t.test(`a store that cannot be opened${how}: exit non-zero with one line, lock released`, async (t) => {
    const broken = await mkdtemp(path.join(tmpdir(), 'wharf-start-'))
    t.teardown(() => rm(broken, { recursive: true, force: true }))
    await mkdir(path.join(broken, 'metadata.db'))
    const run = await runCli(['serve', '--host', '127.0.0.1', '--port', '0', '--storage', broken, ...workers], {}, { timeoutMs: 60_000 })
    t.equal(run.code, 1, 'exits with status 1')
    t.equal(run.stderr.trim().split('\n').length, 1, `one line: ${run.stderr}`)
    t.match(run.stderr, /^wharf: cannot start: .*\(SQLITE_CANTOPEN\)/)
    await rm(path.join(broken, 'metadata.db'), { recursive: true })
    await storeIsUsable(t, broken)
  })
}
