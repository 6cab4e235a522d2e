// containerd's ctr (private containerd) against a Wharf with access control, over plain HTTP
// (--plain-http) and over HTTPS trusting the test CA (--tlscacert): `ctr images push --user
// alice:PW`, `ctr images pull --user bob:PW`; no credentials and a wrong password are refused.
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { startContainerd, startedOnce } from './helpers/daemons.js'
import { missingRequirements, uniqueSuffix, type Requirements } from './helpers/env.js'
import { busyboxImage, newSalt, ociArchive } from './helpers/fixtures.js'
import type { AuthRegistry, Login } from './helpers/auth-registry.js'
import { assertLanded, AUTH_ERROR, loginScenario, TRANSPORTS } from './helpers/login.js'

const runId = uniqueSuffix()
const salt = newSalt()
const needs: Requirements = { tools: ['containerd', 'ctr', 'busybox'], root: true }
const image = busyboxImage('amd64', 'oci', salt)

const containerd = startedOnce(t, () => startContainerd())
if (missingRequirements(needs) === undefined) void containerd().catch(() => undefined)

/**
 * Over HTTP `--plain-http`. Over HTTPS a hosts directory naming the https:// server: without one,
 * containerd 1.6 speaks plain HTTP to loopback registries whatever --tlscacert says; the CA is
 * given both ways (hosts.toml `ca` and --tlscacert).
 */
async function transportFlagsFor(registry: AuthRegistry): Promise<string[]> {
  if (registry.caFile === undefined) return ['--plain-http']
  const hosts = path.join(registry.dir, 'containerd-hosts')
  await mkdir(path.join(hosts, registry.address), { recursive: true })
  await writeFile(path.join(hosts, registry.address, 'hosts.toml'), [
    `server = "https://${registry.address}"`,
    '',
    `[host."https://${registry.address}"]`,
    `  ca = "${registry.caFile}"`,
    '',
  ].join('\n'))
  return ['--hosts-dir', hosts, '--tlscacert', registry.caFile]
}
const user = (login: Login): string[] => ['--user', `${login.user}:${login.password}`]

for (const transport of TRANSPORTS) {
  await loginScenario(t, 'ctr push and pull with --user', transport, { ...needs, timeout: 120_000 }, async (t, registry) => {
    const c = await containerd()
    const transportFlags = await transportFlagsFor(registry)
    const { alice, bob } = registry.users
    const repo = `team/ctr-${runId}/${transport}`
    const ref = `${registry.address}/${repo}:v1`
    const archive = path.join(registry.dir, 'image.tar')
    await writeFile(archive, ociArchive([{ name: ref, content: image }]))
    await c.ctr(['images', 'import', '--no-unpack', archive])

    const anonymous = await c.ctr(['images', 'push', ...transportFlags, ref], { allowFailure: true })
    t.not(anonymous.code, 0, 'ctr images push without --user is refused')
    t.match(`${anonymous.stdout}${anonymous.stderr}`, AUTH_ERROR, 'with an auth error')
    const wrong = await c.ctr(['images', 'push', ...transportFlags, '--user', `${alice.user}:wrong-password`, ref], { allowFailure: true })
    t.not(wrong.code, 0, 'ctr images push with a wrong password is refused')
    t.match(`${wrong.stdout}${wrong.stderr}`, AUTH_ERROR, 'with an auth error')

    await c.ctr(['images', 'push', ...transportFlags, ...user(alice), ref])
    await assertLanded(t, registry, alice, repo, 'v1', image.manifest.digest)

    await c.ctr(['images', 'rm', '--sync', ref])
    await c.ctr(['content', 'rm', ...[image.manifest, image.config, ...image.layers].map((b) => b.digest)], { allowFailure: true })
    const pulled = await c.ctr(['images', 'pull', ...transportFlags, ...user(bob), '--snapshotter', 'native', ref])
    t.match(pulled.stdout, image.manifest.digest.slice(7), 'ctr images pull --user bob resolved the pushed digest')
    const content = (await c.ctr(['content', 'ls', '-q'])).stdout
    for (const blob of [image.config, ...image.layers]) t.ok(content.includes(blob.digest), `${blob.digest.slice(7, 19)} fetched with bob's credentials`)
    await c.ctr(['images', 'rm', '--sync', ref])
  })
}
