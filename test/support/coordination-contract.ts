/**
 * What every Coordination must do, in one process: InProcessCoordination (test/unit) and the
 * multi-node PostgresCoordination (test/coordination) run the same checks.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import type { Coordination } from '../../src/coordination/coordination.js'

/** Takes `key` and holds it until `release` (which resolves once the lock is given back). */
export async function holdLock(c: Coordination, key: string): Promise<{ release(): Promise<void> }> {
  let release!: () => void
  let started!: () => void
  const holding = new Promise<void>((resolve) => { started = resolve })
  const held = c.lock(key, () => { started(); return new Promise<void>((resolve) => { release = resolve }) })
  await holding
  return { release: () => { release(); return held } }
}

export function coordinationContract(t: Test, name: string, make: (t: Test) => Coordination | Promise<Coordination>): void {
  t.test(`${name}: lock serialises work on one key and not across keys`, async (t) => {
    const c = await make(t)
    const log: string[] = []
    const work = (label: string, ms: number) => async () => { log.push(`${label} start`); await sleep(ms); log.push(`${label} end`); return label }
    const results = await Promise.all([c.lock('a', work('a1', 100)), c.lock('a', work('a2', 1)), c.lock('b', work('b1', 1))])
    t.same(results, ['a1', 'a2', 'b1'])
    t.ok(log.indexOf('a1 end') < log.indexOf('a2 start'), 'a2 waited for a1')
    t.ok(log.indexOf('b1 end') < log.indexOf('a1 end'), 'b1 did not wait for a1')
  })

  t.test(`${name}: a failing holder releases the key`, async (t) => {
    const c = await make(t)
    await t.rejects(c.lock('k', async () => { throw new Error('boom') }), /boom/)
    t.equal(await c.lock('k', async () => 'next'), 'next')
  })

  t.test(`${name}: lockAll holds every key, and crossing orders do not deadlock`, async (t) => {
    const c = await make(t)
    let inside = 0
    let maxInside = 0
    const critical = async (): Promise<void> => { inside++; maxInside = Math.max(maxInside, inside); await sleep(5); inside-- }
    await Promise.all([
      c.lockAll(['x', 'y', 'z'], critical),
      c.lockAll(['z', 'y', 'x'], critical),
      c.lockAll(['y', 'x', 'y'], critical),
      c.lock('y', critical),
    ])
    t.equal(maxInside, 1, 'never two holders of a shared key at once')
  })

  t.test(`${name}: tryLock runs only when nobody holds or waits for the key`, async (t) => {
    const c = await make(t)
    const held = await holdLock(c, 's')
    let ran = false
    t.equal(await c.tryLock('s', async () => { ran = true; return 1 }), undefined)
    t.notOk(ran, 'work of a refused tryLock never runs')
    t.equal(await c.tryLock('other', async () => 2), 2)
    await held.release()
    t.equal(await c.tryLock('s', async () => 3), 3, 'free again after release')
  })

  t.test(`${name}: a lease has one holder until released`, async (t) => {
    const c = await make(t)
    const first = await c.lease('gc')
    t.ok(first, 'first taker gets it')
    t.equal(first!.held, true, 'and holds it')
    t.equal(await c.lease('gc'), undefined, 'second taker is refused')
    t.ok(await c.lease('other'), 'other names are independent')
    await first!.release()
    t.equal(first!.held, false, 'held no more once released')
    await first!.release()
    const again = await c.lease('gc')
    t.ok(again, 'taken again after release')
    t.equal(await c.lease('gc'), undefined, 'a repeated release does not free the lease of the next holder')
  })

  t.test(`${name}: invalidation reaches every listener before invalidate returns`, async (t) => {
    const c = await make(t)
    const seen: Array<string | undefined> = []
    const other: Array<string | undefined> = []
    const stop = c.onInvalidate((repo) => seen.push(repo))
    c.onInvalidate((repo) => other.push(repo))
    c.invalidate('team/app')
    t.same(seen, ['team/app'], 'synchronously')
    c.invalidate(undefined)
    stop()
    c.invalidate('after')
    t.same(seen, ['team/app', undefined], 'nothing after unsubscribing')
    t.same(other, ['team/app', undefined, 'after'])
  })
}
