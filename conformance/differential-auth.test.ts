// The 401 flow against the reference: Debian's docker-registry in htpasswd mode and Wharf with
// access control, both reading the same htpasswd file (made by Debian's `htpasswd -B`). Status,
// error codes, key headers and bodies must agree on /v2/ without credentials, with Basic
// credentials, with a wrong password and an unknown user, and on a repository route; they differ
// only as listed in AUTH_DIFFERENCES (differences.ts): the challenge's scheme, Basic there and
// Bearer with a token endpoint here.
import t from 'tap'
import { isDeepStrictEqual } from 'node:util'
import { compare, observe, type Difference, type Observation } from './differential.js'
import { AUTH_DIFFERENCES, type KnownDifference } from './differences.js'
import { CredentialedClient } from '../test/support/index.js'
import { basic, startAuthRegistry, type Login } from './helpers/auth-registry.js'
import { scenario, toolPath, uniqueSuffix } from './helpers/env.js'
import { type HttpResponse, type RegistryClient, startReferenceRegistry } from '../test/support/index.js'

/** `Bearer realm="…",service="…"` → `Bearer realm,service`: the scheme and its parameter names, in order. */
export function challengeShape(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const scheme = /^\s*(\S+)/.exec(value)?.[1] ?? ''
  const names = [...value.slice(scheme.length).matchAll(/([A-Za-z_]+)="(?:[^"\\]|\\.)*"/g)].map((m) => m[1])
  return `${scheme} ${names.join(',')}`
}

interface AuthStep {
  readonly id: string
  readonly path: string
  /** Credentials sent as Basic; none: anonymous. */
  readonly login?: (users: { alice: Login }) => Login
}

const repo = `team/differential-${uniqueSuffix()}`
const STEPS: readonly AuthStep[] = [
  { id: 'auth-base-anonymous', path: '/v2/' },
  { id: 'auth-base-basic', path: '/v2/', login: (u) => u.alice },
  { id: 'auth-base-wrong-password', path: '/v2/', login: (u) => ({ user: u.alice.user, password: `${u.alice.password}-wrong` }) },
  { id: 'auth-base-unknown-user', path: '/v2/', login: () => ({ user: 'mallory', password: 'guess' }) },
  { id: 'auth-manifest-anonymous', path: `/v2/${repo}/manifests/v1` },
  { id: 'auth-tags-basic', path: `/v2/${repo}/tags/list`, login: (u) => u.alice },
  { id: 'auth-catalog-basic', path: '/v2/_catalog', login: (u) => u.alice },
]

function observeWithChallenge(reg: RegistryClient, res: HttpResponse): Observation {
  const seen = observe(reg, res)
  const challenge = challengeShape(res.header('www-authenticate'))
  return { ...seen, headers: { ...seen.headers, ...(challenge !== undefined ? { 'www-authenticate': challenge } : {}) } }
}

await scenario(t, 'the 401 flow: the reference with htpasswd and Wharf with the same file answer alike, except for the challenge scheme',
  { tools: ['registry', 'htpasswd', 'openssl'], timeout: 60_000 }, async (t) => {
    const wharf = await startAuthRegistry({ tls: false })
    t.teardown(() => wharf.stop())
    const reference = await startReferenceRegistry({ binary: toolPath('registry'), htpasswd: wharf.htpasswd })
    t.teardown(() => reference.stop())
    const users = wharf.users

    const observed: Difference[] = []
    const statuses: Record<string, [number, number]> = {}
    const wharfChallenges: Record<string, string | undefined> = {}
    for (const step of STEPS) {
      const headers = step.login ? { authorization: basic(step.login(users)) } : {}
      const answers: Observation[] = []
      for (const base of [wharf.url, reference.url]) {
        const reg = new CredentialedClient(base, { timeoutMs: 10_000, headers })
        const res = await reg.get(step.path)
        if (base === wharf.url) wharfChallenges[step.id] = res.header('www-authenticate')
        answers.push(observeWithChallenge(reg, res))
      }
      statuses[step.id] = [answers[0]!.status, answers[1]!.status]
      observed.push(...compare(step.id, answers[0]!, answers[1]!))
    }

    t.same(statuses['auth-base-anonymous'], [401, 401], '/v2/ without credentials: 401 on both')
    t.same(statuses['auth-base-basic'], [200, 200], '/v2/ with Basic credentials: 200 on both')
    t.same(statuses['auth-base-wrong-password'], [401, 401], '/v2/ with a wrong password: 401 on both')
    t.same(statuses['auth-base-unknown-user'], [401, 401], '/v2/ with an unknown user: 401 on both')
    t.same(statuses['auth-manifest-anonymous'], [401, 401], 'a repository route without credentials: 401 on both')
    t.match(wharfChallenges['auth-base-anonymous'] ?? '', new RegExp(`^Bearer realm="${wharf.url}/token",service="wharf"`),
      "Wharf's challenge names its token endpoint (default realm: scheme and Host of the request + /token) and service")

    // registry:2 names the source of a mount in its challenge (pull on `from`), so that a client
    // which asks for exactly the challenge's scope (the OCI conformance suite's) gets a token that can mount.
    const mount = await wharf.client().request(`/v2/${repo}/blobs/uploads/?mount=sha256:${'a'.repeat(64)}&from=team/source`, { method: 'POST' })
    t.equal(mount.status, 401, 'an anonymous mount is refused with 401')
    t.match(mount.header('www-authenticate') ?? '', new RegExp(`scope="repository:${repo.replace(/[/.]/g, '\\$&')}:pull,push repository:team/source:pull"`),
      "and its challenge names the target's pull,push and the source's pull, as registry:2's does")

    const listed = (d: Difference): KnownDifference | undefined => AUTH_DIFFERENCES.find((k) =>
      (k.step === d.step || k.step === '*') && k.field === d.field && isDeepStrictEqual(k.wharf, d.wharf) && isDeepStrictEqual(k.reference, d.reference))
    const used = new Set(observed.map(listed))
    if (process.env.WHARF_DIFFERENTIAL_DUMP) console.error(JSON.stringify(observed, null, 2))
    t.same(observed.filter((d) => listed(d) === undefined), [], 'no difference outside AUTH_DIFFERENCES (differences.ts)')
    t.same(AUTH_DIFFERENCES.filter((d) => !used.has(d)).map((d) => `${d.step} ${d.field}`), [], 'every listed difference is still observed')
  })
