import type { Writable } from 'node:stream'

/**
 * A streaming ustar writer: regular files and directories, with fixed owner, mode and mtime so
 * that the same entries always make the same bytes. Names that do not fit ustar's 100 + 155 bytes
 * and sizes of 8 GiB and more get a pax extended header. The exact archive size is known from the
 * entries alone (tarSize), before any byte is written, so that HTTP can send Content-Length.
 */

const BLOCK = 512
/** Two zero blocks end an archive (no padding to GNU tar's 10 KiB records: readers do not need it). */
const END_OF_ARCHIVE = 2 * BLOCK
/** Largest size the 11 octal digits of ustar hold (8 GiB - 1). */
const MAX_OCTAL_SIZE = 0o77777777777
/** Every entry's mtime: the epoch, as reproducible `docker save` writes. */
const MTIME = 0

export interface TarEntryHead {
  /** Path inside the archive, '/'-separated; a directory's ends with '/'. */
  readonly name: string
  /** Bytes of a file; 0 for a directory. */
  readonly size: number
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK
}

/** ustar's split of a long name into prefix (≤ 155 bytes) and name (≤ 100 bytes), or undefined when none fits. */
function ustarName(name: string): { readonly prefix: string; readonly name: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name }
  for (let cut = name.indexOf('/'); cut > 0; cut = name.indexOf('/', cut + 1)) {
    const prefix = name.slice(0, cut)
    const rest = name.slice(cut + 1)
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest !== '') return { prefix, name: rest }
  }
  return undefined
}

/** One pax record: "<length> <key>=<value>\n", where the length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`
  const bodyLength = Buffer.byteLength(body)
  let length = bodyLength + String(bodyLength).length
  // Adding the digits may add a digit (e.g. 98 + 2 = 100).
  if (String(length).length > String(bodyLength).length) length++
  return `${length}${body}`
}

/** The pax extended header data an entry needs, or undefined when plain ustar holds it. */
function paxData(entry: TarEntryHead): Buffer | undefined {
  let records = ''
  if (ustarName(entry.name) === undefined) records += paxRecord('path', entry.name)
  if (entry.size > MAX_OCTAL_SIZE) records += paxRecord('size', String(entry.size))
  return records === '' ? undefined : Buffer.from(records, 'utf8')
}

/** Bytes an entry takes in the archive: headers, data and padding. */
export function tarEntrySize(entry: TarEntryHead): number {
  const pax = paxData(entry)
  const paxBytes = pax === undefined ? 0 : BLOCK + pax.length + padding(pax.length)
  return paxBytes + BLOCK + entry.size + padding(entry.size)
}

/** The whole archive's size: its entries and the end-of-archive blocks. */
export function tarSize(entries: readonly TarEntryHead[]): number {
  return entries.reduce((sum, entry) => sum + tarEntrySize(entry), END_OF_ARCHIVE)
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`
}

/** A size field: octal, or GNU/Go base-256 (high bit set) from 8 GiB on; a pax record says it too. */
function writeSize(header: Buffer, size: number): void {
  if (size <= MAX_OCTAL_SIZE) {
    header.write(octal(size, 12), 124, 12, 'ascii')
    return
  }
  let rest = BigInt(size)
  for (let i = 135; i > 124; i--) {
    header[i] = Number(rest & 0xffn)
    rest >>= 8n
  }
  header[124] = 0x80
}

function header(name: string, size: number, type: '0' | '5' | 'x'): Buffer {
  const block = Buffer.alloc(BLOCK, 0)
  // A name pax carries gets a short stand-in (as GNU tar and Go write), cut at a character boundary.
  const split = ustarName(name) ?? { prefix: '', name: Buffer.from(name).subarray(0, 100).toString('utf8').replace(/\uFFFD+$/, '') }
  block.write(split.name, 0, 100, 'utf8')
  block.write(octal(type === '5' ? 0o755 : 0o644, 8), 100, 8, 'ascii')
  block.write(octal(0, 8), 108, 8, 'ascii')
  block.write(octal(0, 8), 116, 8, 'ascii')
  writeSize(block, size)
  block.write(octal(MTIME, 12), 136, 12, 'ascii')
  block.write('        ', 148, 8, 'ascii')
  block.write(type, 156, 1, 'ascii')
  block.write('ustar\0', 257, 6, 'ascii')
  block.write('00', 263, 2, 'ascii')
  block.write(split.prefix, 345, 155, 'utf8')
  let sum = 0
  for (const byte of block) sum += byte
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii')
  return block
}

/** Headers (pax when needed, then ustar) for an entry. */
export function entryHeaders(entry: TarEntryHead): Buffer {
  const type = entry.name.endsWith('/') ? '5' : '0'
  const pax = paxData(entry)
  const own = header(entry.name, entry.size, type)
  if (pax === undefined) return own
  const paxName = `PaxHeaders/${entry.name.replace(/\/$/, '').split('/').pop() ?? ''}`
  return Buffer.concat([header(paxName, pax.length, 'x'), pax, Buffer.alloc(padding(pax.length)), own])
}

/** Writes one chunk, waiting for 'drain' when the sink is full; rejects once the sink is closed or failed. */
export function writeChunk(sink: Writable, chunk: Uint8Array): Promise<void> {
  if (sink.destroyed || sink.writableEnded) return Promise.reject(new Error('the archive\'s destination was closed'))
  if (sink.write(chunk)) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      sink.off('drain', onDrain)
      sink.off('close', onClose)
      sink.off('error', done)
      if (err !== undefined) reject(err)
      else resolve()
    }
    const onDrain = (): void => done()
    const onClose = (): void => done(new Error('the archive\'s destination was closed'))
    sink.on('drain', onDrain)
    sink.on('close', onClose)
    sink.on('error', done)
  })
}

function isDestroyable(value: unknown): value is { destroy(): void } {
  return typeof (value as { destroy?: unknown }).destroy === 'function'
}

/** Streams entries into `sink` (which it never ends: the caller does). */
export class TarWriter {
  private readonly sink: Writable

  constructor(sink: Writable) {
    this.sink = sink
  }

  async directory(name: string): Promise<void> {
    await writeChunk(this.sink, entryHeaders({ name: name.endsWith('/') ? name : `${name}/`, size: 0 }))
  }

  /**
   * A file of exactly `size` bytes from `data`; a source that gives more or fewer bytes fails the
   * archive (its entry would be corrupt). A stream source is destroyed in every case.
   */
  async file(name: string, size: number, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    try {
      await writeChunk(this.sink, entryHeaders({ name, size }))
      let written = 0
      if (data instanceof Uint8Array) {
        written = data.length
        if (written === size) await writeChunk(this.sink, data)
      } else {
        for await (const chunk of data) {
          written += chunk.length
          if (written > size) break
          await writeChunk(this.sink, chunk)
        }
      }
      if (written !== size) throw new Error(`tar entry ${name}: expected ${size} bytes, the source gave ${written > size ? 'more' : written}`)
      const pad = padding(size)
      if (pad > 0) await writeChunk(this.sink, Buffer.alloc(pad))
    } finally {
      // Also when it failed before the source was read (a closed sink): no stream left open.
      if (isDestroyable(data)) data.destroy()
    }
  }

  async end(): Promise<void> {
    await writeChunk(this.sink, Buffer.alloc(END_OF_ARCHIVE))
  }
}
