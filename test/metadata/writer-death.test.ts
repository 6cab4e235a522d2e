import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { makeBlob, RegistryClient, startWharf } from '../support/index.js'

const HOOK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'writer-death-hook.js')

t.test('the server exits with status 70 and says why when its metadata writer thread dies; a restart serves what was committed', async (t) => {
  const wharf = await startWharf({ env: { NODE_OPTIONS: `--import ${HOOK}`, WHARF_KILL_WRITER_AT: '3' } })
  t.teardown(() => wharf.stop({ removeStorage: true }))
  const exited = new Promise<number | null>((resolve) => {
    if (wharf.child.exitCode !== null) resolve(wharf.child.exitCode)
    else wharf.child.once('exit', (code) => resolve(code))
  })
  const c = new RegistryClient(wharf.url)
  const kept = [makeBlob(100), makeBlob(100)]
  for (const b of kept) t.equal((await c.postBlob('death/app', b)).status, 201)
  // The third write kills the writer: the request fails (500, or the connection closes as the process exits).
  const third = await c.postBlob('death/app', makeBlob(100)).catch((err: unknown) => err)
  t.not((third as { status?: number }).status, 201, 'the write that met the dead writer is not acknowledged')
  const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 10_000))])
  t.equal(code, 70, 'the process exited with status 70')
  t.ok(wharf.logs.some((line) => /fatal: the metadata writer thread exited/.test(line)), 'and said why')

  const restarted = await startWharf({ storage: wharf.storage })
  t.teardown(() => restarted.stop())
  const r = new RegistryClient(restarted.url)
  for (const b of kept) t.ok(await r.blobIntact('death/app', b.digest), 'acknowledged blobs survive')
  t.equal((await r.postBlob('death/app', makeBlob(50))).status, 201, 'and writes work again')
})
