// docker (Debian's dockerd 20.10, private instance) logging in to a Wharf with access control, over
// plain HTTP and over HTTPS with a test CA in /etc/docker/certs.d/127.0.0.1:PORT/ca.crt:
// `docker login --password-stdin`, push, pull, `docker logout`, then a team pull fails with an
// auth error while a public/** pull works anonymously; a robot token (`wharf token create`)
// logs in with `docker login -u ci`.
//
// dockerd always treats 127.0.0.0/8 as an insecure registry (it cannot be switched off), so over
// HTTPS it talks TLS but does not insist on the CA; the CA file is still laid out as users do.
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { startDockerd, type DockerDaemon } from './helpers/daemons.js'
import { missingRequirements, uniqueSuffix, type Requirements, type Tap } from './helpers/env.js'
import { busyboxImage, dockerArchive, newSalt } from './helpers/fixtures.js'
import { assertAnonymousRefused, assertLanded, AUTH_ERROR, caDir, CI_ROBOT, loginScenario, TRANSPORTS } from './helpers/login.js'
import type { AuthRegistry } from './helpers/auth-registry.js'
import { tempDir } from './helpers/proc.js'

const runId = uniqueSuffix()
const salt = newSalt()
const needs: Requirements = { tools: ['dockerd', 'docker', 'containerd', 'busybox'], root: true }
const LOCAL = 'wharf-conformance/login:amd64'

// One private dockerd for the whole file (every registry is on 127.0.0.1, insecure by default).
let daemon: Promise<DockerDaemon> | undefined
function docker(): Promise<DockerDaemon> {
  if (!daemon) {
    daemon = startDockerd([]).then(async (d) => {
      const work = await tempDir('docker-login-load')
      try {
        const archive = path.join(work.path, 'image.tar')
        await writeFile(archive, dockerArchive(busyboxImage('amd64', 'docker', salt), [LOCAL]))
        await d.docker(['load', '-i', archive])
      } finally { await work.remove() }
      return d
    })
    t.teardown(async () => { await (await daemon!).stop() })
  }
  return daemon
}
if (missingRequirements(needs) === undefined) void docker().catch(() => undefined)

/** /etc/docker/certs.d/<address>/ca.crt for an HTTPS registry, removed when the scenario ends. */
async function trustCa(t: Tap, registry: AuthRegistry): Promise<void> {
  if (!registry.tls) return
  const dir = path.join('/etc/docker/certs.d', registry.address)
  // The first directory mkdir made (undefined when certs.d existed): removed again if left empty.
  const created = await mkdir(path.dirname(dir), { recursive: true })
  await caDir(registry, dir)
  t.teardown(async () => {
    await rm(dir, { recursive: true, force: true })
    if (created !== undefined) await rmdir(created).catch(() => undefined)
  })
}

/** What `docker login` stored for the registry in the CLI's config.json. */
async function storedLogin(d: DockerDaemon, address: string): Promise<{ auth?: string; identitytoken?: string } | undefined> {
  const config = JSON.parse(await readFile(path.join(d.cliConfig, 'config.json'), 'utf8')) as { auths?: Record<string, { auth?: string; identitytoken?: string }> }
  return config.auths?.[address]
}

function pushedDigest(output: string): string | undefined {
  return /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(output)?.[1]
}

for (const transport of TRANSPORTS) {
  await loginScenario(t, 'docker login, push, pull, logout', transport, { ...needs, timeout: 240_000 }, async (t, registry) => {
    const d = await docker()
    await trustCa(t, registry)
    const { alice } = registry.users
    const team = `team/docker-${runId}/app`
    const pub = `public/docker-${runId}/app`
    const ref = (repo: string): string => `${registry.address}/${repo}:v1`

    const login = await d.docker(['login', '-u', alice.user, '--password-stdin', registry.address], { input: alice.password })
    t.match(login.stdout, /Login Succeeded/, 'docker login -u alice --password-stdin succeeds')
    const stored = await storedLogin(d, registry.address)
    t.ok(stored?.identitytoken, 'docker login stored a refresh token (identitytoken: the token endpoint answered offline_token=true)')
    t.notMatch(Buffer.from(stored?.auth ?? '', 'base64').toString(), alice.password, 'and not the password')

    const pushed: Record<string, string | undefined> = {}
    for (const repo of [team, pub]) {
      await d.docker(['tag', LOCAL, ref(repo)])
      const out = await d.docker(['push', ref(repo)])
      pushed[repo] = pushedDigest(out.stdout)
      t.ok(pushed[repo], `docker push ${repo} printed a digest`)
      await assertLanded(t, registry, alice, repo, 'v1', pushed[repo])
    }
    await assertAnonymousRefused(t, registry, team, 'v1')

    await d.docker(['rmi', ref(team), ref(pub)])
    const pulled = await d.docker(['pull', ref(team)])
    t.match(pulled.stdout, pushed[team]!, 'docker pull (logged in) reports the pushed digest')

    await d.docker(['logout', registry.address])
    t.equal(await storedLogin(d, registry.address), undefined, 'docker logout removed it')
    await d.docker(['rmi', ref(team)])
    const refused = await d.docker(['pull', ref(team)], { allowFailure: true })
    t.not(refused.code, 0, 'after docker logout, pulling a team image fails')
    t.match(refused.stderr, AUTH_ERROR, `with an auth error (${refused.stderr.trim().split('\n').pop()})`)
    const anonymous = await d.docker(['pull', ref(pub)])
    t.match(anonymous.stdout, pushed[pub]!, 'a public/** image pulls anonymously, the pushed digest')
    await d.docker(['rmi', ref(pub)])
  })
}

await loginScenario(t, 'docker login with a robot token (wharf token create), push', 'http', { ...needs, timeout: 180_000, robots: [CI_ROBOT] }, async (t, registry) => {
  const d = await docker()
  const ci = registry.robots[CI_ROBOT.name]!
  const repo = `team/docker-robot-${runId}`
  const ref = `${registry.address}/${repo}:ci`
  const login = await d.docker(['login', '-u', ci.user, '--password-stdin', registry.address], { input: ci.password })
  t.match(login.stdout, /Login Succeeded/, 'docker login -u ci --password-stdin (the robot secret) succeeds')
  await d.docker(['tag', LOCAL, ref])
  const out = await d.docker(['push', ref])
  const digest = pushedDigest(out.stdout)
  t.ok(digest, 'docker push with the robot token printed a digest')
  await assertLanded(t, registry, registry.users.alice, repo, 'ci', digest)
  const outside = `${registry.address}/public/docker-robot-${runId}:ci`
  await d.docker(['tag', LOCAL, outside])
  const refused = await d.docker(['push', outside], { allowFailure: true })
  t.not(refused.code, 0, 'the robot cannot push outside its scope (public/**)')
  t.match(`${refused.stdout}${refused.stderr}`, AUTH_ERROR, 'with an auth error')
  await d.docker(['logout', registry.address])
  await d.docker(['rmi', ref, outside])
})
