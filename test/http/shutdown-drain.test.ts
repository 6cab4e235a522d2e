/**
 * http.shutdownDrainSeconds against a real `wharf serve`: on SIGTERM /readyz answers 503 at once
 * while pushes and pulls are still served (on new connections too) for the drain, then the server
 * stops cleanly (exit 0, data intact after a restart); a second SIGTERM ends the drain early.
 */
import { once } from 'node:events'
import { rm } from 'node:fs/promises'
import t, { type Test } from 'tap'
import { errorBody, makeBlob, RegistryClient, request, startWharf, tempDir, waitFor, writeConfig, type WharfProcess } from '../support/index.js'

async function drainingServer(t: Test, seconds: number): Promise<WharfProcess> {
  const dir = await tempDir('drain')
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const config = await writeConfig(dir, { http: { shutdownDrainSeconds: seconds } })
  const wharf = await startWharf({ extraArgs: ['--config', config] })
  t.teardown(() => wharf.stop({ removeStorage: true }))
  return wharf
}

t.test('during the drain: not ready, still serving; then a clean stop', async (t) => {
  const wharf = await drainingServer(t, 3)
  const exited = once(wharf.child, 'exit')
  const signalled = Date.now()
  wharf.child.kill('SIGTERM')
  const notReady = await waitFor('/readyz answers 503', async () => {
    const res = await request(wharf.url, '/readyz', { fresh: true })
    return res.status === 503 ? res : undefined
  }, 2000)
  t.same((errorBody(notReady)?.errors[0]?.detail as { failed: string[] }).failed, ['shutdown'])
  t.ok(Date.now() - signalled < 2500, 'not ready long before the drain ends')
  const c = new RegistryClient(wharf.url)
  const blob = makeBlob('pushed while draining')
  const pushed = await c.request(`/v2/drain/app/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data, fresh: true })
  t.equal(pushed.status, 201, `a push on a new connection is served: ${pushed.describe()}`)
  t.equal((await c.getBlob('drain/app', blob.digest)).status, 200, 'a pull is served')
  t.equal(wharf.child.exitCode, null, 'still running')
  const [code] = await exited
  t.equal(code, 0, 'a clean stop')
  t.ok(Date.now() - signalled >= 2900, `stopped after the drain (${Date.now() - signalled} ms)`)
  t.ok(wharf.logs.some((line) => line.includes('draining: not ready, still serving')), 'the drain is logged')

  const again = await startWharf({ storage: wharf.storage })
  t.teardown(() => again.stop())
  t.ok(await new RegistryClient(again.url).blobIntact('drain/app', blob.digest), 'what was pushed during the drain is there after a restart')
})

t.test('a second SIGTERM ends the drain early', async (t) => {
  const wharf = await drainingServer(t, 60)
  const exited = once(wharf.child, 'exit')
  wharf.child.kill('SIGTERM')
  await waitFor('/readyz answers 503', async () => (await request(wharf.url, '/readyz', { fresh: true })).status === 503, 2000)
  const second = Date.now()
  wharf.child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0)
  t.ok(Date.now() - second < 10_000, `stopped soon after the second signal (${Date.now() - second} ms)`)
})
