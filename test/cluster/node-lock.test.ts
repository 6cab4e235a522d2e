// Who may work on a database nodes share (blobs in S3): serving nodes and `wharf gc` hold it shared,
// side by side; `wharf fsck` must be alone (uploads and commits in flight on a node would read as
// damage, and --repair would remove them), so it is refused while nodes serve, naming every one,
// and a node is refused while fsck runs.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { PostgresNodeLock } from '../../src/coordination/postgres-node-lock.js'
import { clusterAvailable, startCluster } from '../support/cluster.js'
import { makeBlob, RegistryClient, request, runCli, uniqueRepo } from '../support/index.js'

if (clusterAvailable(t)) {
  const cluster = await startCluster(t, { nodes: 2 })
  if (cluster !== undefined) {
    const scratch = await mkdtemp(path.join(tmpdir(), 'wharf-node-lock-'))
    t.teardown(() => rm(scratch, { recursive: true, force: true }))
    const cli = (args: string[]) => runCli([...args, '--config', cluster.configFile, '--storage', path.join(scratch, args[0]!)], {}, { timeoutMs: 60_000 })
    const repo = uniqueRepo('node-lock')
    await new RegistryClient(cluster.url).pushBlob(repo, makeBlob(1000))

    await t.test('wharf fsck is refused while nodes serve, naming each of them', async (t) => {
      const fsck = await cli(['fsck'])
      t.equal(fsck.code, 1, 'exit 1')
      const line = fsck.stderr.trim()
      t.equal(line.split('\n').filter((l) => !/AWS SDK|node >=|a\.co\/|trace-warnings|^\s*$|versions published|To continue|and security/.test(l)).length, 1, `one line: ${line}`)
      t.match(line, /metadata database 127\.0\.0\.1:\d+\/\S+ is in use by 2 other wharf processes \(wharf: wharf serve from 127\.0\.0\.1 since [^;]+; wharf: wharf serve from /, 'names both nodes')
      t.match(line, /wharf fsck needs the nodes stopped/, 'and says what to do')
    })

    await t.test('wharf gc runs beside the nodes', async (t) => {
      const gc = await cli(['gc'])
      t.equal(gc.code, 0, `wharf gc: ${gc.stderr.slice(-400)}`)
      t.equal((await request(cluster.nodes[0]!.url, '/readyz')).status, 200, 'the nodes still serve')
    })

    await t.test('with the nodes stopped fsck runs; while it holds the database a node is refused', async (t) => {
      await Promise.all(cluster.nodes.map((node) => node.stop()))
      const fsck = await cli(['fsck'])
      t.equal(fsck.code, 0, `fsck: ${fsck.stdout.slice(-300)} ${fsck.stderr.slice(-300)}`)
      const held = await PostgresNodeLock.take(cluster.database.url, 'wharf fsck (test)', 'exclusive', 'test')
      try {
        const refused = await cluster.nodes[0]!.start().then(() => undefined, (err: unknown) => err as Error)
        t.match(refused?.message, /is in use by another wharf process \(wharf: wharf fsck \(test\) from 127\.0\.0\.1 since .*wait for it to end/, 'the node names the fsck holding it')
      } finally {
        await held.release()
      }
      await Promise.all(cluster.nodes.map((node) => node.start()))
      t.equal((await request(cluster.url, '/readyz')).status, 200, 'both nodes serve again')
    })
  }
}
