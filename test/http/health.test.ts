/**
 * /healthz and /readyz: a real `wharf serve` answers both (also with access control on, without
 * credentials, while /v2/ asks for them); a Wharf composed in this process and listening on a
 * loopback port shows each failing check (storage gone, shutting down, metadata store closed) as
 * a 503 with the spec's error JSON naming it.
 */
import { spawnSync } from 'node:child_process'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import { appOptionsFrom, compose } from '../../src/cli/composition.js'
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js'
import { buildApp } from '../../src/http/app.js'
import { errorBody, request, startWharf, tempDir, WHARF_CLI, writeConfig, type HttpResponse } from '../support/index.js'

interface NotReady { failed: string[]; checks: Record<string, string> }

function notReady(t: Test, res: HttpResponse, failed: readonly string[]): void {
  t.equal(res.status, 503, res.describe())
  t.equal(res.header('content-type'), 'application/json')
  const body = errorBody(res)
  t.equal(body?.errors[0]?.code, 'UNAVAILABLE')
  t.same([...(body?.errors[0]?.detail as NotReady).failed].sort(), [...failed].sort(), 'the failed checks are named')
  for (const name of failed) t.not((body?.errors[0]?.detail as NotReady).checks[name], 'ok')
}

/** Compose Wharf here and serve it on a loopback port, with a shutting-down flag the test sets. */
async function startInProcess(t: Test): Promise<{ url: string; storage: string; shutDown: () => void; closeMetadata: () => Promise<void> }> {
  const storage = await tempDir('health')
  const config: Config = { ...DEFAULT_CONFIG, storage: { ...DEFAULT_CONFIG.storage, path: storage }, log: { level: 'error', requests: false } }
  const wharf = await compose(config, { logger: () => pino({ level: 'silent' }) })
  let shuttingDown = false
  const app = buildApp(wharf.registry, { ...appOptionsFrom(config, wharf.components.logger), shuttingDown: () => shuttingDown })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  t.teardown(async () => {
    await app.close()
    await wharf.close().catch(() => undefined)
    await rm(storage, { recursive: true, force: true })
  })
  return { url: `http://127.0.0.1:${port}`, storage, shutDown: () => { shuttingDown = true }, closeMetadata: () => wharf.components.metadata.close() }
}

t.test('a running server is alive and ready; both answer HEAD too', async (t) => {
  const wharf = await startWharf()
  t.teardown(() => wharf.stop({ removeStorage: true }))
  const live = await request(wharf.url, '/healthz')
  t.equal(live.status, 200, live.describe())
  t.same(live.json(), {})
  const ready = await request(wharf.url, '/readyz')
  t.equal(ready.status, 200, ready.describe())
  t.same(ready.json(), { checks: { metadata: 'ok', storage: 'ok', shutdown: 'ok', readOnly: 'off' } })
  t.equal((await request(wharf.url, '/readyz', { method: 'HEAD' })).status, 200)
  t.equal((await request(wharf.url, '/healthz', { method: 'HEAD' })).status, 200)
  // The storage probe leaves nothing behind.
  const { readdir } = await import('node:fs/promises')
  t.notOk((await readdir(wharf.storage)).some((name) => name.startsWith('.write-probe')), 'no probe file left in the storage')
})

t.test('with an auth section, the probes answer without credentials while /v2/ asks for them', async (t) => {
  const dir = await tempDir('health-auth')
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const htpasswd = path.join(dir, 'htpasswd')
  const added = spawnSync(process.execPath, [WHARF_CLI, 'user', 'add', 'alice', '--htpasswd', htpasswd, '--password-stdin'], { input: 'secret\n', encoding: 'utf8' })
  t.equal(added.status, 0, added.stderr)
  const configFile = await writeConfig(dir, { auth: { htpasswd, rules: [{ users: ['alice'], repositories: '**', actions: ['pull', 'push'] }] } })
  const wharf = await startWharf({ extraArgs: ['--config', configFile] })
  t.teardown(() => wharf.stop({ removeStorage: true }))
  t.equal((await request(wharf.url, '/v2/')).status, 401, 'access control is on')
  t.equal((await request(wharf.url, '/healthz')).status, 200)
  const ready = await request(wharf.url, '/readyz')
  t.equal(ready.status, 200, ready.describe())
  t.notOk(ready.header('www-authenticate'), 'no challenge')
})

t.test('storage that cannot take writes: not ready, still alive', async (t) => {
  const server = await startInProcess(t)
  await rm(server.storage, { recursive: true, force: true })
  notReady(t, await request(server.url, '/readyz'), ['storage'])
  t.equal((await request(server.url, '/healthz')).status, 200)
})

t.test('shutting down, then the metadata store closed: not ready, each named', async (t) => {
  const server = await startInProcess(t)
  t.equal((await request(server.url, '/readyz')).status, 200)
  server.shutDown()
  const res = await request(server.url, '/readyz')
  notReady(t, res, ['shutdown'])
  t.equal(res.header('retry-after'), '5')
  await server.closeMetadata()
  notReady(t, await request(server.url, '/readyz'), ['shutdown', 'metadata'])
  t.equal((await request(server.url, '/healthz')).status, 200, 'alive while it shuts down')
})
