/** The time, as a dependency: tests and simulations replace it. Milliseconds since the epoch. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = Object.freeze({ now: () => Date.now() })
