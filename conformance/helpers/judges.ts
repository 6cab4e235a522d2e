// The real-client judges (buildx, oras, crane) run their scenario set against the target registry
// (Wharf by default) and against the reference registry, recording what they observe in
// registry-independent terms (media types, platforms, file contents, which fallback a client took).
// The two runs must observe the same, except for the differences listed in client-differences.ts.
import { isDeepStrictEqual } from 'node:util'
import { CLIENT_DIFFERENCES, type ClientDifference } from '../client-differences.js'
import { missingRequirements, scenario, type Requirements, type Tap } from './env.js'
import { startReferenceTarget, startTarget, type RegistryTarget } from './target.js'

/** What one run observed, by key ("scenario: what"). */
export class Observations {
  readonly values = new Map<string, unknown>()
  record(key: string, value: unknown): void {
    // JSON round trip: the values compared are plain data.
    this.values.set(key, value === undefined ? null : JSON.parse(JSON.stringify(value)))
  }
}

/** The target registry, and the reference registry when its binary is there (else undefined; the differential scenario reports why). */
export async function startJudgedRegistries(t: Tap): Promise<{ target: RegistryTarget; reference: RegistryTarget | undefined }> {
  const target = await startTarget()
  t.teardown(() => target.stop())
  let reference: RegistryTarget | undefined
  if (missingRequirements({ tools: ['registry'] }) === undefined) {
    reference = await startReferenceTarget()
    t.teardown(() => reference!.stop())
  }
  return { target, reference }
}

export interface ObservedDifference { readonly key: string; readonly wharf: unknown; readonly reference: unknown }

/**
 * The differential scenario of a judge file: every key observed against the target and against
 * the reference must agree, or be listed in client-differences.ts (and every listed difference of
 * this file must still be observed).
 */
export async function compareRuns(t: Tap, file: string, needs: Requirements, onTarget: Observations, onReference: Observations, ran: () => boolean): Promise<unknown> {
  const requirements = { ...needs, tools: [...needs.tools ?? [], 'registry' as const] }
  return scenario(t, `${file}: the target and the reference registry observed the same, except for the listed differences`, { ...requirements, timeout: 10_000 }, async (t) => {
    if (!ran()) { t.fail('the scenario set did not run against both registries'); return }
    const observed: ObservedDifference[] = []
    for (const key of new Set([...onTarget.values.keys(), ...onReference.values.keys()])) {
      const a = onTarget.values.get(key)
      const b = onReference.values.get(key)
      if (!isDeepStrictEqual(a, b)) observed.push({ key, wharf: a, reference: b })
    }
    const listed = (d: ObservedDifference): ClientDifference | undefined => CLIENT_DIFFERENCES.find((k) =>
      k.file === file && k.key === d.key && isDeepStrictEqual(k.wharf, d.wharf) && isDeepStrictEqual(k.reference, d.reference))
    const used = new Set(observed.map(listed))
    if (process.env.WHARF_DIFFERENTIAL_DUMP) console.error(JSON.stringify(observed, null, 2))
    t.same(observed.filter((d) => listed(d) === undefined), [], 'no difference outside client-differences.ts')
    t.same(CLIENT_DIFFERENCES.filter((k) => k.file === file && !used.has(k)).map((k) => k.key), [], 'every listed difference is still observed')
    t.ok(onTarget.values.size >= 5, `${onTarget.values.size} observations compared`)
  })
}
