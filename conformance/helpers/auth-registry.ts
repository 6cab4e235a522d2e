// A Wharf with access control, as the login scenarios need it: users from an htpasswd file made
// by Debian's `htpasswd -B` (alice: push, pull, delete on team/** and admin; bob: pull on
// team/**; anyone: pull on public/**), optionally a robot token made with `wharf token create`,
// and optionally HTTPS with a certificate for 127.0.0.1 signed by a CA the test makes with the
// openssl CLI. Everything lives in one temp directory removed at stop.
import { randomBytes } from 'node:crypto'
import https from 'node:https'
import path from 'node:path'
import {
  CredentialedClient, issueCertificate, makeCertificateAuthority, pem, RegistryClient, runCli, startWharf, writeConfig,
  type WharfProcess,
} from '../../test/support/index.js'
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
  /** How clients reached the token endpoint so far (from the request log): GET (Basic) and POST (OAuth2 form). */
  tokenRequests(): { readonly get: number; readonly post: number }
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
    // A CA and a server certificate for 127.0.0.1 made with the openssl CLI, as an administrator would.
    const ca = options.tls ? await makeCertificateAuthority(dir.path, 'Wharf login test CA', 'ca') : undefined
    const server = ca ? await issueCertificate(ca, { kind: 'server', name: '127.0.0.1', file: 'server', ips: ['127.0.0.1'], dns: ['localhost'] }) : undefined
    const storage = path.join(dir.path, 'storage')
    const configFile = await writeConfig(dir.path, {
      storage: { path: storage },
      // Requests are logged (credentials never are) so that a scenario can say how its client logged in.
      log: { level: 'info', requests: true },
      auth: { htpasswd, ...RULES },
      ...(server ? { http: { tls: { certificate: server.cert, key: server.key } } } : {}),
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
    const agent = ca ? new https.Agent({ keepAlive: true, ca: await pem(ca.cert) }) : undefined
    return {
      url, address, tls: options.tls, caFile: ca?.cert, users, robots, htpasswd, configFile, wharf, dir: dir.path,
      client: (login) => new CredentialedClient(url, {
        timeoutMs: 60_000,
        ...(login ? { headers: { authorization: basic(login) } } : {}),
        ...(agent ? { agent } : {}),
      }),
      logs: () => wharf.logs.slice(-200).join('\n'),
      tokenRequests: () => {
        let get = 0
        let post = 0
        for (const line of wharf.logs) {
          if (!line.includes('"/token')) continue
          try {
            const entry = JSON.parse(line) as { req?: { method?: string; url?: string } }
            if (!entry.req?.url?.startsWith('/token')) continue
            if (entry.req.method === 'GET') get++
            else if (entry.req.method === 'POST') post++
          } catch { /* not a JSON line */ }
        }
        return { get, post }
      },
      async stop() {
        agent?.destroy()
        await wharf.stop()
        await dir.remove()
      },
    }
  } catch (error) {
    await dir.remove()
    throw error
  }
}
