// Real clients through nginx in front of three Wharf nodes on one bucket and one database
// (test/support/cluster.ts): each request of a push goes to the next node, so blobs are uploaded
// on one node, committed on another and the manifest put on a third. skopeo pushes a linux/amd64 +
// linux/arm64 index and crane pulls it back; crane pushes one and skopeo pulls it back; oras pushes
// an annotated artifact, attaches a referrer and discovers it. Digests and bytes are compared with
// what was pushed, by the clients' own output and by raw HTTP through the balancer.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { assertLayoutHolds, assertPulls } from './helpers/checks.js'
import { containersEnv } from './helpers/containers-env.js'
import { scenario, toolPath, uniqueSuffix, type ToolName } from './helpers/env.js'
import { multiPlatform, newSalt, readOciLayout, writeOciLayout } from './helpers/fixtures.js'
import { run, tempDir, type RunResult } from './helpers/proc.js'
import { clusterAvailable, startCluster } from '../test/support/cluster.js'
import { digestOf, type ImageContent, MediaTypes, RegistryClient, serverErrors } from '../test/support/index.js'

const IMAGE_TOOLS: ToolName[] = ['skopeo', 'crane', 'busybox', 'busyboxArm64']
const TLS = ['--src-tls-verify=false', '--dest-tls-verify=false']

if (clusterAvailable(t)) {
  const cluster = await startCluster(t, { nodes: 3 })
  if (cluster !== undefined) {
    const reg = new RegistryClient(cluster.url, { timeoutMs: 60_000 })
    const runId = uniqueSuffix()
    const salt = newSalt()
    const repo = (name: string): string => `conformance/cluster-${runId}/${name}`
    const ref = (name: string, tag: string): string => `${cluster.address}/${repo(name)}:${tag}`
    const work = await tempDir('cluster-clients')
    t.teardown(() => work.remove())
    const env = await containersEnv([cluster.address])
    t.teardown(() => env.remove())
    const skopeo = (args: readonly string[]): Promise<RunResult> =>
      run(toolPath('skopeo'), ['--policy', env.policy, '--registries-conf', env.env.CONTAINERS_REGISTRIES_CONF!, ...args], { env: env.env, timeoutMs: 120_000 })
    const crane = (args: readonly string[]): Promise<RunResult> => run(toolPath('crane'), [...args, '--insecure'], { timeoutMs: 120_000 })
    const oras = (args: readonly string[], cwd: string): Promise<RunResult> => run(toolPath('oras'), [...args, '--plain-http'], { timeoutMs: 120_000, cwd })

    await scenario(t, 'skopeo pushes a two-platform OCI index through the balancer; crane pulls it back', { tools: IMAGE_TOOLS, timeout: 120_000 }, async (t) => {
      const index = multiPlatform('oci', `${salt}-skopeo`)
      const layout = path.join(work.path, 'skopeo-in')
      await writeOciLayout(layout, [{ name: 'multi', content: index }])
      await skopeo(['copy', '--all', ...TLS, `oci:${layout}:multi`, `docker://${ref('skopeo', 'multi')}`])
      await assertPulls(t, reg, repo('skopeo'), 'multi', index)
      t.equal((await crane(['digest', ref('skopeo', 'multi')])).stdout.trim(), index.manifest.digest, 'crane digest names the pushed index')
      const arm = (await crane(['digest', '--platform', 'linux/arm64', ref('skopeo', 'multi')])).stdout.trim()
      t.equal(arm, index.children[1]!.manifest.digest, 'crane resolves linux/arm64 to the arm64 image')
      const out = path.join(work.path, 'crane-out')
      await crane(['pull', '--format', 'oci', ref('skopeo', 'multi'), out])
      const pulled = await readOciLayout(out)
      t.same(pulled.refs, [index.manifest.digest], 'crane wrote the index itself into its layout')
      await assertLayoutHolds(t, out, index)
    })

    await scenario(t, 'crane pushes a two-platform OCI index through the balancer; skopeo pulls it back', { tools: IMAGE_TOOLS, timeout: 120_000 }, async (t) => {
      const index = multiPlatform('oci', `${salt}-crane`)
      const layout = path.join(work.path, 'crane-in')
      await writeOciLayout(layout, [{ name: 'multi', content: index }])
      const refs = path.join(work.path, 'crane-refs')
      await crane(['push', layout, ref('crane', 'multi'), '--image-refs', refs])
      t.equal((await readFile(refs, 'utf8')).trim(), `${cluster.address}/${repo('crane')}@${index.manifest.digest}`, 'crane push reports the digest of the index')
      await assertPulls(t, reg, repo('crane'), 'multi', index)
      const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref('crane', 'multi')}`])).stdout
      t.equal(digestOf(raw), index.manifest.digest, 'skopeo inspect --raw reads the pushed index bytes')
      const arm = JSON.parse((await skopeo(['--override-arch', 'arm64', 'inspect', '--tls-verify=false', `docker://${ref('crane', 'multi')}`])).stdout) as { Architecture: string; Layers: string[] }
      t.same([arm.Architecture, arm.Layers], ['arm64', (index.children[1] as ImageContent).layers.map((l) => l.digest)], 'skopeo resolves linux/arm64 to the arm64 image')
      const back = path.join(work.path, 'skopeo-out')
      await skopeo(['copy', '--all', ...TLS, `docker://${ref('crane', 'multi')}`, `oci:${back}:multi`])
      await assertLayoutHolds(t, back, index)
      // Across repositories through the balancer: a mount on one node of what another committed.
      await skopeo(['copy', '--all', ...TLS, `docker://${ref('crane', 'multi')}`, `docker://${ref('copied', 'multi')}`])
      await assertPulls(t, reg, repo('copied'), 'multi', index)
    })

    await scenario(t, 'oras pushes an annotated artifact, attaches a referrer and discovers it through the balancer', { tools: ['oras'], timeout: 120_000 }, async (t) => {
      const dir = path.join(work.path, 'oras')
      await mkdir(dir)
      const readme = Buffer.from(`wharf cluster ${salt}\n`)
      const data = Buffer.from(digestOf(salt).repeat(2000))
      await writeFile(path.join(dir, 'readme.txt'), readme)
      await writeFile(path.join(dir, 'data.bin'), data)
      await writeFile(path.join(dir, 'sig.json'), JSON.stringify({ signed: salt }))
      const artifactType = 'application/vnd.wharf.cluster.bundle.v1'
      const pushed = JSON.parse((await oras(['push', '--format', 'json', '--artifact-type', artifactType, '--annotation', `org.example.salt=${salt}`,
        ref('oras', 'v1'), 'readme.txt:text/plain', 'data.bin:application/vnd.wharf.cluster.data'], dir)).stdout) as { digest: string }
      const pulled = await assertPulls(t, reg, repo('oras'), 'v1')
      t.equal(pulled.digest, pushed.digest, 'the balancer serves the digest oras reported')
      const manifest = JSON.parse(pulled.manifests.get(pulled.digest)!.body.toString('utf8')) as {
        artifactType: string; annotations?: Record<string, string>; layers: Array<{ digest: string; annotations: Record<string, string> }>
      }
      t.equal(manifest.artifactType, artifactType, 'the manifest carries the artifactType')
      t.equal(manifest.annotations?.['org.example.salt'], salt, 'and the annotation')
      t.same(manifest.layers.map((l) => [l.annotations['org.opencontainers.image.title'], l.digest]),
        [['readme.txt', digestOf(readme)], ['data.bin', digestOf(data)]], 'one layer per file, by its digest')
      const into = path.join(work.path, 'oras-out')
      await oras(['pull', '-o', into, ref('oras', 'v1')], dir)
      t.ok((await readFile(path.join(into, 'readme.txt'))).equals(readme), 'oras pull wrote readme.txt byte-identical')
      t.ok((await readFile(path.join(into, 'data.bin'))).equals(data), 'oras pull wrote data.bin byte-identical')

      const signatureType = 'application/vnd.wharf.cluster.signature.v1'
      const attached = JSON.parse((await oras(['attach', '--format', 'json', '--artifact-type', signatureType, '--annotation', 'org.example.signer=wharf',
        ref('oras', 'v1'), 'sig.json:application/json'], dir)).stdout) as { digest: string }
      const referrer = await reg.pullVerified(repo('oras'), attached.digest)
      const body = JSON.parse(referrer.manifests.get(attached.digest)!.body.toString('utf8')) as { subject?: { digest: string } }
      t.equal(body.subject?.digest, pushed.digest, 'the referrer names the artifact as its subject')
      const discovered = JSON.parse((await oras(['discover', '--format', 'json', ref('oras', 'v1')], dir)).stdout) as { manifests?: Array<{ digest: string; artifactType: string }> }
      t.same((discovered.manifests ?? []).map((m) => [m.digest, m.artifactType]), [[attached.digest, signatureType]], 'oras discover finds the referrer')
      // Every node answers the referrers API alike: three requests, one per node.
      for (let i = 0; i < 3; i++) {
        const listed = await reg.getJson<{ mediaType: string; manifests: Array<{ digest: string; artifactType: string; annotations?: Record<string, string> }> }>(`/v2/${repo('oras')}/referrers/${pushed.digest}`)
        t.equal(listed.mediaType, MediaTypes.ociIndex, `referrers answer ${i + 1} is an OCI index`)
        t.same(listed.manifests.map((m) => [m.digest, m.artifactType, m.annotations?.['org.example.signer']]), [[attached.digest, signatureType, 'wharf']],
          `referrers answer ${i + 1} lists the referrer with its annotation`)
      }
      t.notOk((await reg.tags(repo('oras'))).some((tag) => tag.startsWith('sha256-')), 'oras used the referrers API, not the tag fallback')
    })

    await t.test('every node took part and logged no server error', async (t) => {
      const counts = await cluster.nginx.upstreamCounts()
      for (const [i, node] of cluster.nodes.entries()) {
        t.ok((counts.get(`127.0.0.1:${node.port}`) ?? 0) > 10, `node ${i} answered ${counts.get(`127.0.0.1:${node.port}`) ?? 0} requests`)
        t.same(serverErrors(node.process!), [], `node ${i} logged no server error`)
      }
      t.same(reg.serverErrorResponses, [], 'no 5xx through the balancer')
      if (t.passing() === false) t.comment(await cluster.logs())
    })
  }
}
