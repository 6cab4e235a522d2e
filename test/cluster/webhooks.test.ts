// Webhooks from three nodes behind nginx (test/support/cluster.ts): every node queues the events of
// the requests it answers in the shared PostgreSQL queue, and the one node holding the endpoint's
// lease delivers them (src/notifications/dispatcher.ts). Pushes through the balancer land on
// every node; the receiver must get each event exactly once (by id and by what it says), each
// node's events in the order that node queued them. Then the delivering node is SIGKILLed:
// another takes the lease and what is pushed meanwhile still arrives once; the killed node comes
// back as a waiting node and its events are delivered too. Last, the holder's lease session ends
// while the node lives on (a database restart, a dropped connection): it must stop delivering, or
// two nodes deliver the same queue (duplicates, order lost).
import { hostname } from 'node:os'
import t, { type Test } from 'tap'
import { clusterAvailable, startCluster, type ClusterNode } from '../support/cluster.js'
import { RegistryClient, serverErrors, uniqueRepo, waitFor } from '../support/index.js'
import { endpointStatus } from '../notifications/support.js'
import { Receiver, type ReceivedEvent } from '../notifications/receiver.js'

const WAITING = 'another node delivers this endpoint\'s webhooks; waiting to take over'
const TOOK_OVER = 'took over webhook delivery'
const LOST = 'lost the webhook delivery lease; delivery stopped until it is taken again'

/** What an event says, without its id: each must arrive once. */
const keyOf = (e: { action: string; target: { repository: string; digest?: string; tag?: string } }): string =>
  `${e.action} ${e.target.repository} ${e.target.digest ?? ''} ${e.target.tag ?? ''}`

/** Whether a node's log has a line with this message (pino JSON lines). */
function logged(node: ClusterNode, msg: string): boolean {
  return (node.process?.logs ?? []).some((line) => {
    try { return (JSON.parse(line) as { msg?: string }).msg === msg } catch { return false }
  })
}

if (clusterAvailable(t)) {
  const receiver = await Receiver.start()
  t.teardown(() => receiver.stop())
  const cluster = await startCluster(t, {
    nodes: 3,
    config: { notifications: { endpoints: [{ name: 'hook', url: receiver.url, actions: ['push'], backoffSeconds: 1, maxBackoffSeconds: 2 }] } },
  })
  if (cluster !== undefined) {
    const client = new RegistryClient(cluster.url, { timeoutMs: 60_000 })
    const repo = uniqueRepo('cluster-hooks')
    /** Keys of every event the pushes so far must have caused, and the manifest pushes in push order. */
    const expected: string[] = []
    const manifestOrder: string[] = []

    /**
     * Pushes `count` images one after another through the balancer: a request per blob and one for
     * the manifest, with one or two layers so that the manifests land on every node in turn.
     */
    const push = async (count: number, prefix: string): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const tag = `${prefix}${i}`
        const { config, layers, manifest } = await client.pushImage(repo, { tag, layers: 1 + (i % 2), layerSize: 512 })
        for (const blob of [config, ...layers]) expected.push(keyOf({ action: 'push', target: { repository: repo, digest: blob.digest } }))
        expected.push(keyOf({ action: 'push', target: { repository: repo, digest: manifest.digest, tag } }))
        manifestOrder.push(manifest.digest)
      }
    }

    /** Waits until every expected event arrived and nothing is queued, then checks that each arrived exactly once. */
    const allArriveOnce = async (t: Test, what: string): Promise<ReceivedEvent[]> => {
      await waitFor(`${what}: every event at the receiver`, async () => {
        const got = new Set(receiver.events.map(keyOf))
        return expected.every((key) => got.has(key))
      }, 30_000, 100)
      // With nothing left in the shared queue, no delivery can still come.
      const status = await waitFor('an empty queue', async () => {
        const s = await endpointStatus(client, 'hook')
        return s.pending === 0 && s
      }, 10_000, 100)
      const events = receiver.events
      t.equal(new Set(events.map((e) => e.id)).size, events.length, `${what}: no event id twice (${events.length} events)`)
      t.same(events.map(keyOf).sort(), [...expected].sort(), `${what}: every push event exactly once, nothing else`)
      t.equal(status.delivered, events.length, `${what}: the shared queue counts as delivered what the receiver took`)
      // Each node queues its events in order and the holder delivers in queue order.
      const byNode = new Map<string, number[]>()
      for (const e of events.filter((e) => e.target.tag !== undefined)) {
        byNode.set(e.source.addr, [...byNode.get(e.source.addr) ?? [], manifestOrder.indexOf(e.target.digest!)])
      }
      for (const [addr, order] of byNode) t.same(order, [...order].sort((a, b) => a - b), `${what}: manifest pushes answered by ${addr} arrive in push order`)
      return events
    }
    /** registry:2's source.addr of each node: host name and port. */
    const addrOf = (node: ClusterNode): string => `${hostname()}:${node.port}`

    let holder = -1
    await t.test('pushes landing on all three nodes: each event arrives once, from the one delivering node', async (t) => {
      // Two nodes found the lease taken at start; the third holds it.
      await waitFor('two nodes waiting for the lease', async () => cluster.nodes.filter((node) => logged(node, WAITING)).length === 2, 15_000)
      holder = cluster.nodes.findIndex((node) => !logged(node, WAITING))
      await push(12, 'a')
      t.ok(holder >= 0, `node ${holder} delivers`)
      const events = await allArriveOnce(t, 'all nodes up')
      t.same([...new Set(events.map((e) => e.source.addr))].sort(), cluster.nodes.map(addrOf).sort(), 'every node queued events of the requests it answered')
      t.equal(new Set(events.map((e) => e.source.instanceID)).size, 3, 'from three node instances')
    })

    await t.test('the delivering node is SIGKILLed: another takes the lease, events pushed meanwhile arrive once', async (t) => {
      const killed = cluster.nodes[holder]!
      await killed.kill()
      t.ok(killed.process!.child.signalCode === 'SIGKILL', `node ${holder} (the holder) was killed`)
      const before = receiver.events.length
      await push(9, 'b')
      const events = await allArriveOnce(t, 'after the kill')
      const survivors = cluster.nodes.filter((_, i) => i !== holder)
      t.same([...new Set(events.slice(before).map((e) => e.source.addr))].sort(), survivors.map(addrOf).sort(), 'the two surviving nodes queued the new events')
      t.equal(survivors.filter((node) => logged(node, TOOK_OVER)).length, 1, 'one surviving node logged that it took over delivery')
    })

    await t.test('the killed node comes back waiting; its events are delivered by the new holder', async (t) => {
      const node = cluster.nodes[holder]!
      await node.start()
      await waitFor('the restarted node waiting for the lease', async () => logged(node, WAITING), 15_000)
      const before = receiver.events.length
      await push(6, 'c')
      const events = await allArriveOnce(t, 'after the restart')
      const oldInstances = new Set(events.slice(0, before).map((e) => e.source.instanceID))
      const fromRestarted = events.slice(before).filter((e) => e.source.addr === addrOf(node))
      t.ok(fromRestarted.length > 0, `events queued by the restarted node were delivered (${fromRestarted.length})`)
      t.notOk(fromRestarted.some((e) => oldInstances.has(e.source.instanceID)), 'by its new instance')
      t.notOk(logged(node, TOOK_OVER), 'the restarted node did not take the lease back')
      if (t.passing() === false) t.comment(await cluster.logs())
    })

    await t.test('the delivering node loses its lease session but lives on: it stops delivering, events still arrive once', async (t) => {
      // What a PostgreSQL restart or a dropped connection does to the holder; a waiting node then takes the lease within seconds.
      const ended = await cluster.postgres.query<{ pid: number }>(`SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity
        WHERE application_name = 'wharf: coordination lease notifications:hook'`, [], cluster.database.name)
      t.equal(ended.length, 1, 'one lease session (the holder\'s) was ended')
      // A miss is reported, not thrown: what follows then shows what two delivering nodes do.
      const loser = await waitFor('the holder to stop delivering', async () => {
        const i = cluster.nodes.findIndex((node) => logged(node, LOST))
        return i >= 0 ? i : undefined
      }, 15_000, 50).catch(() => -1)
      t.ok(loser >= 0, `the holder (node ${loser}) logged that it lost the lease`)
      await push(20, 'd')
      await allArriveOnce(t, 'after the lease session ended')
      for (const [i, n] of cluster.nodes.entries()) t.same(serverErrors(n.process!), [], `node ${i} logged no server error`)
      t.same(client.serverErrorResponses, [], 'no 5xx through the balancer')
      if (t.passing() === false) t.comment(await cluster.logs())
    })
  }
}
