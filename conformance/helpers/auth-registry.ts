// A Wharf with access control, as the login scenarios need it: users from an htpasswd file made
// by Debian's `htpasswd -B` (alice: push, pull, delete on team/** and admin; bob: pull on
// team/**; anyone: pull on public/**), optionally a robot token made with `wharf token create`,
// and optionally HTTPS with a certificate for 127.0.0.1 signed by a CA the test makes with the
// openssl CLI. Everything lives in one temp directory removed at stop.
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { RegistryClient, runCli, startWharf, writeConfig, type WharfProcess } from '../../test/support/index.js'
import { run, tempDir } from './proc.js'

export type UserName = 'alice' | 'bob'

/** Basic credentials of a user or a robot. */
export interface Login {
  readonly user: string
  readonly password: string
}

/**
 * The access rules every login scenario runs against (auth-design.md: rules, anonymous). Besides
 * team/**, alice may push to public/** (so that there is something anonymous pulls) and has
 * home/alice/** to herself (so that bob's catalog has something to leave out).
 */
export const RULES = {
  rules: [
    { repositories: 'team/**', users: ['alice'], actions: ['pull', 'push', 'delete'] },
    { repositories: 'public/**', users: ['alice'], actions: ['pull', 'push'] },
    { repositories: 'home/alice/**', users: ['alice'], actions: ['pull', 'push', 'delete'] },
    { users: ['alice'], actions: ['admin'] },
    { repositories: 'team/**', users: ['bob'], actions: ['pull'] },
  ],
  anonymous: [{ repositories: 'public/**', actions: ['pull'] }],
} as const

export interface Certificates {
  /** The test CA's certificate (PEM): what clients are told to trust. */
  readonly ca: string
  /** The server certificate (PEM) for IP 127.0.0.1 and DNS localhost, signed by the CA. */
  readonly certificate: string
  readonly key: string
}

/**
 * A CA and a server certificate for 127.0.0.1 (P-256, valid two days), made with the openssl CLI
 * the way an administrator would: the server certificate has the subjectAltName Go clients need.
 */
export async function makeCertificates(dir: string): Promise<Certificates> {
  const file = (name: string): string => path.join(dir, name)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await run('openssl', ['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2',
    '-subj', '/CN=Wharf conformance test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { timeoutMs: 30_000 })
  await run('openssl', ['req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1'], { timeoutMs: 30_000 })
  await writeFile(file('server.ext'), [
    'basicConstraints = CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    'subjectAltName = IP:127.0.0.1, DNS:localhost',
    '',
  ].join('\n'))
  await run('openssl', ['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('server.crt'), '-days', '2', '-extfile', file('server.ext')], { timeoutMs: 30_000 })
  return { ca: file('ca.crt'), certificate: file('server.crt'), key: file('server.key') }
}

/** An htpasswd file with bcrypt entries, made by Debian's `htpasswd -B -C 5` (what registry:2 users have). */
export async function writeHtpasswd(file: string, users: readonly Login[]): Promise<void> {
  for (const [i, { user, password }] of users.entries()) {
    await run('htpasswd', ['-B', '-b', '-C', '5', ...(i === 0 ? ['-c'] : []), file, user, password], { timeoutMs: 30_000 })
  }
}

/** `Authorization: Basic …` for a login. */
export function basic(login: Login): string {
  return `Basic ${Buffer.from(`${login.user}:${login.password}`).toString('base64')}`
}

export interface RobotRequest {
  readonly name: string
  /** As `wharf token create --scope` takes it, e.g. `repository:team/*:pull,push`. */
  readonly scope: string
}

export interface AuthRegistry {
  /** https://127.0.0.1:PORT or http://127.0.0.1:PORT */
  readonly url: string
  /** 127.0.0.1:PORT, as clients name the registry. */
  readonly address: string
  readonly tls: boolean
  /** The test CA's certificate file (HTTPS only). */
  readonly caFile: string | undefined
  readonly users: Readonly<Record<UserName, Login>>
  /** Robots made with `wharf token create` before the server started, by name. */
  readonly robots: Readonly<Record<string, Login>>
  readonly htpasswd: string
  readonly configFile: string
  /** A scratch directory of the registry's own temp dir (removed at stop). */
  readonly dir: string
  readonly wharf: WharfProcess
  /** A raw-HTTP client sending these credentials as Basic on every request (anonymous without), trusting the CA. */
  client(login?: Login): RegistryClient
  logs(): string
  stop(): Promise<void>
}

export interface AuthRegistryOptions {
  readonly tls: boolean
  readonly robots?: readonly RobotRequest[]
}

/** The secret `wharf token create` printed (shown once: `wharf_` and 43 base64url characters). */
export function robotSecret(output: string): string | undefined {
  return /\bwharf_[A-Za-z0-9_-]{43}\b/.exec(output)?.[0]
}

/** Starts `wharf serve` with the login scenarios' `auth` section (and `http.tls` when asked). */
export async function startAuthRegistry(options: AuthRegistryOptions): Promise<AuthRegistry> {
  const dir = await tempDir(options.tls ? 'auth-https' : 'auth-http')
  try {
    const users: Record<UserName, Login> = {
      alice: { user: 'alice', password: `alice-${randomBytes(9).toString('base64url')}` },
      bob: { user: 'bob', password: `bob-${randomBytes(9).toString('base64url')}` },
    }
    const htpasswd = path.join(dir.path, 'htpasswd')
    await writeHtpasswd(htpasswd, [users.alice, users.bob])
    const certificates = options.tls ? await makeCertificates(dir.path) : undefined
    const storage = path.join(dir.path, 'storage')
    const configFile = await writeConfig(dir.path, {
      storage: { path: storage },
      auth: { htpasswd, ...RULES },
      ...(certificates ? { http: { tls: { certificate: certificates.certificate, key: certificates.key } } } : {}),
    })
    const robots: Record<string, Login> = {}
    for (const robot of options.robots ?? []) {
      const created = await runCli(['token', 'create', '--name', robot.name, '--scope', robot.scope, '--config', configFile, '--storage', storage], {}, { timeoutMs: 30_000 })
      const secret = robotSecret(created.stdout)
      if (created.code !== 0 || secret === undefined) {
        throw new Error(`wharf token create --name ${robot.name} exited ${created.code} without a secret:\n${created.stdout}${created.stderr}`)
      }
      robots[robot.name] = { user: robot.name, password: secret }
    }
    const wharf = await startWharf({ storage, extraArgs: ['--config', configFile] })
    const address = wharf.address
    const url = `${options.tls ? 'https' : 'http'}://${address}`
    const ca = certificates ? await readFile(certificates.ca) : undefined
    return {
      url, address, tls: options.tls, caFile: certificates?.ca, users, robots, htpasswd, configFile, wharf,
      dir: path.join(dir.path),
      client: (login) => new RegistryClient(url, {
        timeoutMs: 60_000,
        ...(login ? { headers: { authorization: basic(login) } } : {}),
        ...(ca ? { ca } : {}),
      }),
      logs: () => wharf.logs.slice(-200).join('\n'),
      async stop() {
        await wharf.stop()
        await dir.remove()
      },
    }
  } catch (error) {
    await dir.remove()
    throw error
  }
}
