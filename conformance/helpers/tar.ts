// A minimal, deterministic ustar writer (layers, docker-archive, oci-archive) and reader.
export interface TarEntry {
  readonly name: string
  readonly type: 'file' | 'dir' | 'symlink'
  readonly data?: Buffer
  readonly mode?: number
  readonly linkname?: string
  readonly mtime?: number
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0'
}

function header(entry: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512, 0)
  let name = entry.name
  let prefix = ''
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155)
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar: name too long: ${name}`)
    prefix = name.slice(0, cut)
    name = name.slice(cut + 1)
  }
  h.write(name, 0, 100, 'utf8')
  h.write(octal(entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644), 8), 100, 8, 'ascii')
  h.write(octal(0, 8), 108, 8, 'ascii')
  h.write(octal(0, 8), 116, 8, 'ascii')
  h.write(octal(size, 12), 124, 12, 'ascii')
  h.write(octal(entry.mtime ?? 1_700_000_000, 12), 136, 12, 'ascii')
  h.write('        ', 148, 8, 'ascii')
  h.write(entry.type === 'file' ? '0' : entry.type === 'dir' ? '5' : '2', 156, 1, 'ascii')
  if (entry.linkname) h.write(entry.linkname, 157, 100, 'utf8')
  h.write('ustar\0', 257, 6, 'ascii')
  h.write('00', 263, 2, 'ascii')
  h.write('root', 265, 32, 'ascii')
  h.write('root', 297, 32, 'ascii')
  if (prefix) h.write(prefix, 345, 155, 'utf8')
  let sum = 0
  for (const byte of h) sum += byte
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii')
  return h
}

export function tar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = []
  for (const entry of entries) {
    const data = entry.type === 'file' ? entry.data ?? Buffer.alloc(0) : Buffer.alloc(0)
    parts.push(header(entry, data.length), data)
    const pad = (512 - (data.length % 512)) % 512
    if (pad) parts.push(Buffer.alloc(pad, 0))
  }
  parts.push(Buffer.alloc(1024, 0))
  return Buffer.concat(parts)
}

/** Reads a ustar archive written by tar() or by the clients (regular files, dirs and symlinks only). */
export function untar(archive: Buffer): Map<string, { type: TarEntry['type']; data: Buffer; linkname: string }> {
  const out = new Map<string, { type: TarEntry['type']; data: Buffer; linkname: string }>()
  let offset = 0
  let longName: string | undefined
  while (offset + 512 <= archive.length) {
    const h = archive.subarray(offset, offset + 512)
    if (h.every((b) => b === 0)) break
    const field = (start: number, len: number): string => h.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '')
    const size = parseInt(field(124, 12).trim() || '0', 8)
    const typeflag = field(156, 1)
    const prefix = field(345, 155)
    let name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100))
    longName = undefined
    const data = archive.subarray(offset + 512, offset + 512 + size)
    offset += 512 + Math.ceil(size / 512) * 512
    if (typeflag === 'L') { longName = data.toString('utf8').replace(/\0.*$/s, ''); continue }
    if (typeflag === 'x' || typeflag === 'g') continue
    name = name.replace(/^\.\//, '')
    const type = typeflag === '5' ? 'dir' : typeflag === '2' ? 'symlink' : 'file'
    out.set(name.replace(/\/$/, ''), { type, data: Buffer.from(data), linkname: field(157, 100) })
  }
  return out
}
