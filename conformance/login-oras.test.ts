// oras logging in to a Wharf with access control, over plain HTTP (--plain-http) and over HTTPS
// trusting the test CA (--ca-file): `oras login --password-stdin`, `oras push` of an artifact,
// `oras attach` of a signature (through the referrers API, not the tag schema) and
// `oras discover`, all with the stored credentials; read back with alice's Basic credentials.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { toolPath, uniqueSuffix } from './helpers/env.js'
import { newSalt } from './helpers/fixtures.js'
import type { AuthRegistry } from './helpers/auth-registry.js'
import { AUTH_ERROR, loginScenario, TRANSPORTS } from './helpers/login.js'
import { run, type RunResult } from './helpers/proc.js'
import { digestOf } from '../test/support/index.js'

const runId = uniqueSuffix()
const salt = newSalt()
const ARTIFACT_TYPE = 'application/vnd.wharf.login-test.v1'
const SIGNATURE_TYPE = 'application/vnd.wharf.login-test.signature.v1'

/** `withoutTransport`: for `oras logout`, which only edits the credentials file and takes no --plain-http/--ca-file. */
type Oras = (args: readonly string[], options?: { input?: string; allowFailure?: boolean; withoutTransport?: boolean }) => Promise<RunResult>

function orasFor(registry: AuthRegistry): Oras {
  const transport = registry.caFile !== undefined ? ['--ca-file', registry.caFile] : ['--plain-http']
  const config = path.join(registry.dir, 'oras-auth.json')
  return (args, { withoutTransport = false, ...options } = {}) =>
    run(toolPath('oras'), [...args, '--registry-config', config, ...(withoutTransport ? [] : transport)], { cwd: registry.dir, timeoutMs: 120_000, ...options })
}

const printedDigest = (out: RunResult): string | undefined => /Digest: (sha256:[0-9a-f]{64})/.exec(out.stdout)?.[1]

for (const transport of TRANSPORTS) {
  await loginScenario(t, 'oras login, push, attach, discover', transport, { tools: ['oras'], timeout: 120_000 }, async (t, registry) => {
    const oras = orasFor(registry)
    const { alice } = registry.users
    const repo = `team/oras-${runId}/artifact`
    const ref = `${registry.address}/${repo}:v1`
    const payload = `wharf login test ${salt}\n`
    await writeFile(path.join(registry.dir, 'payload.txt'), payload)
    await writeFile(path.join(registry.dir, 'signature.txt'), `signed ${salt}\n`)

    const anonymous = await oras(['push', '--artifact-type', ARTIFACT_TYPE, ref, 'payload.txt:text/plain'], { allowFailure: true })
    t.not(anonymous.code, 0, 'oras push before login is refused')
    t.match(anonymous.stderr, AUTH_ERROR, 'with an auth error')

    const login = await oras(['login', '-u', alice.user, '--password-stdin', registry.address], { input: alice.password })
    t.match(login.stdout, /Login Succeeded/, 'oras login -u alice --password-stdin succeeds')

    const pushed = printedDigest(await oras(['push', '--artifact-type', ARTIFACT_TYPE, ref, 'payload.txt:text/plain']))
    t.ok(pushed, 'oras push printed the manifest digest')
    const reader = registry.client(alice)
    const manifest = await reader.pullVerified(repo, 'v1')
    t.equal(manifest.digest, pushed, 'the artifact reads back with that digest, every digest verified')
    const body = JSON.parse(manifest.manifests.get(manifest.digest)!.body.toString()) as { artifactType?: string; layers: Array<{ digest: string }> }
    t.equal(body.artifactType, ARTIFACT_TYPE, 'with its artifactType')
    t.equal(body.layers[0]?.digest, digestOf(payload), 'and the file as its layer')

    const attached = printedDigest(await oras(['attach', '--distribution-spec', 'v1.1-referrers-api', '--artifact-type', SIGNATURE_TYPE, ref, 'signature.txt:text/plain']))
    t.ok(attached, 'oras attach printed the referrer digest')
    t.same(await reader.referrers(repo, pushed!), [attached], 'the referrers API lists the attached signature')
    const discovered = JSON.parse((await oras(['discover', '--format', 'json', ref])).stdout) as { manifests?: Array<{ digest: string; artifactType?: string }> }
    t.same((discovered.manifests ?? []).map((m) => [m.digest, m.artifactType]), [[attached, SIGNATURE_TYPE]], 'oras discover (logged in) shows it')

    await oras(['logout', registry.address], { withoutTransport: true })
    const after = await oras(['discover', '--format', 'json', ref], { allowFailure: true })
    t.not(after.code, 0, 'after oras logout, discover of a team artifact is refused')
  })
}
