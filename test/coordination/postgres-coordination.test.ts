/**
 * PostgresCoordination against a real PostgreSQL 15 started for this file: the contract every
 * Coordination meets in one process, then what several nodes on one database rely on (two
 * instances stand for two nodes): locks, leases and invalidations across them, a holder's session
 * killed, and a server restart. Without PostgreSQL the file is skipped (failed under CI=true).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Test } from 'tap'
import { ADVISORY_LOCK_SPACES, CoordinationLockLostError, PostgresCoordination, type PostgresCoordinationOptions } from '../../src/coordination/postgres-coordination.js'
import { coordinationContract, holdLock } from '../support/coordination-contract.js'
import { postgresAvailable, startPostgres } from '../support/postgres.js'
import { waitFor } from '../support/wait.js'

if (postgresAvailable(t)) {
  const server = await startPostgres(t)

  const open = async (sub: Test, url: string, options: Omit<PostgresCoordinationOptions, 'url'> = {}): Promise<PostgresCoordination> => {
    const coordination = await PostgresCoordination.open({ url, ...options })
    sub.teardown(() => coordination.close())
    return coordination
  }
  /** Two nodes on one fresh database. */
  const twoNodes = async (sub: Test): Promise<{ a: PostgresCoordination; b: PostgresCoordination; database: string }> => {
    const { name, url } = await server.createDatabase()
    return { a: await open(sub, url), b: await open(sub, url), database: name }
  }
  /** Ends the sessions holding advisory locks of `space` in `database` (as if their node had died); how many. */
  const terminateHolders = async (database: string, space: number): Promise<number> => {
    const rows = await server.query<{ pid: number }>(
      `SELECT pg_terminate_backend(pid) AS done, pid FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND classid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [space], database)
    return rows.length
  }

  coordinationContract(t, 'PostgresCoordination', async (sub) => open(sub, (await server.createDatabase()).url))

  t.test('a lock on one key excludes holders on other nodes, not other keys', async (t) => {
    const { a, b } = await twoNodes(t)
    const log: string[] = []
    const work = (label: string, ms: number) => async () => { log.push(`${label} start`); await sleep(ms); log.push(`${label} end`); return label }
    const first = a.lock('blob:1', work('a', 150))
    await waitFor('node A to hold the lock', async () => log.includes('a start'))
    t.same(await Promise.all([b.lock('blob:1', work('b', 1)), b.lock('blob:2', work('other', 1)), first]), ['b', 'other', 'a'])
    t.ok(log.indexOf('a end') < log.indexOf('b start'), 'node B waited for node A')
    t.ok(log.indexOf('other end') < log.indexOf('a end'), 'another key did not wait')
  })

  t.test('lockAll in crossing orders on two nodes, with single locks among them, never deadlocks nor overlaps', async (t) => {
    const { a, b } = await twoNodes(t)
    let inside = 0
    let maxInside = 0
    const critical = async (): Promise<void> => { inside++; maxInside = Math.max(maxInside, inside); await sleep(2); inside-- }
    const rounds = Array.from({ length: 15 }, () => [
      a.lockAll(['x', 'y', 'z'], critical),
      b.lockAll(['z', 'y', 'x'], critical),
      a.lockAll(['z', 'x', 'y', 'z'], critical),
      b.lockAll(['y', 'x'], critical),
      b.lock('y', critical),
    ])
    await Promise.all(rounds.flat())
    t.equal(maxInside, 1, 'never two holders of a shared key at once')
  })

  t.test('tryLock refuses a key held on another node and runs once it is free', async (t) => {
    const { a, b } = await twoNodes(t)
    const held = await holdLock(a, 'upload:u')
    let ran = false
    t.equal(await b.tryLock('upload:u', async () => { ran = true }), undefined, 'refused on node B')
    t.notOk(ran, 'the refused work never ran')
    t.equal(await b.tryLock('upload:v', async () => 'v'), 'v', 'another key is free')
    await held.release()
    t.equal(await b.tryLock('upload:u', async () => 'u'), 'u', 'free on node B after node A released')
  })

  t.test('a lease held by one node: refused to another, freed by release, and freed when its holder dies', async (t) => {
    const { a, b, database } = await twoNodes(t)
    const held = await a.lease('gc')
    t.ok(held, 'node A takes the lease')
    t.equal(await b.lease('gc'), undefined, 'node B is refused')
    await held!.release()
    const taken = await b.lease('gc')
    t.ok(taken, 'node B takes it once node A released it')
    t.equal(await a.lease('gc'), undefined, 'node A is refused now')

    t.equal(await terminateHolders(database, ADVISORY_LOCK_SPACES.lease), 1, "node B's lease session is killed")
    // Node B lives on: its lease says it is lost, so that what it guards stops (webhook delivery).
    await waitFor("node B's lease to say it is lost", async () => !taken!.held, 5000, 20)
    const retaken = await waitFor('node A to take the lease of the dead holder', () => a.lease('gc'), 5000, 50)
    t.ok(retaken, 'node A takes the lease once the holder is gone')
    t.equal(await b.lease('gc'), undefined, 'and node B is refused again')
    await taken!.release() // releasing a lease lost with its session is harmless
    t.equal(await b.lease('gc'), undefined, 'a late release does not free the new holder')
  })

  t.test('a lock whose connection breaks while work runs: the work ends, then the call rejects; another node could take it meanwhile', async (t) => {
    const { a, b, database } = await twoNodes(t)
    let tookIt: string | undefined
    const locked = a.lock('blob:lost', async () => {
      t.equal(await terminateHolders(database, ADVISORY_LOCK_SPACES.lock), 1, "node A's lock session is killed")
      tookIt = await waitFor('node B to take the lock', () => b.tryLock('blob:lost', async () => 'node B'), 5000, 20)
      return 'done'
    })
    await t.rejects(locked, CoordinationLockLostError, 'the holder learns that it lost the lock')
    await t.rejects(locked, /lost while its work ran \(the connection to coordination database 127\.0\.0\.1:\d+\/\w+ broke/)
    t.equal(tookIt, 'node B', 'node B held it while node A still worked')
    t.equal(await a.lock('blob:lost', async () => 'again'), 'again', 'node A locks again on a fresh connection')
  })

  t.test('nested locks share their holder\'s connection: one pooled connection is enough', async (t) => {
    const { url } = await server.createDatabase()
    const c = await open(t, url, { poolSize: 1 })
    const nested = (id: string) => c.lock(`upload:${id}`, () => c.lock(`blob:${id}`, async () => c.lockAll([`blob:${id}y`, `blob:${id}x`], async () => id)))
    t.same(await Promise.all([nested('1'), nested('2'), nested('3')]), ['1', '2', '3'])
  })

  t.test('an invalidation reaches the listeners of the other node, with its repository, and the sender\'s once', async (t) => {
    const { url } = await server.createDatabase()
    const warnings: string[] = []
    const a = await open(t, url)
    const b = await open(t, url, { warn: (message) => warnings.push(message) })
    const onA: Array<string | undefined> = []
    const onB: Array<string | undefined> = []
    a.onInvalidate((repo) => onA.push(repo))
    const stopFailing = b.onInvalidate(() => { throw new Error('a listener with a bug') })
    b.onInvalidate((repo) => onB.push(repo))
    a.invalidate('team/app')
    t.same(onA, ['team/app'], "node A's listeners ran before invalidate returned")
    await waitFor('node B to hear of team/app', async () => onB.length === 1)
    t.same(onB, ['team/app'])
    t.match(warnings, [/invalidation listener failed on team\/app: a listener with a bug/], "node B's failing listener was reported, and its other listener still ran")
    // Locally, a failing listener fails invalidate itself (as in one process), and the other nodes hear of it all the same.
    t.throws(() => b.invalidate('team/failing'), /a listener with a bug/)
    stopFailing()
    a.invalidate(undefined)
    b.invalidate('team/other')
    await waitFor('both to hear the other', async () => onB.length === 3 && onA.length === 4)
    await sleep(100)
    t.same(onA, ['team/app', undefined, 'team/failing', 'team/other'], 'node A heard its own invalidations once, and both of node B')
    t.same(onB, ['team/app', 'team/other', undefined], 'node B heard everything once')
  })

  t.test('a node whose listening connection is killed: what it invalidated meanwhile reaches the others once it is back, and its listeners hear that everything may be stale', async (t) => {
    const { a, b, database } = await twoNodes(t)
    const onA: Array<string | undefined> = []
    const onB: Array<string | undefined> = []
    a.onInvalidate((repo) => onA.push(repo))
    b.onInvalidate((repo) => onB.push(repo))
    // Node A opened first: its listener is the older session.
    const [listener] = await server.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'wharf: coordination listener' ORDER BY backend_start LIMIT 1", [], database)
    await server.query('SELECT pg_terminate_backend($1)', [listener!.pid])
    a.invalidate('while-away')
    await waitFor('node B to hear of while-away', async () => onB.includes('while-away'), 10_000)
    await waitFor('node A to listen again', async () => onA.includes(undefined))
    t.same(onA, ['while-away', undefined], "node A's listeners ran at once, then heard that it may have missed some")
    b.invalidate('back')
    await waitFor('node A to hear of back', async () => onA.includes('back'))
    t.same(onB, ['while-away', 'back'], 'node B, never disconnected, was not told to drop everything')
  })

  // Last: it restarts the server under every database of this file.
  t.test('after a PostgreSQL restart invalidations flow again, what was missed counts as everything, and locks work', async (t) => {
    const { a, b } = await twoNodes(t)
    const onB: Array<string | undefined> = []
    b.onInvalidate((repo) => onB.push(repo))
    a.invalidate('before')
    await waitFor('node B to hear of before', async () => onB.includes('before'))
    await server.restart()
    await waitFor('node B to listen again', async () => onB.includes(undefined), 10_000)
    t.same(onB, ['before', undefined], 'node B was told that everything may be stale')
    a.invalidate('after')
    await waitFor('node B to hear of after', async () => onB.includes('after'), 10_000)
    t.equal(await b.lock('blob:r', async () => 'locked'), 'locked', 'locks work on new connections')
  })

  t.test('an unreachable database: open rejects naming it, without the password', async (t) => {
    const url = `postgres://postgres:${encodeURIComponent('s3cret pw')}@127.0.0.1:1/nowhere`
    const rejection = PostgresCoordination.open({ url })
    await t.rejects(rejection, /coordination database 127\.0\.0\.1:1\/nowhere is unavailable/)
    await rejection.catch((err: Error) => t.notMatch(err.message, /s3cret/, 'no password'))
  })
}
