/**
 * Iterates `source` until `signal` aborts, also while waiting for a next chunk that may never come
 * (a client that stopped sending): the iteration then rejects with the signal's reason at once.
 * An abandoned source is asked to stop but not waited for; it settles when its stream is destroyed.
 */
export async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncIterable<T> {
  if (signal === undefined) {
    yield* source
    return
  }
  signal.throwIfAborted()
  const iterator = source[Symbol.asyncIterator]()
  // One listener for the whole iteration, rejecting whichever wait is current (no per-chunk listeners).
  let rejectWait: ((reason: unknown) => void) | undefined
  const onAbort = (): void => rejectWait?.(signal.reason)
  signal.addEventListener('abort', onAbort, { once: true })
  let done = false
  try {
    for (;;) {
      signal.throwIfAborted()
      const result = await new Promise<IteratorResult<T>>((resolve, reject) => {
        rejectWait = reject
        iterator.next().then(resolve, reject)
      })
      rejectWait = undefined
      if (result.done === true) {
        done = true
        return
      }
      yield result.value
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    if (!done) iterator.return?.()?.catch(() => undefined)
  }
}
