/**
 * IpcCoordination over real IPC channels between real processes (child_process.fork of
 * ipc-peer.js). The contract every Coordination meets, with this process as the worker and a
 * forked primary holding the locks; then several forked workers under a server in this process:
 * FIFO order across workers, a worker SIGKILLed while holding or waiting, invalidations that
 * reach every other worker before the writer goes on, and a stopped worker that cannot hold
 * writes up for longer than the deadline.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { IpcCoordination } from '../../src/coordination/ipc-coordination.js'
import { IpcCoordinationServer } from '../../src/coordination/ipc-coordination-server.js'
import { coordinationContract } from '../support/coordination-contract.js'
import { waitFor } from '../support/wait.js'
import { TEST_TAG, type PeerCommand, type PeerEvent } from './ipc-peer.js'

const PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ipc-peer.js')

function forkPeer(t: Test, mode: 'primary' | 'worker'): ChildProcess {
  const child = fork(PEER, [mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  })
  return child
}

/** This process as a worker of a forked primary, once the primary listens. */
async function workerOfForkedPrimary(t: Test): Promise<IpcCoordination> {
  const primary = forkPeer(t, 'primary')
  await new Promise<void>((resolve) => primary.on('message', (m: { tag?: unknown; event?: unknown }) => { if (m?.tag === TEST_TAG && m.event === 'ready') resolve() }))
  const coordination = new IpcCoordination(primary)
  t.teardown(() => coordination.close())
  return coordination
}

coordinationContract(t, 'IpcCoordination (this process a worker, the primary forked)', workerOfForkedPrimary)

t.test('nested locks and lockAll inside held locks do not deadlock', async (t) => {
  const coordination = await workerOfForkedPrimary(t)
  const nested = (id: string): Promise<string> =>
    coordination.lock(`upload:${id}`, () => coordination.lock(`blob:${id}`, () => coordination.lockAll([`blob:${id}y`, 'blob:shared', `blob:${id}x`], async () => id)))
  t.same(await Promise.all([nested('1'), nested('2'), nested('3')]), ['1', '2', '3'])
})

/** A forked worker driven by commands; what it reports is kept in `events`. */
interface Worker {
  readonly child: ChildProcess
  readonly events: PeerEvent[]
  send(command: PeerCommand): void
  /** Waits for an event matching `match` (already received, or to come). */
  saw(what: string, match: (event: PeerEvent) => boolean): Promise<PeerEvent>
}

let nextCommand = 1
const command = (): number => nextCommand++

async function startWorkers(t: Test, server: IpcCoordinationServer, count: number): Promise<Worker[]> {
  return Promise.all(Array.from({ length: count }, async (_, i) => {
    const child = forkPeer(t, 'worker')
    server.attach(child, `worker ${i + 1}`)
    const events: PeerEvent[] = []
    child.on('message', (message: { tag?: unknown } & PeerEvent) => { if (message?.tag === TEST_TAG) events.push(message) })
    const worker: Worker = {
      child, events,
      send: (c) => { child.send({ tag: TEST_TAG, ...c }) },
      saw: (what, match) => waitFor(`worker ${i + 1}: ${what}`, async () => events.find(match), 30_000, 5),
    }
    await worker.saw('ready', (e) => e.event === 'ready')
    return worker
  }))
}

const is = (event: PeerEvent['event'], id?: number) => (e: PeerEvent): boolean => e.event === event && (id === undefined || ('id' in e && e.id === id))

async function kill(worker: Worker): Promise<void> {
  const exited = once(worker.child, 'exit')
  worker.child.kill('SIGKILL')
  await exited
}

t.test('locks are granted in arrival order across workers, and tryLock refuses a held or awaited key without waiting', async (t) => {
  const server = new IpcCoordinationServer()
  t.teardown(() => server.close())
  const [w1, w2, w3] = await startWorkers(t, server, 3)
  const [a, b, c, d] = [command(), command(), command(), command()]
  w1!.send({ cmd: 'lock', id: a, keys: ['blob:k'] })
  await w1!.saw('holding', is('holding', a))
  w2!.send({ cmd: 'lock', id: b, keys: ['blob:k'] })
  await waitFor('worker 2 to queue', async () => server.lockRequests === 2)
  w3!.send({ cmd: 'lock', id: c, keys: ['blob:z', 'blob:k'] })
  await waitFor('worker 3 to queue', async () => server.lockRequests === 3)
  w3!.send({ cmd: 'tryLock', id: d, keys: ['blob:k'] })
  await w3!.saw('its tryLock refused', is('refused', d))
  w1!.send({ cmd: 'release', id: a })
  await w2!.saw('holding after worker 1', is('holding', b))
  t.notOk(w3!.events.some(is('holding', c)), 'worker 3, queued later, still waits')
  w2!.send({ cmd: 'release', id: b })
  await w3!.saw('holding after worker 2', is('holding', c))
  w3!.send({ cmd: 'release', id: c })
  await w3!.saw('released', is('released', c))
  t.equal(server.lockRequests, 0, 'nothing held any more')
})

t.test('a worker SIGKILLed while holding a lock and a lease: the next worker in line gets the lock, and the lease is free', async (t) => {
  const server = new IpcCoordinationServer()
  t.teardown(() => server.close())
  const [w1, w2] = await startWorkers(t, server, 2)
  const [held, lease, waiting, refused, retaken] = [command(), command(), command(), command(), command()]
  w1!.send({ cmd: 'lock', id: held, keys: ['blob:sha256:aa', 'upload:u1'] })
  await w1!.saw('holding', is('holding', held))
  w1!.send({ cmd: 'lease', id: lease, name: 'gc' })
  t.match(await w1!.saw('leased', is('leased', lease)), { held: true }, 'worker 1 holds the gc lease')
  w2!.send({ cmd: 'lock', id: waiting, keys: ['upload:u1'] })
  await waitFor('worker 2 to queue', async () => server.lockRequests === 2)
  w2!.send({ cmd: 'lease', id: refused, name: 'gc' })
  t.match(await w2!.saw('refused', is('leased', refused)), { held: false }, 'worker 2 is refused the lease')
  await kill(w1!)
  await w2!.saw('holding the dead worker\'s lock', is('holding', waiting))
  w2!.send({ cmd: 'lease', id: retaken, name: 'gc' })
  t.match(await w2!.saw('leased', is('leased', retaken)), { held: true }, 'worker 2 takes the lease the dead worker held')
  t.equal(server.lockRequests, 1, 'only worker 2\'s lock is left')
})

t.test('a worker SIGKILLed while waiting passes its turn to the next in line', async (t) => {
  const server = new IpcCoordinationServer()
  t.teardown(() => server.close())
  const [w1, w2, w3] = await startWorkers(t, server, 3)
  const [a, b, c] = [command(), command(), command()]
  w1!.send({ cmd: 'lock', id: a, keys: ['k'] })
  await w1!.saw('holding', is('holding', a))
  w2!.send({ cmd: 'lock', id: b, keys: ['k'] })
  await waitFor('worker 2 to queue', async () => server.lockRequests === 2)
  w3!.send({ cmd: 'lock', id: c, keys: ['k'] })
  await waitFor('worker 3 to queue', async () => server.lockRequests === 3)
  await kill(w2!)
  w1!.send({ cmd: 'release', id: a })
  t.match(await w3!.saw('holding', is('holding', c)), { event: 'holding', id: c }, 'worker 3 got the key the dead waiter was queued for')
})

t.test('an invalidation reaches every other worker before the writer\'s invalidate settles; each hears it once', async (t) => {
  const server = new IpcCoordinationServer()
  t.teardown(() => server.close())
  const workers = await startWorkers(t, server, 3)
  const [w1, w2, w3] = workers
  const first = command()
  w1!.send({ cmd: 'invalidate', id: first, repo: 'team/app' })
  await w1!.saw('its invalidate settled', is('invalidated', first))
  // Each worker reports what it heard before it answers the primary, on the same ordered channel.
  for (const w of [w2!, w3!]) t.same(w.events.filter(is('heard')), [{ tag: TEST_TAG, event: 'heard', repo: 'team/app' }], 'the other worker had heard it')
  t.same(w1!.events.filter(is('heard')), [{ tag: TEST_TAG, event: 'heard', repo: 'team/app' }], 'the writer\'s own listeners ran once')
  const second = command()
  w2!.send({ cmd: 'invalidate', id: second, repo: null })
  await w2!.saw('its invalidate settled', is('invalidated', second))
  for (const w of workers) t.same(w!.events.filter(is('heard')).map((e) => 'repo' in e && e.repo), ['team/app', null], 'every worker heard "every repository" once')
})

t.test('a stopped worker holds an invalidation up only until the deadline, and hears it when it resumes', async (t) => {
  const warnings: string[] = []
  const server = new IpcCoordinationServer({ ackTimeoutMs: 300, warn: (message) => warnings.push(message) })
  t.teardown(() => server.close())
  const [w1, w2] = await startWorkers(t, server, 2)
  w2!.child.kill('SIGSTOP')
  t.teardown(() => { w2!.child.kill('SIGCONT') })
  const id = command()
  w1!.send({ cmd: 'invalidate', id, repo: 'team/slow' })
  await w1!.saw('its invalidate settled without worker 2', is('invalidated', id))
  t.match(warnings, [/worker 2 did not drop cached manifests of team\/slow within 300 ms; the write goes on/])
  t.notOk(w2!.events.some(is('heard')), 'worker 2 has not run anything while stopped')
  w2!.child.kill('SIGCONT')
  await w2!.saw('heard once resumed', is('heard'))
})
