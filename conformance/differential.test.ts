// Differential mode: the raw-HTTP scenario set of differential.ts against Wharf and against the
// reference registry (started here on a free loopback port, delete enabled). Status codes, key
// headers and bodies must agree, except for the differences listed in differences.ts.
import t from 'tap'
import { isDeepStrictEqual } from 'node:util'
import { compare, fixture, runSteps, steps, type Difference } from './differential.js'
import { KNOWN_DIFFERENCES, type KnownDifference } from './differences.js'
import { scenario } from './helpers/env.js'
import { startReferenceTarget, startWharfTarget } from './helpers/target.js'

await scenario(t, 'Wharf and the reference registry answer the scenario set alike, except for the listed differences', { tools: ['registry'], timeout: 120_000 }, async (t) => {
  const reference = await startReferenceTarget()
  t.teardown(() => reference.stop())
  const wharf = await startWharfTarget()
  t.teardown(() => wharf.stop())
  const f = fixture()
  const fromWharf = await runSteps(wharf.url, f)
  const fromReference = await runSteps(reference.url, f)

  const observed: Difference[] = []
  for (const step of steps(f)) observed.push(...compare(step.id, fromWharf.get(step.id)!, fromReference.get(step.id)!))
  const key = (d: { step: string; field: string }): string => `${d.step} ${d.field}`
  // An entry of step "*" is one difference seen at many steps (the same field with the same two values).
  const listed = (d: Difference): KnownDifference | undefined => KNOWN_DIFFERENCES.find((k) =>
    (k.step === d.step || k.step === '*') && k.field === d.field && isDeepStrictEqual(k.wharf, d.wharf) && isDeepStrictEqual(k.reference, d.reference))
  const unexpected = observed.filter((d) => listed(d) === undefined)
  const used = new Set(observed.map(listed))
  const stale = KNOWN_DIFFERENCES.filter((d) => !used.has(d))
  if (process.env.WHARF_DIFFERENTIAL_DUMP) console.error(JSON.stringify(observed, null, 2))
  t.same(unexpected, [], 'no difference outside differences.ts (a new one is a Wharf bug or needs its spec clause listed)')
  t.same(stale.map(key), [], 'every listed difference is still observed (remove fixed ones)')
  t.ok(steps(f).length >= 60, `${steps(f).length} steps compared`)
})
