import { setImmediate as nextTurn } from 'node:timers/promises'
import pino from 'pino'
import t from 'tap'
import { systemContext, type RequestContext } from '../../src/context/request-context.js'
import type { RegistryEvent } from '../../src/events/events.js'
import { InProcessEventBus } from '../../src/events/in-process-bus.js'

function bus(): { bus: InProcessEventBus; logged: Array<Record<string, unknown>> } {
  const logged: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, { write: (line: string) => { logged.push(JSON.parse(line) as Record<string, unknown>) } })
  return { bus: new InProcessEventBus({ now: () => 42 }, log), logged }
}

const ctx: RequestContext = { caller: { kind: 'anonymous' }, signal: new AbortController().signal, requestId: 'req-1' }

t.test('publish returns before any subscriber runs; each sees every event in order, stamped', async (t) => {
  const { bus: events } = bus()
  const a: RegistryEvent[] = []
  const b: RegistryEvent[] = []
  events.subscribe((e) => { a.push(e) })
  events.subscribe((e) => { b.push(e) })
  events.publish(ctx, { type: 'repository.created', repo: 'r' })
  events.publish(ctx, { type: 'blob.deleted', repo: 'r', digest: 'sha256:x' })
  t.same(a, [], 'nothing delivered synchronously')
  await nextTurn()
  await nextTurn()
  const expected = [
    { type: 'repository.created', repo: 'r', requestId: 'req-1', caller: { kind: 'anonymous' }, at: 42 },
    { type: 'blob.deleted', repo: 'r', digest: 'sha256:x', requestId: 'req-1', caller: { kind: 'anonymous' }, at: 42 },
  ]
  t.same(a, expected)
  t.same(b, expected)
  t.ok(Object.isFrozen(a[0]), 'subscribers share one frozen event')
})

t.test('a subscriber that throws or rejects is logged and does not stop the others; unsubscribe stops delivery', async (t) => {
  const { bus: events, logged } = bus()
  const seen: string[] = []
  events.subscribe(() => { throw new Error('sync bug') })
  events.subscribe(async () => { throw new Error('async bug') })
  const stop = events.subscribe((e) => { seen.push(e.type) })
  const system = systemContext('gc')
  events.publish(system, { type: 'manifest.deleted', repo: 'r', digest: 'sha256:y' })
  await nextTurn()
  await nextTurn()
  stop()
  events.publish(system, { type: 'manifest.deleted', repo: 'r', digest: 'sha256:z' })
  await nextTurn()
  await nextTurn()
  t.same(seen, ['manifest.deleted'], 'delivered once, not after unsubscribing')
  const failures = logged.filter((l) => l.msg === 'event subscriber failed')
  t.equal(failures.length, 4, 'both failures of both events logged')
  t.ok(failures.every((l) => l.reqId === system.requestId && l.event === 'manifest.deleted'))
  t.match(system.requestId, /^gc-/)
})
