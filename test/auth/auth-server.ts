/**
 * A real `wharf serve` with access control for the auth tests: users in an htpasswd file (bcrypt,
 * `$2y$` as Apache's `htpasswd -B` writes), robots made and revoked with the real CLI, tokens from
 * the server's own /token endpoint, and tokens signed in the test with the key files the server
 * wrote (for claims the endpoint would never issue: forged, stale, foreign).
 */
import { randomBytes, type KeyObject } from 'node:crypto'
import { rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import bcrypt from 'bcryptjs'
import { SignJWT, type JWTPayload } from 'jose'
import type { Test } from 'tap'
import { readSigningKeys } from '../../src/auth/signing-keys.js'
import { request, runCli, sleep, startWharf, tempDir, writeConfig, type CliResult, type HttpResponse, type WharfProcess } from '../support/index.js'

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
}

/** An htpasswd line as `htpasswd -B -C 5` writes it. */
export function htpasswdLine(user: string, password: string): string {
  return `${user}:${bcrypt.hashSync(password, 5).replace(/^\$2b\$/, '$2y$')}`
}

/** A loopback port free right now (for a config that must name the server's own URL before it starts). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return address.port
}

export interface AuthServerOptions {
  /** User name → password, written to the htpasswd file. */
  readonly users?: Readonly<Record<string, string>>
  /** The rest of the `auth` section: groups, rules, anonymous, throttle, token, trust, directory. */
  readonly auth?: Readonly<Record<string, unknown>>
  /** Other sections of the config (gc, log, ...). */
  readonly config?: Readonly<Record<string, unknown>>
  readonly port?: number
}

export interface AuthServer {
  readonly wharf: WharfProcess
  readonly url: string
  readonly configFile: string
  readonly storage: string
  readonly htpasswd: string
  /** `auth.directory`, or `<storage>/auth`. */
  readonly authDirectory: string
  readonly keysDirectory: string
  /** `wharf <args> --config <config> --storage <storage>`. */
  cli(args: readonly string[], input?: string): Promise<CliResult>
  /** `wharf token create`: the robot's secret, once the server can know the robot (about a second). */
  createRobot(name: string, ...scopes: string[]): Promise<string>
  /** GET /token with the query (and Basic credentials, if given); the answer as it is. */
  tokenResponse(query: string, authorization?: string): Promise<HttpResponse>
  /** GET /token: the token, failing the test on any answer but 200. */
  token(query: string, authorization?: string): Promise<string>
}

/** Starts `wharf serve --config` with an `auth` section; stopped and its files removed at `t`'s teardown. */
export async function startAuthServer(t: Test, options: AuthServerOptions = {}): Promise<AuthServer> {
  const dir = await tempDir('auth')
  const storage = path.join(dir, 'storage')
  const htpasswd = path.join(dir, 'htpasswd')
  await writeFile(htpasswd, Object.entries(options.users ?? {}).map(([user, password]) => `${htpasswdLine(user, password)}\n`).join(''))
  const configFile = await writeConfig(dir, { gc: { intervalSeconds: 0 }, ...options.config, auth: { htpasswd, ...options.auth } })
  const wharf = await startWharf({ storage, extraArgs: ['--config', configFile], ...(options.port !== undefined ? { port: options.port } : {}) })
  t.teardown(async () => {
    await wharf.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const authDirectory = typeof options.auth?.directory === 'string' ? options.auth.directory : path.join(storage, 'auth')
  const cli = (args: readonly string[], input?: string): Promise<CliResult> =>
    runCli([...args, '--config', configFile, '--storage', storage], {}, { timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) })
  const tokenResponse = (query: string, authorization?: string): Promise<HttpResponse> =>
    request(wharf.url, `/token?${query}`, { headers: authorization !== undefined ? { authorization } : {} })
  return {
    wharf, url: wharf.url, configFile, storage, htpasswd, authDirectory, keysDirectory: path.join(authDirectory, 'keys'),
    cli,
    async createRobot(name, ...scopes) {
      const made = await cli(['token', 'create', '--name', name, ...scopes.flatMap((scope) => ['--scope', scope])])
      if (made.code !== 0) throw new Error(`wharf token create ${name}: ${made.stderr}`)
      // The running server looks at robots.json at most once a second: after that it knows the robot.
      await sleep(1100)
      return made.stdout.trim()
    },
    tokenResponse,
    async token(query, authorization) {
      const res = await tokenResponse(query, authorization)
      if (res.status !== 200) throw new Error(`no token: ${res.describe()}`)
      return res.json<{ token: string }>().token
    },
  }
}

/** The newest key in a keys directory the server wrote. */
export async function serverKey(keysDirectory: string): Promise<{ kid: string; privateKey: KeyObject; publicKey: KeyObject }> {
  const key = (await readSigningKeys(keysDirectory)).at(-1)
  if (key?.privateKey === undefined) throw new Error(`no signing key in ${keysDirectory}`)
  return { kid: key.kid, privateKey: key.privateKey, publicKey: key.publicKey }
}

/** Claims as Wharf's own tokens carry them (sub alice, aud and iss wharf, 300 s), with `overrides`. */
export function claims(overrides: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000)
  return { iss: 'wharf', sub: 'user:alice', aud: 'wharf', iat: now, nbf: now, exp: now + 300, jti: randomBytes(8).toString('hex'), access: [], ...overrides }
}

export async function sign(payload: JWTPayload, key: KeyObject | Uint8Array, header: Record<string, unknown>): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key)
}

/** A token signed with the server's own key: what its /token would issue, for any subject and access. */
export async function signedToken(keysDirectory: string, sub: string, scopes: readonly string[]): Promise<string> {
  const { kid, privateKey } = await serverKey(keysDirectory)
  const access = scopes.map((scope) => {
    const [type, name, actions] = scope.split(':') as [string, string, string]
    return { type, name, actions: actions.split(',') }
  })
  return sign(claims({ sub, access }), privateKey, { alg: 'ES256', typ: 'JWT', kid })
}
