// What every login scenario shares: one scenario per client and transport (plain HTTP, HTTPS with
// the test CA), the registry with access control started for it, and the checks that read back
// what really landed with credentials (every digest verified) and what an anonymous caller gets.
import { copyFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { ACCEPT_ALL_MANIFESTS, errorCodes, type PulledTree } from '../../test/support/index.js'
import { startAuthRegistry, type AuthRegistry, type Login, type RobotRequest } from './auth-registry.js'
import { scenario, type Requirements, type Tap, type ToolName } from './env.js'

export type Transport = 'http' | 'https'
export const TRANSPORTS: readonly Transport[] = ['http', 'https']

/** What a client prints when a registry refused its credentials or its rights. */
export const AUTH_ERROR = /unauthori[sz]ed|authentication required|invalid username\/password|denied|forbidden|\b401\b|\b403\b/i

/** The robot of the CI scenarios: `wharf token create --name ci --scope 'repository:team/*:pull,push'`. */
export const CI_ROBOT: RobotRequest = { name: 'ci', scope: 'repository:team/*:pull,push' }

/** Tools every login scenario needs besides its client: the htpasswd file and the test CA. */
const BASE_TOOLS: readonly ToolName[] = ['htpasswd', 'openssl']

export interface LoginScenarioOptions extends Requirements {
  readonly timeout: number
  readonly robots?: readonly RobotRequest[]
}

/**
 * One scenario: `client` against a Wharf with access control over `transport`, started for this
 * scenario alone (own port, own storage, own CA) and stopped at its end.
 */
export function loginScenario(t: Tap, name: string, transport: Transport, options: LoginScenarioOptions,
  fn: (t: Tap, registry: AuthRegistry) => Promise<void>): Promise<unknown> {
  const requirements = { tools: [...BASE_TOOLS, ...(options.tools ?? [])], ...(options.root ? { root: true } : {}) }
  return scenario(t, `${name} over ${transport.toUpperCase()}`, { ...requirements, timeout: options.timeout }, async (t) => {
    const registry = await startAuthRegistry({ tls: transport === 'https', ...(options.robots ? { robots: options.robots } : {}) })
    t.teardown(() => registry.stop())
    try {
      await fn(t, registry)
      const { get, post } = registry.tokenRequests()
      t.comment(`${name} over ${transport}: token endpoint asked ${get} times by GET (Basic), ${post} times by POST (OAuth2 form)`)
    } catch (error) {
      t.comment(`server log (end):\n${registry.logs().slice(-4000)}`)
      throw error
    }
  })
}

/** A directory holding only the test CA as ca.crt: containers/image's --cert-dir, docker's certs.d layout. */
export async function caDir(registry: AuthRegistry, dir: string): Promise<string> {
  if (registry.caFile === undefined) throw new Error('caDir: the registry has no TLS')
  await mkdir(dir, { recursive: true })
  await copyFile(registry.caFile, path.join(dir, 'ca.crt'))
  return dir
}

/**
 * Reads repo:reference back with `login`'s Basic credentials as a fresh client would (every digest
 * verified) and checks it is `digest` when given. Resolves with what was pulled.
 */
export async function assertLanded(t: Tap, registry: AuthRegistry, login: Login, repo: string, reference: string, digest?: string): Promise<PulledTree> {
  const pulled = await registry.client(login).pullVerified(repo, reference)
  t.ok(pulled.blobs.size > 0, `${repo}:${reference} reads back with ${login.user}'s credentials, every digest verified (${pulled.manifests.size} manifests, ${pulled.blobs.size} blobs)`)
  if (digest !== undefined) t.equal(pulled.digest, digest, `${repo}:${reference} is ${digest.slice(0, 19)}…, the digest the client reported`)
  return pulled
}

/** An anonymous GET of a team manifest: 401 UNAUTHORIZED with a Bearer challenge naming the scope. */
export async function assertAnonymousRefused(t: Tap, registry: AuthRegistry, repo: string, reference: string): Promise<void> {
  const res = await registry.client().get(`/v2/${repo}/manifests/${reference}`, { accept: ACCEPT_ALL_MANIFESTS })
  t.equal(res.status, 401, `anonymous GET of ${repo}:${reference} is refused with 401`)
  t.same(errorCodes(res), ['UNAUTHORIZED'], 'with the UNAUTHORIZED error code')
  t.match(res.header('www-authenticate') ?? '', new RegExp(`^Bearer realm="[^"]+",service="[^"]+",scope="repository:${repo.replace(/[/.]/g, '\\$&')}:pull"`),
    'and a Bearer challenge naming the token endpoint and the scope needed')
}

/** The registry's idea of a tag's digest, read with credentials (HEAD, no body). */
export async function digestOfTag(registry: AuthRegistry, login: Login, repo: string, tag: string): Promise<string | undefined> {
  const res = await registry.client(login).head(`/v2/${repo}/manifests/${tag}`, { accept: ACCEPT_ALL_MANIFESTS })
  return res.status === 200 ? res.header('docker-content-digest') : undefined
}
