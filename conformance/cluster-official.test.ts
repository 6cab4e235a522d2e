// Three Wharf nodes on one S3 bucket (radosgw) and one PostgreSQL database, behind nginx in strict
// round-robin (test/support/cluster.ts): the official OCI conformance suite through the balancer,
// so that consecutive requests of one upload, one push and one delete land on different nodes.
// Passing means no node keeps state another needs: upload sessions, their bytes and hash, tags,
// manifests and referrers are all in the shared stores.
import { existsSync } from 'node:fs'
import t from 'tap'
import { isCI, uniqueSuffix } from './helpers/env.js'
import { EXPECTED_SKIPS, runSuite, suiteBinary } from './helpers/official-suite.js'
import { clusterAvailable, startCluster } from '../test/support/cluster.js'
import { serverErrors } from '../test/support/index.js'

if (!existsSync(suiteBinary)) {
  const reason = `${suiteBinary} not found (set WHARF_SHARED_DIR to the directory holding bin/oci-conformance.test)`
  if (isCI) await t.test('the official OCI conformance suite through three nodes', async (t) => { t.fail(`${reason} (CI=true: it must be present)`) })
  else await t.test('the official OCI conformance suite through three nodes', { skip: reason }, async () => {})
} else if (clusterAvailable(t)) {
  const cluster = await startCluster(t, { nodes: 3 })
  if (cluster !== undefined) {
    await t.test('the official OCI conformance suite passes through nginx in front of three nodes', { timeout: 12 * 60_000 }, async (t) => {
      await runSuite(t, { url: cluster.url, logs: () => '', env: {}, namespace: `conformance/cluster-${uniqueSuffix()}`, expectedSkips: EXPECTED_SKIPS })
      const counts = await cluster.nginx.upstreamCounts()
      const total = [...counts.values()].reduce((a, b) => a + b, 0)
      t.ok(total > 100, `the suite sent ${total} requests through nginx`)
      for (const [i, node] of cluster.nodes.entries()) {
        const served = counts.get(`127.0.0.1:${node.port}`) ?? 0
        t.ok(served >= total / 4, `node ${i} answered ${served} of ${total} requests (round-robin: about a third each)`)
        t.same(serverErrors(node.process!), [], `node ${i} logged no server error`)
      }
      if (t.passing() === false) t.comment(await cluster.logs())
    })
  }
}
