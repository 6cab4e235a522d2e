// Access control across three nodes sharing `auth.directory` (README "Scaling out"): the nodes
// started together on an empty directory all sign and verify with the keys there, so a token one
// node issued is accepted by every node; a robot created with `wharf token create` logs in on
// every node within seconds and, once revoked, on none; the Docker token flow works through the
// balancer (challenge on one node, token from another, push to a third).
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { basic, htpasswdLine } from '../auth/auth-server.js'
import { clusterAvailable, startCluster } from '../support/cluster.js'
import { expectStatus, makeBlob, request, runCli, tempDir, uniqueRepo, waitFor, type HttpResponse } from '../support/index.js'

const PASSWORD = 'cluster-alice-secret'

function pushBlob(url: string, repo: string, authorization: string): Promise<HttpResponse> {
  const blob = makeBlob(300)
  return request(url, `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, {
    method: 'POST', body: blob.data, headers: { 'content-type': 'application/octet-stream', authorization },
  })
}

async function tokenFrom(url: string, scope: string, authorization: string): Promise<string> {
  const res = expectStatus('GET /token', await request(url, `/token?service=wharf&scope=${encodeURIComponent(scope)}`, { headers: { authorization } }), 200)
  return res.json<{ token: string }>().token
}

if (clusterAvailable(t)) {
  const dir = await tempDir('cluster-auth')
  const htpasswd = path.join(dir, 'htpasswd')
  await writeFile(htpasswd, `${htpasswdLine('alice', PASSWORD)}\n`)
  const shared = path.join(dir, 'shared-auth')
  const cluster = await startCluster(t, {
    config: {
      auth: {
        htpasswd, directory: shared,
        rules: [{ repositories: 'team/**', users: ['alice'], actions: ['pull', 'push'] }, { repositories: 'team/**', users: ['ci'], actions: ['pull', 'push'] }],
      },
    },
  })
  if (cluster !== undefined) {
    const repo = `team/${uniqueRepo('cluster-auth')}`
    const alice = basic('alice', PASSWORD)

    await t.test('a token issued by one node is accepted by every node', async (t) => {
      const token = await tokenFrom(cluster.nodes[0]!.url, `repository:${repo}:pull,push`, alice)
      for (const [i, node] of cluster.nodes.entries()) {
        t.equal((await pushBlob(node.url, repo, `Bearer ${token}`)).status, 201, `node ${i} accepts node 0's token`)
      }
      t.equal((await pushBlob(cluster.nodes[1]!.url, repo, `Bearer ${token}x`)).status, 401, 'a forged token is refused')
    })

    await t.test('the token flow through the balancer: challenge, token and push from different nodes', async (t) => {
      const challenge = await request(cluster.url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' })
      t.equal(challenge.status, 401)
      const header = challenge.headers['www-authenticate'] as string
      t.match(header, /^Bearer realm="[^"]+",service="wharf",scope="repository:[^"]+:pull,push"$/, header)
      const token = await tokenFrom(cluster.url, `repository:${repo}:pull,push`, alice)
      for (let i = 0; i < 3; i++) t.equal((await pushBlob(cluster.url, repo, `Bearer ${token}`)).status, 201, `push ${i + 1} through the balancer`)
      const counts = await cluster.nginx.upstreamCounts()
      t.equal(counts.size, 3, 'the requests reached all three nodes')
    })

    await t.test('a robot created with the CLI logs in on every node; revoked, on none', async (t) => {
      const cli = (args: string[]) => runCli([...args, '--config', cluster.configFile, '--storage', path.join(dir, 'cli')], {}, { timeoutMs: 30_000 })
      const made = await cli(['token', 'create', '--name', 'ci', '--scope', `repository:${repo}:pull,push`])
      t.equal(made.code, 0, `wharf token create: ${made.stderr.split('\n')[0]}`)
      const robot = basic('ci', made.stdout.trim())
      for (const [i, node] of cluster.nodes.entries()) {
        await waitFor(`node ${i} knows the robot`, async () => (await pushBlob(node.url, repo, robot)).status === 201, 5_000, 100)
        t.pass(`node ${i} accepts the robot`)
      }
      t.equal((await cli(['token', 'revoke', 'ci'])).code, 0)
      for (const [i, node] of cluster.nodes.entries()) {
        await waitFor(`node ${i} refuses the revoked robot`, async () => (await pushBlob(node.url, repo, robot)).status === 401, 5_000, 100)
        t.pass(`node ${i} refuses the revoked robot`)
      }
    })
  }
}
