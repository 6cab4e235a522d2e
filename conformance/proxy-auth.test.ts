// The pull-through cache in front of a private registry (issue 13): the upstream is a Wharf with
// access control over HTTPS (htpasswd users, Bearer challenges through its token endpoint, a
// certificate from a CA the test makes with openssl). The proxy is configured with bob's
// credentials (pull on team/**) and the CA file (`ca`); crane, anonymous towards the proxy, pulls
// `<proxy>/private.local/team/<name>` and gets the upstream's digests and bytes, the proxy having
// logged in with the Docker token protocol. The same upstream under a wrong password is refused
// with the spec's error, and nothing is cached.
import path from 'node:path'
import t from 'tap'
import { startAuthRegistry } from './helpers/auth-registry.js'
import { assertLayoutHolds } from './helpers/checks.js'
import { scenario, toolPath, uniqueSuffix, type ToolName } from './helpers/env.js'
import { multiPlatform, newSalt } from './helpers/fixtures.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { assertCached, startProxy, type ProxyRegistry } from './helpers/proxy.js'
import { allBlobs } from '../test/support/index.js'

const needs: ToolName[] = ['crane', 'htpasswd', 'openssl', 'busybox', 'busyboxArm64']
const runId = uniqueSuffix()
const salt = newSalt()

function crane(args: readonly string[], allowFailure = false): Promise<RunResult> {
  return run('nice', ['-n', '10', toolPath('crane'), ...args, '--insecure'], { timeoutMs: 120_000, allowFailure })
}

await scenario(t, 'crane pulls through the proxy from an upstream with token auth over HTTPS; a wrong password is refused', { tools: needs, timeout: 120_000 }, async (t) => {
  const upstream = await startAuthRegistry({ tls: true })
  t.teardown(() => upstream.stop())
  const { alice, bob } = upstream.users
  const proxy: ProxyRegistry = await startProxy(t, [
    { prefix: 'private.local', url: upstream.url, username: bob.user, password: bob.password, ca: upstream.caFile! },
    { prefix: 'wrong.local', url: upstream.url, username: bob.user, password: `${bob.password}-wrong`, ca: upstream.caFile! },
  ])
  const work = await tempDir('proxy-auth')
  t.teardown(() => work.remove())

  const name = `team/proxy-${runId}`
  const index = multiPlatform('oci', salt)
  await upstream.client(alice).pushContent(name, 'v1', index)
  const anonymous = await upstream.client().get(`/v2/${name}/manifests/v1`)
  t.equal(anonymous.status, 401, 'the upstream refuses an anonymous pull of team/**')
  const tokensBefore = upstream.tokenRequests().get

  const ref = `${proxy.wharf.address}/private.local/${name}:v1`
  t.equal((await crane(['digest', ref])).stdout.trim(), index.manifest.digest, 'crane digest through the proxy: the upstream\'s index digest')
  const layout = path.join(work.path, 'layout')
  await crane(['pull', '--format', 'oci', ref, layout])
  await assertLayoutHolds(t, layout, index)
  t.ok(upstream.tokenRequests().get > tokensBefore, 'the proxy fetched tokens from the upstream\'s token endpoint')
  await assertCached(t, proxy, `private.local/${name}`, 'v1', allBlobs(index))

  const refused = await crane(['digest', `${proxy.wharf.address}/wrong.local/${name}:v1`], true)
  t.not(refused.code, 0, 'crane digest through the proxy fails when the proxy\'s upstream password is wrong')
  t.match(refused.stderr, /DENIED|UNAUTHORIZED/, `with the spec's error code (${refused.stderr.trim().split('\n').pop()})`)
  t.notOk((await proxy.client.catalog()).includes(`wrong.local/${name}`), 'and nothing is cached under wrong.local')
})
