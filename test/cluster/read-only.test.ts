// Read-only mode across nodes on one PostgreSQL database: switched through the admin API of one
// node, every node refuses writes within a second and reports who switched it; a node started
// while the others are read-only starts read-only; switched back on another node, all accept
// pushes again. The mode is kept in the database (maintenance_mode), not in a node's memory.
import t from 'tap'
import { clusterAvailable, startCluster } from '../support/cluster.js'
import { errorBody, expectStatus, makeBlob, request, uniqueRepo, waitFor, type HttpResponse } from '../support/index.js'

interface Status { readOnly: boolean; since: string; changedBy: string; writesInFlight: number }

function setReadOnly(url: string, readOnly: boolean): Promise<HttpResponse> {
  return request(url, '/_wharf/v1/maintenance', { method: 'PUT', body: JSON.stringify({ readOnly }), headers: { 'content-type': 'application/json' } })
}

async function statusOf(url: string): Promise<Status> {
  return expectStatus('GET maintenance', await request(url, '/_wharf/v1/maintenance'), 200).json<Status>()
}

/** A blob upload's answer: 201 when writable, 405 UNSUPPORTED when read-only. */
async function pushBlob(url: string, repo: string): Promise<HttpResponse> {
  const blob = makeBlob(512)
  return request(url, `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data, headers: { 'content-type': 'application/octet-stream' } })
}

if (clusterAvailable(t)) {
  const cluster = await startCluster(t, { nodes: 2 })
  if (cluster !== undefined) {
    const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const repo = uniqueRepo('cluster-ro')

    await t.test('switched on one node, every node is read-only within seconds', async (t) => {
      expectStatus('writable at first', await pushBlob(b.url, repo), 201)
      const on = expectStatus('switch on at A', await setReadOnly(a.url, true), 200).json<Status>()
      t.equal(on.readOnly, true)
      t.equal((await pushBlob(a.url, repo)).status, 405, 'A refuses at once')
      const seen = await waitFor('B read-only', async () => { const s = await statusOf(b.url); return s.readOnly ? s : undefined }, 5_000, 100)
      t.equal(seen.since, on.since, 'B reports when it was switched')
      t.equal(seen.changedBy, on.changedBy, 'and by whom')
      const refused = await pushBlob(b.url, repo)
      t.equal(refused.status, 405, 'B refuses a push')
      t.equal(errorBody(refused)?.errors[0]?.code, 'UNSUPPORTED')
      t.equal((await pushBlob(cluster.url, repo)).status, 405, 'through the balancer too')
    })

    await t.test('a node started while the cluster is read-only starts read-only', async (t) => {
      await b.stop()
      await b.start()
      t.equal((await statusOf(b.url)).readOnly, true, 'B came back read-only')
      t.equal((await pushBlob(b.url, repo)).status, 405, 'and refuses writes from its first request')
    })

    await t.test('switched back on the other node, every node accepts pushes again', async (t) => {
      const off = expectStatus('switch off at B', await setReadOnly(b.url, false), 200).json<Status>()
      t.equal(off.readOnly, false)
      expectStatus('B accepts at once', await pushBlob(b.url, repo), 201)
      await waitFor('A writable', async () => !(await statusOf(a.url)).readOnly, 5_000, 100)
      expectStatus('A accepts', await pushBlob(a.url, repo), 201)
      const [row] = await cluster.postgres.query<{ read_only: boolean }>('SELECT read_only FROM maintenance_mode', [], cluster.database.name)
      t.equal(row?.read_only, false, 'the database keeps the mode')
    })

    await t.test('a switch that does not change the mode changes nothing', async (t) => {
      const before = await statusOf(a.url)
      const again = expectStatus('switch off again', await setReadOnly(a.url, false), 200).json<Status>()
      t.equal(again.since, before.since, 'since is unchanged')
    })
  }
}
