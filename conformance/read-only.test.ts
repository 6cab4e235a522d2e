// A real client against a read-only Wharf: `skopeo copy` to it fails and shows the registry's
// read-only message, a copy from it works, and after the switch back through the admin API the
// same copy succeeds and the image pulls with verified digests.
import path from 'node:path'
import t from 'tap'
import { assertPulls } from './helpers/checks.js'
import { containersEnv } from './helpers/containers-env.js'
import { scenario, toolPath, uniqueSuffix } from './helpers/env.js'
import { busyboxImage, newSalt, writeOciLayout } from './helpers/fixtures.js'
import { run, tempDir } from './helpers/proc.js'
import { expectStatus, request, RegistryClient, startWharf } from '../test/support/index.js'

const READ_ONLY_MESSAGE = 'the registry is in read-only mode: pushes and deletes are refused until an administrator turns it off; pulls still work'
const TLS = ['--src-tls-verify=false', '--dest-tls-verify=false']

await scenario(t, 'skopeo copy to a read-only Wharf fails with the read-only message; after the switch back it succeeds', { tools: ['skopeo', 'busybox'], timeout: 90_000 }, async (t) => {
  const wharf = await startWharf({ env: { WHARF_MAINTENANCE_READONLY: 'true' } })
  t.teardown(() => wharf.stop({ removeStorage: true }))
  const env = await containersEnv([wharf.address])
  t.teardown(() => env.remove())
  const work = await tempDir('read-only')
  t.teardown(() => work.remove())
  const skopeo = (args: readonly string[]) => run(toolPath('skopeo'), ['--policy', env.policy, '--registries-conf', env.env.CONTAINERS_REGISTRIES_CONF!, ...args],
    { env: env.env, timeoutMs: 60_000, allowFailure: true })
  const image = busyboxImage('amd64', 'oci', newSalt())
  const layout = path.join(work.path, 'layout')
  await writeOciLayout(layout, [{ name: 'v1', content: image }])
  const repo = `conformance/read-only-${uniqueSuffix()}`
  const destination = `docker://${wharf.address}/${repo}:v1`

  const refused = await skopeo(['copy', '--retry-times', '0', ...TLS, `oci:${layout}:v1`, destination])
  t.not(refused.code, 0, 'skopeo copy fails')
  t.match(refused.stderr, READ_ONLY_MESSAGE, `skopeo shows the read-only message: ${refused.stderr.slice(-500)}`)
  const client = new RegistryClient(wharf.url)
  t.equal((await client.getManifest(repo, 'v1')).status, 404, 'nothing was pushed')

  expectStatus('switch off', await request(wharf.url, '/_wharf/v1/maintenance', { method: 'PUT', body: '{"readOnly":false}' }), 200)
  const copied = await skopeo(['copy', ...TLS, `oci:${layout}:v1`, destination])
  t.equal(copied.code, 0, copied.stderr)
  await assertPulls(t, client, repo, 'v1', image)

  // Read-only again: a copy from Wharf (a pull) still works.
  expectStatus('switch on', await request(wharf.url, '/_wharf/v1/maintenance', { method: 'PUT', body: '{"readOnly":true}' }), 200)
  const back = path.join(work.path, 'back')
  const pulled = await skopeo(['copy', ...TLS, destination, `oci:${back}:v1`])
  t.equal(pulled.code, 0, pulled.stderr)
})
