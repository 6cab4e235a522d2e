/**
 * Reads exact byte counts from a stream of chunks, without copying more than a header's worth:
 * `exact(n)` for small fixed-size reads (headers), `stream(n)` for bodies passed through chunk by chunk.
 */
export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>
  private pending: Uint8Array = new Uint8Array(0)
  private ended = false
  private consumed = 0

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]()
  }

  /** Bytes handed out so far. */
  get position(): number {
    return this.consumed
  }

  /** Fills `pending` with a next chunk; false at the end of the source. */
  private async fill(): Promise<boolean> {
    if (this.ended) return false
    for (;;) {
      const next = await this.iterator.next()
      if (next.done === true) {
        this.ended = true
        return false
      }
      if (next.value.byteLength === 0) continue
      this.pending = this.pending.byteLength === 0 ? next.value : concat(this.pending, next.value)
      return true
    }
  }

  /** Exactly `n` bytes, or fewer only when the source ended first. */
  async exact(n: number): Promise<Uint8Array> {
    while (this.pending.byteLength < n) if (!await this.fill()) break
    const taken = this.pending.subarray(0, Math.min(n, this.pending.byteLength))
    this.pending = this.pending.subarray(taken.byteLength)
    this.consumed += taken.byteLength
    return taken
  }

  /** The next `n` bytes as they arrive; stops early (the caller checks the count) when the source ends. */
  async *stream(n: number): AsyncIterable<Uint8Array> {
    let left = n
    while (left > 0) {
      if (this.pending.byteLength === 0 && !await this.fill()) return
      const taken = this.pending.subarray(0, Math.min(left, this.pending.byteLength))
      this.pending = this.pending.subarray(taken.byteLength)
      this.consumed += taken.byteLength
      left -= taken.byteLength
      yield taken
    }
  }

  /** Skips `n` bytes; returns how many were there. */
  async skip(n: number): Promise<number> {
    let skipped = 0
    for await (const chunk of this.stream(n)) skipped += chunk.byteLength
    return skipped
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.byteLength + b.byteLength)
  joined.set(a, 0)
  joined.set(b, a.byteLength)
  return joined
}
