// Failed logins: a sliding window per client address and per user name, Retry-After until the
// oldest failure leaves it, success clearing the user's count, memory bounded.
import t from 'tap'
import { InMemoryLoginThrottle } from '../../src/auth/login-throttle.js'
import type { Clock } from '../../src/context/clock.js'

function fakeClock(): Clock & { advance: (ms: number) => void } {
  let now = 1_700_000_000_000
  return { now: () => now, advance: (ms) => { now += ms } }
}

t.test('within the window: `failures` failures are allowed, then logins wait until the oldest leaves', async (t) => {
  const clock = fakeClock()
  const throttle = new InMemoryLoginThrottle({ failures: 3, windowSeconds: 60, clock })
  for (let i = 0; i < 3; i++) {
    t.equal(throttle.retryAfterSeconds('10.0.0.1', 'alice'), undefined, `before failure ${i + 1}: may try`)
    throttle.failed('10.0.0.1', 'alice')
    clock.advance(10_000)
  }
  // Failures at 0 s, 10 s and 20 s; now is 30 s: the first leaves the window at 60 s.
  t.equal(throttle.retryAfterSeconds('10.0.0.1', 'alice'), 30, 'over: wait until the first failure is 60 s old')
  clock.advance(29_500)
  t.equal(throttle.retryAfterSeconds('10.0.0.1', 'alice'), 1, 'half a second left rounds up to 1')
  clock.advance(500)
  t.equal(throttle.retryAfterSeconds('10.0.0.1', 'alice'), undefined, 'the oldest failure left: one more try')
  throttle.failed('10.0.0.1', 'alice')
  t.equal(throttle.retryAfterSeconds('10.0.0.1', 'alice'), 10, 'failed again: now the failure at 10 s is the oldest of three')
})

t.test('per address and per user separately', async (t) => {
  const clock = fakeClock()
  const throttle = new InMemoryLoginThrottle({ failures: 2, windowSeconds: 60, clock })
  // One address guessing several users' passwords.
  throttle.failed('10.0.0.1', 'alice')
  throttle.failed('10.0.0.1', 'bob')
  t.equal(throttle.retryAfterSeconds('10.0.0.1', 'carol'), 60, 'the address is throttled, whatever user it tries')
  t.equal(throttle.retryAfterSeconds('10.0.0.2', 'alice'), undefined, 'alice from elsewhere: one failure, may try')
  t.equal(throttle.retryAfterSeconds('10.0.0.2', 'carol'), undefined, 'others are not affected')
  // Many addresses guessing one user's password.
  throttle.failed('10.0.0.3', 'dave')
  throttle.failed('10.0.0.4', 'dave')
  t.equal(throttle.retryAfterSeconds('10.0.0.5', 'dave'), 60, 'the user is throttled from any address')
  t.equal(throttle.retryAfterSeconds('10.0.0.5', 'erin'), undefined, 'that address may log in as someone else')
  t.equal(throttle.retryAfterSeconds('10.0.0.3', ''), undefined, 'an address with one failure, no user')
})

t.test('success clears the user\'s count, not the address\'s', async (t) => {
  const clock = fakeClock()
  const throttle = new InMemoryLoginThrottle({ failures: 2, windowSeconds: 60, clock })
  throttle.failed('10.0.0.7', 'alice')
  throttle.failed('10.0.0.8', 'alice')
  t.equal(throttle.retryAfterSeconds('10.0.0.9', 'alice'), 60)
  throttle.succeeded('10.0.0.9', 'alice')
  t.equal(throttle.retryAfterSeconds('10.0.0.9', 'alice'), undefined, 'alice proved her password: her count is cleared')
  throttle.failed('10.0.0.1', 'x')
  throttle.failed('10.0.0.1', 'y')
  throttle.succeeded('10.0.0.1', 'z')
  t.equal(throttle.retryAfterSeconds('10.0.0.1', 'z'), 60, 'one success does not clear an address\'s failures')
})

t.test('memory is bounded: stale entries dropped, the least recently failed first beyond the cap', async (t) => {
  const clock = fakeClock()
  const throttle = new InMemoryLoginThrottle({ failures: 1, windowSeconds: 60, clock, maxEntries: 100 })
  for (let i = 0; i < 40; i++) throttle.failed(`10.0.1.${i}`, `user${i}`)
  t.equal(throttle.size, 80, 'an address and a user per failure')
  clock.advance(61_000)
  throttle.failed('10.0.2.1', 'fresh')
  t.equal(throttle.size, 2, 'failures out of the window are dropped')
  for (let i = 0; i < 1000; i++) { throttle.failed(`10.0.3.${i}`, `spray${i}`); clock.advance(1) }
  t.ok(throttle.size <= 100, `never above the cap (${throttle.size})`)
  t.equal(throttle.retryAfterSeconds('10.0.3.999', 'x'), 60, 'the latest failures are kept')
  t.equal(throttle.retryAfterSeconds('10.0.3.0', 'x'), undefined, 'the oldest were dropped to make room')
  // Failing again keeps an entry at most `failures` long however often it fails.
  const one = new InMemoryLoginThrottle({ failures: 3, windowSeconds: 3600, clock })
  for (let i = 0; i < 10_000; i++) one.failed('10.0.0.1', 'alice')
  t.equal(one.size, 2)
  t.equal(one.retryAfterSeconds('10.0.0.1', 'alice'), 3600)
})

t.test('configuration is checked', async (t) => {
  t.throws(() => new InMemoryLoginThrottle({ failures: 0, windowSeconds: 60 }), RangeError)
})
