// The OCI conformance workflows against the target registry (Wharf by default) and against the
// reference registry (with the features it lacks switched off, which checks the flows themselves).
// WHARF_CONFORMANCE_FLOWS_URL=http://host:port adds a run against any other registry, expected to
// support everything.
import t from 'tap'
import { scenario, uniqueSuffix } from './helpers/env.js'
import { FULL_SUPPORT, startReferenceTarget, startTarget, targetName } from './helpers/target.js'
import { ociConformanceFlows } from './oci-flows.js'

const namespace = `conformance/flows-${uniqueSuffix()}`

await t.test(`OCI conformance flows against ${targetName()}`, { timeout: 120_000 }, async (t) => {
  const target = await startTarget()
  t.teardown(() => target.stop())
  await ociConformanceFlows(t, target.url, target.capabilities, namespace)
})

await scenario(t, 'OCI conformance flows against the reference registry', { tools: ['registry'], timeout: 120_000 }, async (t) => {
  const reference = await startReferenceTarget()
  t.teardown(() => reference.stop())
  await ociConformanceFlows(t, reference.url, reference.capabilities, namespace)
})

const extra = process.env.WHARF_CONFORMANCE_FLOWS_URL
if (extra) {
  await t.test(`OCI conformance flows against ${extra}`, { timeout: 120_000 }, async (t) => {
    await ociConformanceFlows(t, extra, FULL_SUPPORT, namespace)
  })
}
