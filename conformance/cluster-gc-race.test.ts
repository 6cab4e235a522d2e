// Garbage collection racing pushes across nodes: three Wharf nodes on one bucket and one database
// behind nginx in strict round-robin (test/support/cluster.ts). Raw HTTP clients and skopeo push
// two-platform indexes through the balancer, so that a blob is uploaded on one node, committed on
// another and named by a manifest put on a third; meanwhile collections run back to back on each
// node in turn, directly. The clients delete their older images (garbage), mount shared layers
// across repositories and push layers of deleted images again (uploads of a digest a collection on
// another node may be removing at that moment). The grace period (15 s) is longer than any push
// here takes, so every push must succeed (as in test/gc/race.test.ts). Afterwards every
// acknowledged image pulls byte for byte through the balancer, no blob of a live image that was
// never garbage was collected, and every blob of the deleted images was.
import { randomBytes, randomInt } from 'node:crypto'
import path from 'node:path'
import t from 'tap'
import { containersEnv } from './helpers/containers-env.js'
import { scenario, toolPath, uniqueSuffix } from './helpers/env.js'
import { multiPlatform, newSalt, writeOciLayout } from './helpers/fixtures.js'
import { run, tempDir } from './helpers/proc.js'
import { clusterAvailable, startCluster } from '../test/support/cluster.js'
import {
  allBlobs, type Blob, configBlob, type Content, errorCodes, type GcReport, makeBlob, makeImage, makeIndex, MediaTypes, RegistryClient,
  sameContent, serverErrors, waitFor,
} from '../test/support/index.js'

const SECONDS = Number(process.env.WHARF_CLUSTER_GC_RACE_SECONDS ?? 30)
const CLIENTS = 3
const GRACE_SECONDS = 15
/** Images each raw client keeps; older ones are deleted by digest. */
const KEEP = 2

interface Acknowledged { readonly repo: string; readonly tag: string; readonly content: Content }

if (clusterAvailable(t)) {
  const cluster = await startCluster(t, { nodes: 3, config: { gc: { graceSeconds: GRACE_SECONDS, intervalSeconds: 0 } } })
  if (cluster !== undefined) {
    await scenario(t, `GC race: ${CLIENTS} raw clients and skopeo push through the balancer for ${SECONDS} s while every node collects in turn`,
      { tools: ['skopeo', 'busybox', 'busyboxArm64'], timeout: 240_000 }, async (t) => {
        const runId = uniqueSuffix()
        const salt = newSalt()
        const repoOf = (name: string): string => `conformance/cluster-gc-${runId}/${name}`
        const work = await tempDir('cluster-gc')
        t.teardown(() => work.remove())
        const env = await containersEnv([cluster.address])
        t.teardown(() => env.remove())

        const deadline = Date.now() + SECONDS * 1000
        /** Layers shared by every client: HEAD, then a mount from another client's repository, else an upload. */
        const pool = Array.from({ length: 6 }, () => makeBlob(randomInt(512, 4096)))
        /** Layers of deleted images, pushed again later (by any client). */
        const graveyard: Blob[] = []
        const revived = new Set<string>()
        const live: Acknowledged[] = []
        const deleted: Content[] = []
        const problems: string[] = []
        const removedByGc = new Set<string>()
        const gc = { ok: 0, conflict: 0, removedDuringRun: 0 }
        const nodeClients = cluster.nodes.map((node) => new RegistryClient(node.url, { timeoutMs: 120_000 }))
        const clients: RegistryClient[] = [...nodeClients]
        const collected = (report: GcReport): void => { for (const b of report.blobsRemoved) removedByGc.add(b.digest) }

        let running = true
        const gcLoop = (async () => {
          for (let n = 0; running; n++) {
            const res = await nodeClients[n % nodeClients.length]!.gcRaw()
            if (res.status === 200) {
              const report = res.json<GcReport>()
              gc.ok++
              gc.removedDuringRun += report.blobsRemoved.length
              collected(report)
            } else if (res.status === 409) gc.conflict++
            else problems.push(`POST /_wharf/v1/gc on node ${n % nodeClients.length} → ${res.status} ${res.text().slice(0, 200)}`)
          }
        })()

        const layerFor = (): Blob => {
          const choice = randomInt(3)
          if (choice === 0) return pool[randomInt(pool.length)]!
          if (choice === 1 && graveyard.length > 0) {
            const again = graveyard[randomInt(graveyard.length)]!
            revived.add(again.digest)
            return again
          }
          return makeBlob(randomInt(256, 4096))
        }

        const rawClient = async (i: number): Promise<void> => {
          const c = new RegistryClient(cluster.url, { timeoutMs: 60_000 })
          clients.push(c)
          const repo = repoOf(`c${i}`)
          const mine: Acknowledged[] = []
          for (let n = 0; Date.now() < deadline; n++) {
            const index = makeIndex(MediaTypes.ociIndex, ['amd64', 'arm64'].map((architecture) => makeImage(MediaTypes.ociManifest,
              configBlob({ architecture, os: 'linux', nonce: randomBytes(6).toString('hex') }), [layerFor()], { platform: { os: 'linux', architecture } })))
            for (const blob of allBlobs(index)) {
              const head = await c.headBlob(repo, blob.digest)
              if (head.status === 200) continue
              if (head.status !== 404) problems.push(`HEAD ${repo} ${blob.digest} → ${head.status}`)
              if (pool.includes(blob)) {
                const mount = await c.mountBlob(repo, blob.digest, repoOf(`c${(i + 1 + randomInt(CLIENTS - 1)) % CLIENTS}`))
                if (mount.status === 201) continue
                if (mount.status === 202) await c.delete(mount.header('location')!)
                else problems.push(`mount ${blob.digest} into ${repo} → ${mount.status}`)
              }
              const { location } = await c.startUpload(repo)
              const put = await c.putUpload(location, blob.digest, blob.data)
              if (put.status !== 201) problems.push(`upload ${blob.digest} to ${repo} → ${put.status} ${errorCodes(put).join(',')}`)
            }
            const tag = `p${n}`
            const puts = [...index.children.map((child) => [child.manifest.digest, child.manifest] as const), [tag, index.manifest] as const]
            const failed = await (async () => {
              for (const [reference, manifest] of puts) {
                const res = await c.putManifest(repo, reference, manifest)
                if (res.status !== 201) return `PUT ${repo}:${reference} → ${res.status} ${res.text().slice(0, 300)}`
              }
              return undefined
            })()
            if (failed !== undefined) { problems.push(failed); continue }
            mine.push({ repo, tag, content: index })
            // Read back at once through the balancer, while collections go on.
            try {
              problems.push(...sameContent(await c.pullVerified(repo, tag), index).map((p) => `${repo}:${tag} right after its push: ${p}`))
            } catch (err) { problems.push(`${repo}:${tag} right after its push: ${String(err)}`) }
            while (mine.length > KEEP) {
              const old = mine.shift()!
              if (old.content.kind !== 'index') continue
              for (const manifest of [old.content.manifest, ...old.content.children.map((child) => child.manifest)]) {
                const res = await c.deleteManifest(repo, manifest.digest)
                if (res.status !== 202) problems.push(`DELETE ${repo}@${manifest.digest} → ${res.status}`)
              }
              deleted.push(old.content)
              graveyard.push(...allBlobs(old.content).filter((b) => !pool.includes(b)))
            }
          }
          live.push(...mine)
        }

        const skopeoClient = async (): Promise<void> => {
          for (let n = 0; Date.now() < deadline; n++) {
            const index = multiPlatform('oci', `${salt}-${n}`)
            const layout = path.join(work.path, `layout-${n}`)
            await writeOciLayout(layout, [{ name: 'multi', content: index }])
            const res = await run(toolPath('skopeo'), ['--policy', env.policy, '--registries-conf', env.env.CONTAINERS_REGISTRIES_CONF!, 'copy', '--all',
              '--src-tls-verify=false', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${cluster.address}/${repoOf('skopeo')}:s${n}`],
            { env: env.env, timeoutMs: 120_000, allowFailure: true })
            if (res.code === 0) live.push({ repo: repoOf('skopeo'), tag: `s${n}`, content: index })
            else problems.push(`skopeo copy to s${n} exited ${res.code}: ${res.stderr.slice(-400)}`)
          }
        }

        await Promise.all([...Array.from({ length: CLIENTS }, (_, i) => rawClient(i)), skopeoClient()])
        running = false
        await gcLoop
        t.comment(`race: ${live.length} live and ${deleted.length} deleted images, ${revived.size} layers pushed again after their image was deleted; ` +
          `${gc.ok} collections (${gc.conflict} answered 409) removed ${gc.removedDuringRun} blobs during the pushes`)

        // Every blob of a deleted image, unless pushed again or part of a live image, goes once the grace period has passed.
        const liveBlobs = new Set(live.flatMap((image) => allBlobs(image.content).map((b) => b.digest)))
        const garbage = [...new Set(deleted.flatMap((image) => allBlobs(image).map((b) => b.digest)))]
          .filter((digest) => !revived.has(digest) && !liveBlobs.has(digest) && !pool.some((b) => b.digest === digest))
        await waitFor('every blob of the deleted images to be collected', async () => {
          collected(await nodeClients[2]!.gc())
          return garbage.every((digest) => removedByGc.has(digest))
        }, (GRACE_SECONDS + 60) * 1000, 1000).catch((err: unknown) => problems.push(String(err)))

        // Every acknowledged image that was not deleted pulls byte for byte through the balancer.
        const verifier = new RegistryClient(cluster.url, { timeoutMs: 120_000 })
        clients.push(verifier)
        const broken: string[] = []
        for (const image of live) {
          try {
            broken.push(...sameContent(await verifier.pullVerified(image.repo, image.tag), image.content).map((p) => `${image.repo}:${image.tag}: ${p}`))
          } catch (err) { broken.push(`${image.repo}:${image.tag}: ${String(err)}`) }
        }
        // Blobs of live images that were never garbage (no deleted image had them, not shared) were never collected, even for a moment.
        const neverGarbage = [...liveBlobs].filter((digest) => !revived.has(digest) && !pool.some((b) => b.digest === digest))

        t.ok(live.filter((image) => image.repo.endsWith('/skopeo')).length > 0, 'skopeo pushes were acknowledged')
        t.ok(live.length + deleted.length > CLIENTS * 5, `enough pushes were acknowledged (${live.length + deleted.length})`)
        t.ok(gc.ok > 3, `collections ran during the pushes (${gc.ok})`)
        t.ok(gc.removedDuringRun > 0, `collections removed garbage while pushes went on (${gc.removedDuringRun} blobs)`)
        t.ok(garbage.length > 0, `the clients made garbage (${garbage.length} blobs of deleted images)`)
        t.same(problems, [], 'no push, mount, delete, read-back or collection failed')
        t.same(broken, [], `every acknowledged image (${live.length}) pulls byte for byte through the balancer after the last collection`)
        t.same(neverGarbage.filter((digest) => removedByGc.has(digest)), [], `no blob a live image referenced from its push on was collected (${neverGarbage.length} checked)`)
        t.same(clients.flatMap((c) => c.serverErrorResponses), [], 'no 5xx')
        const counts = await cluster.nginx.upstreamCounts()
        for (const [i, node] of cluster.nodes.entries()) {
          t.ok((counts.get(`127.0.0.1:${node.port}`) ?? 0) > 100, `node ${i} answered ${counts.get(`127.0.0.1:${node.port}`) ?? 0} requests through the balancer`)
          t.same(serverErrors(node.process!), [], `node ${i} logged no server error`)
        }
        if (t.passing() === false) t.comment(await cluster.logs())
      })
  }
}
