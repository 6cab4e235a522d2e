// crane (go-containerregistry) logging in to a Wharf with access control, over plain HTTP
// (--insecure) and over HTTPS trusting the test CA through SSL_CERT_FILE: `crane auth login -u -p`
// (each user with their own DOCKER_CONFIG), `crane push` and `crane copy` as alice, `crane catalog`
// lists only what each user may pull (bob does not see alice's home/alice/**), `crane delete` is
// refused for bob and works for alice.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { toolPath, uniqueSuffix } from './helpers/env.js'
import { busyboxImage, dockerArchive, newSalt } from './helpers/fixtures.js'
import type { AuthRegistry, Login } from './helpers/auth-registry.js'
import { assertLanded, AUTH_ERROR, digestOfTag, loginScenario, TRANSPORTS } from './helpers/login.js'
import { run, type RunResult } from './helpers/proc.js'

const runId = uniqueSuffix()
const salt = newSalt()

type Crane = (args: readonly string[], options?: { allowFailure?: boolean }) => Promise<RunResult>

/** crane as one user: its own DOCKER_CONFIG, logged in with `crane auth login`. */
async function craneAs(registry: AuthRegistry, login: Login): Promise<Crane> {
  const config = path.join(registry.dir, `crane-${login.user}`)
  await mkdir(config, { recursive: true })
  const crane: Crane = (args, options = {}) => run(toolPath('crane'), [...args, ...(registry.tls ? [] : ['--insecure'])], {
    env: { DOCKER_CONFIG: config, ...(registry.caFile !== undefined ? { SSL_CERT_FILE: registry.caFile } : {}) },
    timeoutMs: 120_000, ...options,
  })
  const out = await crane(['auth', 'login', registry.address, '-u', login.user, '-p', login.password])
  if (!/logged in/i.test(`${out.stdout}${out.stderr}`)) throw new Error(`crane auth login as ${login.user}: ${out.stdout}${out.stderr}`)
  return crane
}

for (const transport of TRANSPORTS) {
  await loginScenario(t, 'crane auth login, push, copy, catalog, delete', transport, { tools: ['crane', 'busybox'], timeout: 120_000 }, async (t, registry) => {
    const { alice, bob } = registry.users
    const alices = await craneAs(registry, alice)
    const bobs = await craneAs(registry, bob)
    const team = `team/crane-${runId}/app`
    const copy = `team/crane-${runId}/copy`
    const home = `home/alice/crane-${runId}`

    const tarball = path.join(registry.dir, 'crane-image.tar')
    await writeFile(tarball, dockerArchive(busyboxImage('amd64', 'docker', salt), ['busybox:local']))
    const refs = path.join(registry.dir, 'crane-refs')
    await alices(['push', tarball, `${registry.address}/${team}:v1`, '--image-refs', refs])
    const written = await readFile(refs, 'utf8')
    const digest = /@(sha256:[0-9a-f]{64})/.exec(written)?.[1]
    t.ok(digest, `crane push --image-refs wrote the pushed digest (${written.trim()})`)
    await assertLanded(t, registry, alice, team, 'v1', digest)

    await alices(['copy', `${registry.address}/${team}:v1`, `${registry.address}/${copy}:v1`])
    t.equal(await digestOfTag(registry, alice, copy, 'v1'), digest, 'crane copy within the registry: the copy has the same digest')
    await alices(['copy', `${registry.address}/${team}:v1`, `${registry.address}/${home}:v1`])
    t.equal(await digestOfTag(registry, alice, home, 'v1'), digest, `crane copy to ${home}`)

    const aliceCatalog = (await alices(['catalog', registry.address])).stdout.split('\n').filter(Boolean)
    const bobCatalog = (await bobs(['catalog', registry.address])).stdout.split('\n').filter(Boolean)
    t.same([team, copy, home].filter((r) => !aliceCatalog.includes(r)), [], `alice's catalog lists ${team}, ${copy} and ${home}`)
    t.same([team, copy].filter((r) => !bobCatalog.includes(r)), [], `bob's catalog lists ${team} and ${copy}`)
    t.notOk(bobCatalog.includes(home), `bob's catalog leaves out ${home}, which he may not pull`)
    t.same(bobCatalog.filter((r) => !r.startsWith('team/') && !r.startsWith('public/')), [], 'bob sees nothing outside team/** and public/**')

    const refused = await bobs(['delete', `${registry.address}/${copy}@${digest}`], { allowFailure: true })
    t.not(refused.code, 0, 'crane delete as bob (pull only) is refused')
    t.match(refused.stderr, AUTH_ERROR, `with an auth error (${refused.stderr.trim().split('\n').pop()})`)
    t.equal(await digestOfTag(registry, alice, copy, 'v1'), digest, 'and the manifest is still there')
    await alices(['delete', `${registry.address}/${copy}@${digest}`])
    t.equal(await digestOfTag(registry, alice, copy, 'v1'), undefined, 'crane delete as alice removed it')
    t.equal(await digestOfTag(registry, alice, team, 'v1'), digest, 'the original is untouched')
  })
}
