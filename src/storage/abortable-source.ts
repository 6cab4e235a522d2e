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
  let onAbort!: () => void
  const aborted = new Promise<never>((_resolve, reject) => { onAbort = () => reject(signal.reason) })
  aborted.catch(() => undefined)
  signal.addEventListener('abort', onAbort, { once: true })
  let done = false
  try {
    for (;;) {
      const next = iterator.next()
      next.catch(() => undefined)
      const result = await Promise.race([next, aborted])
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
