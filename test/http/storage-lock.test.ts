// One process writes a data directory at a time: `wharf serve`, `wharf gc` and `wharf fsck` take an
// OS lock on <storage>/wharf.lock that the kernel releases when the process dies. Nothing is decided
// from PIDs, which repeat across containers (everyone is PID 1) and are reused after a crash.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { IN_PID_NAMESPACE, RegistryClient, request, runCli, spawnWharf, stopSpawned, uniqueRepo, type SpawnedWharf } from '../support/index.js'

const IN_USE = /is in use by another wharf process \(wharf serve, pid \d+ on host [^,]+, since [0-9T:.Z-]+\)/

async function freshStorage(t: Test): Promise<string> {
  const storage = await mkdtemp(path.join(tmpdir(), 'wharf-lock-'))
  t.teardown(() => rm(storage, { recursive: true, force: true }))
  return storage
}

function serveArgs(storage: string): string[] {
  return ['serve', '--host', '127.0.0.1', '--port', '0', '--storage', storage]
}

async function mustListen(t: Test, server: SpawnedWharf, what: string): Promise<string> {
  const url = await server.listening
  if (url === undefined) {
    const end = await server.finished
    t.fail(`${what} did not start (exit ${end.code}): ${end.stderr}${end.stdout}`)
    throw new Error(`${what} did not start`)
  }
  return url
}

t.test('two PID namespaces (both servers PID 1): the second serve, gc and fsck are refused; readers run', async (t) => {
  const probe = spawnSync(IN_PID_NAMESPACE[0], [...IN_PID_NAMESPACE.slice(1), 'true'], { encoding: 'utf8' })
  t.equal(probe.status, 0, `unshare works here (tests run as root): ${probe.error?.message ?? probe.stderr}`)
  if (probe.status !== 0) return
  const storage = await freshStorage(t)
  const first = spawnWharf(serveArgs(storage), { prefix: IN_PID_NAMESPACE })
  t.teardown(() => stopSpawned(first, true))
  const url = await mustListen(t, first, 'the first server')
  t.match(first.stdout(), /"pid":1,/, 'the first server is PID 1 in its namespace')
  const client = new RegistryClient(url)
  const repo = uniqueRepo('lock')
  const image = await client.pushImage(repo, { tag: 'v1', layers: 1, layerSize: 10_000 })

  const second = await runCli(serveArgs(storage), {}, { prefix: IN_PID_NAMESPACE, timeoutMs: 30_000 })
  t.not(second.code, 0, 'a second server exits non-zero')
  t.match(second.stderr, IN_USE, 'and says who holds the store')
  t.match(second.stderr, /pid 1 on host/, 'the holder note shows the PID 1 of the other namespace')
  t.notMatch(second.stdout, /wharf listening/)
  t.equal(second.stderr.trim().split('\n').length, 1, 'one line')

  const gc = await runCli(['gc', '--storage', storage], {}, { prefix: IN_PID_NAMESPACE, timeoutMs: 30_000 })
  t.not(gc.code, 0, 'wharf gc in another namespace is refused')
  t.match(gc.stderr, IN_USE)
  t.match(gc.stderr, /POST \/_wharf\/v1\/gc/, 'and points to the online collection')
  const fsck = await runCli(['fsck', '--repair', '--storage', storage], {}, { prefix: IN_PID_NAMESPACE, timeoutMs: 30_000 })
  t.not(fsck.code, 0, 'wharf fsck --repair is refused')
  t.match(fsck.stderr, IN_USE)

  const dryRun = await runCli(['gc', '--dry-run', '--json', '--storage', storage], {}, { prefix: IN_PID_NAMESPACE, timeoutMs: 30_000 })
  t.equal(dryRun.code, 0, `wharf gc --dry-run needs no lock: ${dryRun.stderr}`)
  t.same(JSON.parse(dryRun.stdout).manifestsRemoved, [], 'and would remove nothing that is tagged')
  const du = await runCli(['du', '--json', '--storage', storage], {}, { prefix: IN_PID_NAMESPACE, timeoutMs: 30_000 })
  t.equal(du.code, 0, `wharf du needs no lock: ${du.stderr}`)
  t.ok((JSON.parse(du.stdout) as { repositories: { name: string }[] }).repositories.some((r) => r.name === repo))

  const pulled = await client.get(`/v2/${repo}/manifests/v1`)
  t.equal(pulled.status, 200, 'the first server still serves')
  t.ok(pulled.body.equals(image.manifest.body))
  const stopped = await stopSpawned(first, true)
  t.equal(stopped.code, 0, 'the first server stops cleanly')

  const gcAfter = await runCli(['gc', '--json', '--storage', storage], {}, { prefix: IN_PID_NAMESPACE, timeoutMs: 30_000 })
  t.equal(gcAfter.code, 0, `once the server is gone, wharf gc runs: ${gcAfter.stderr}`)
  const third = spawnWharf(serveArgs(storage), { prefix: IN_PID_NAMESPACE })
  t.teardown(() => stopSpawned(third, true))
  const again = new RegistryClient(await mustListen(t, third, 'a server after the first stopped'))
  t.ok((await again.get(`/v2/${repo}/manifests/v1`)).body.equals(image.manifest.body), 'and a new server serves the image')
})

t.test('four servers started at once on one store: exactly one wins, the others exit non-zero', async (t) => {
  const storage = await freshStorage(t)
  const racers = Array.from({ length: 4 }, () => spawnWharf(serveArgs(storage)))
  t.teardown(() => Promise.all(racers.map((r) => stopSpawned(r))))
  const urls = await Promise.all(racers.map((r) => r.listening))
  const winners = racers.filter((_, i) => urls[i] !== undefined)
  t.equal(winners.length, 1, 'one server listens')
  for (const loser of racers.filter((_, i) => urls[i] === undefined)) {
    const end = await loser.finished
    t.not(end.code, 0, 'a loser exits non-zero')
    t.match(end.stderr, /is in use by another wharf process/)
  }
  const url = urls.find((u) => u !== undefined)
  if (url !== undefined) t.equal((await request(url, '/v2/')).status, 200, 'the winner serves')
})

t.test('a lock left by a SIGKILLed server does not block a restart, nor gc', async (t) => {
  const storage = await freshStorage(t)
  const first = spawnWharf(serveArgs(storage))
  const url = await mustListen(t, first, 'the first server')
  const repo = uniqueRepo('lock')
  const image = await new RegistryClient(url).pushImage(repo, { tag: 'v1', layers: 1, layerSize: 5_000 })
  first.child.kill('SIGKILL')
  await first.finished
  const gc = await runCli(['gc', '--json', '--storage', storage], {}, { timeoutMs: 30_000 })
  t.equal(gc.code, 0, `gc after the kill: ${gc.stderr}`)
  const second = spawnWharf(serveArgs(storage))
  t.teardown(() => stopSpawned(second))
  const client = new RegistryClient(await mustListen(t, second, 'a restart after SIGKILL'))
  t.ok((await client.get(`/v2/${repo}/manifests/v1`)).body.equals(image.manifest.body), 'the image is served after the restart')
})

t.test('a pid file or holder note naming a live unrelated process does not block a start', async (t) => {
  const storage = await freshStorage(t)
  const unrelated = spawn('sleep', ['60'], { stdio: 'ignore' })
  t.teardown(() => { unrelated.kill('SIGKILL') })
  // What a crash followed by PID reuse leaves: the old pid file (before the lock) and the holder note.
  await writeFile(path.join(storage, 'wharf.pid'), `${unrelated.pid}\n`)
  await writeFile(path.join(storage, 'wharf.lock.holder'), `wharf serve, pid ${unrelated.pid} on host x, since 2026-01-01T00:00:00.000Z\n`)
  const server = spawnWharf(serveArgs(storage))
  t.teardown(() => stopSpawned(server))
  const url = await mustListen(t, server, 'a server beside a reused PID')
  t.equal((await request(url, '/v2/')).status, 200)
  t.equal(unrelated.exitCode, null, 'the unrelated process is left alone')
})
