// The official OCI distribution-spec conformance suite (helpers/official-suite.ts) against a Wharf
// started here. Every spec of the suite becomes one tap assertion named after it, and the run must
// end with 0 failures.
//
// Settings: pull, push, content discovery and content management, all enabled.
// OCI_AUTOMATIC_CROSSMOUNT=1 only: Wharf mounts a blob named by `mount` without `from` when the
// blob is already in the store (201), which is what the suite checks with =1; with =0 the suite
// expects 202 for that same request ("automatic content discovery disabled"), a registry that does
// not mount without `from`. The two settings describe two different registries; Wharf is the first.
// OCI_DELETE_MANIFEST_BEFORE_BLOBS=1: the teardown deletes manifests before the blobs they
// reference, the order a registry that protects referenced blobs needs.
//
// A second run logs in (OCI_USERNAME/OCI_PASSWORD: alice of helpers/auth-registry.ts, who may
// push, pull and delete team/**) to a Wharf with access control. The suite's client follows the
// Bearer challenge and asks the token endpoint for exactly the challenge's scope, so every spec
// passing here means every route names the scope it needs, including `repository:<from>:pull` for
// a mount with `from` (registry:2's challenge names it; without it the token cannot mount and the
// suite's cross-mount specs take their 202 branch). Same specs, same skips as the open run.
//
// A third run serves with `--workers 2` (two processes on one port and one store, their locks
// held by the primary) behind nginx without upstream keep-alive: the suite's client keeps one
// connection, which would pin it to one worker; through nginx every request takes a connection of
// its own and the workers answer in turn, so consecutive requests of an upload, a push or a delete
// cross processes. Passing means no spec depends on one process's memory. Same specs, same skips.
//
// The binary is <project root>/../shared/bin/oci-conformance.test (CI clones the project with
// ../shared beside it); WHARF_SHARED_DIR overrides the shared directory.
import { existsSync } from 'node:fs'
import t from 'tap'
import { isCI, uniqueSuffix } from './helpers/env.js'
import { EXPECTED_SKIPS, runSuite, suiteBinary } from './helpers/official-suite.js'
import { startWharfTarget } from './helpers/target.js'
import { startAuthRegistry } from './helpers/auth-registry.js'
import { nginxForTest, nginxMissing } from '../test/support/nginx.js'
import { serverErrors, startWharf } from '../test/support/index.js'

if (!existsSync(suiteBinary)) {
  const reason = `${suiteBinary} not found (set WHARF_SHARED_DIR to the directory holding bin/oci-conformance.test)`
  if (isCI) await t.test('the official OCI conformance suite', async (t) => { t.fail(`${reason} (CI=true: it must be present)`) })
  else await t.test('the official OCI conformance suite', { skip: reason }, async () => {})
} else {
  await t.test('the official OCI conformance suite passes against Wharf (OCI_AUTOMATIC_CROSSMOUNT=1)', { timeout: 12 * 60_000 }, async (t) => {
    const wharf = await startWharfTarget()
    t.teardown(() => wharf.stop())
    await runSuite(t, { url: wharf.url, logs: () => wharf.logs(), env: {}, namespace: `conformance/official-${uniqueSuffix()}`, expectedSkips: EXPECTED_SKIPS })
  })
  await t.test('the official OCI conformance suite passes logged in to Wharf with access control (OCI_USERNAME, token flow)', { timeout: 12 * 60_000 }, async (t) => {
    const wharf = await startAuthRegistry({ tls: false })
    t.teardown(() => wharf.stop())
    const { alice } = wharf.users
    await runSuite(t, {
      url: wharf.url, logs: () => wharf.logs(), env: { OCI_USERNAME: alice.user, OCI_PASSWORD: alice.password },
      namespace: `team/official-${uniqueSuffix()}`, expectedSkips: EXPECTED_SKIPS,
    })
  })
  const workersTest = 'the official OCI conformance suite passes against Wharf serving with two worker processes (--workers 2), requests spread by nginx'
  const missing = nginxMissing()
  await t.test(workersTest, { timeout: 12 * 60_000, ...(missing !== undefined && !isCI ? { skip: missing } : {}) }, async (t) => {
    if (missing !== undefined) { t.fail(`${missing} (CI=true: it must be installed)`); return }
    const wharf = await startWharf({ extraArgs: ['--workers', '2'], env: { WHARF_LOG_REQUESTS: 'true' }, timeoutMs: 60_000 })
    t.teardown(() => wharf.stop({ removeStorage: true }))
    const nginx = await nginxForTest(t, [wharf.address], { upstreamKeepalive: false })
    await runSuite(t, { url: nginx.url, logs: () => wharf.logs.slice(-200).join('\n'), env: {}, namespace: `conformance/workers-${uniqueSuffix()}`, expectedSkips: EXPECTED_SKIPS })
    const byPid = new Map<number, number>()
    for (const line of wharf.logs) {
      if (!line.includes('"incoming request"')) continue
      const pid = (JSON.parse(line) as { pid: number }).pid
      byPid.set(pid, (byPid.get(pid) ?? 0) + 1)
    }
    const total = [...byPid.values()].reduce((a, b) => a + b, 0)
    t.ok(total > 100, `the suite sent ${total} requests`)
    t.equal(byPid.size, 2, 'two workers answered')
    for (const [pid, served] of byPid) t.ok(served >= total / 4, `worker ${pid} answered ${served} of ${total} requests`)
    t.same(serverErrors(wharf), [], 'no server error logged')
  })
}
