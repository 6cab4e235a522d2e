import { ByteReader } from './byte-reader.js'

/**
 * A streaming tar reader for image archives (ustar, pax extended headers, GNU long names): what
 * `docker save`, `podman save`, skopeo and GNU/BSD tar write. Nothing is extracted: entries come
 * with archive-relative paths and a body to stream. Paths are checked as if they were extracted
 * (no absolute path, no `..`), so an archive that would escape its directory is refused outright.
 */

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other'

export interface TarEntry {
  /** Normalised: no leading `./` or `/`, no empty or `.` segments, no trailing slash. */
  readonly path: string
  readonly type: TarEntryType
  readonly size: number
  /** Of a symlink or hard link: the archive path it names (resolved, never outside the archive). */
  readonly linkTarget?: string
  /**
   * The entry's bytes (empty but for files), to be read before the next entry is asked for;
   * what is left unread is skipped. Rejects with TarError when the archive ends inside it.
   */
  readonly body: AsyncIterable<Uint8Array>
}

export class TarError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TarError'
  }
}

const BLOCK = 512
/** pax headers and GNU long names are metadata: never larger than this. */
const META_MAX_BYTES = 1 << 20
const UTF8 = new TextDecoder('utf-8', { fatal: true })

interface Overrides { path?: string; linkpath?: string; size?: number }

/**
 * Every entry of the tar in `source`, in order. The source is read to its end, padding included;
 * on an error it is left as it is, not destroyed (an HTTP request body is then drained by the
 * server's refusal handling, so the client reads the error instead of a reset).
 */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(source)
  let overrides: Overrides = {}
  for (;;) {
    const header = await reader.exact(BLOCK)
    if (header.byteLength < BLOCK) throw new TarError(header.byteLength === 0 ? 'archive truncated: no end-of-archive marker' : 'archive truncated inside a header')
    if (isZeroBlock(header)) {
      // End of archive: one zero block (GNU tar accepts a lone one), then padding, read and dropped.
      await reader.skip(Number.MAX_SAFE_INTEGER)
      return
    }
    verifyChecksum(header)
    const typeflag = String.fromCharCode(header[156]!)
    const headerSize = readNumber(header, 124, 12, 'size')
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (headerSize > META_MAX_BYTES) throw new TarError(`extended header of ${headerSize} bytes is over the limit of ${META_MAX_BYTES}`)
      const data = await readPadded(reader, headerSize)
      if (typeflag === 'x') overrides = { ...overrides, ...parsePax(data) }
      else if (typeflag === 'L') overrides.path = cString(data, 0, data.byteLength)
      else if (typeflag === 'K') overrides.linkpath = cString(data, 0, data.byteLength)
      // 'g' (global pax) carries defaults for every later entry; none of its keys matter here.
      continue
    }
    const size = overrides.size ?? headerSize
    const rawPath = overrides.path ?? ustarName(header)
    const rawLink = overrides.linkpath ?? cString(header, 157, 100)
    overrides = {}
    const type = entryType(typeflag, rawPath)
    const path = normalizeEntryPath(rawPath)
    if (path === '' && type !== 'directory') throw new TarError('entry without a name')
    const linkTarget = type === 'symlink' ? resolveSymlink(path, rawLink) : type === 'hardlink' ? normalizeEntryPath(rawLink) : undefined
    // Only regular files have content; a link's or directory's size field is meaningless (ignored, as tar does).
    const bodySize = type === 'file' || type === 'other' ? size : 0
    let read = 0
    const body = (async function* () {
      for await (const chunk of reader.stream(bodySize - read)) {
        read += chunk.byteLength
        yield chunk
      }
      if (read < bodySize) throw new TarError(`archive truncated inside ${path}`)
    })()
    yield { path, type, size: type === 'file' ? size : 0, ...(linkTarget !== undefined ? { linkTarget } : {}), body: type === 'file' ? body : empty() }
    const left = bodySize - read
    if (await reader.skip(left) < left) throw new TarError(`archive truncated inside ${path}`)
    const padding = (BLOCK - (bodySize % BLOCK)) % BLOCK
    if (await reader.skip(padding) < padding) throw new TarError(`archive truncated after ${path}`)
  }
}

async function* empty(): AsyncIterable<Uint8Array> { /* no bytes */ }

async function readPadded(reader: ByteReader, size: number): Promise<Uint8Array> {
  const padded = size + ((BLOCK - (size % BLOCK)) % BLOCK)
  const data = await reader.exact(padded)
  if (data.byteLength < padded) throw new TarError('archive truncated inside an extended header')
  return data.subarray(0, size)
}

function entryType(typeflag: string, rawPath: string): TarEntryType {
  switch (typeflag) {
    case '0': case '\0': case '7':
      // Pre-POSIX archives mark directories only by a trailing slash.
      return typeflag === '\0' && rawPath.endsWith('/') ? 'directory' : 'file'
    case '5': return 'directory'
    case '1': return 'hardlink'
    case '2': return 'symlink'
    default: return 'other'
  }
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false
  return true
}

/** The header sum with the checksum field as spaces; historic writers summed signed bytes, accepted too. */
function verifyChecksum(header: Uint8Array): void {
  const stored = readNumber(header, 148, 8, 'checksum')
  let unsigned = 0
  let signed = 0
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : header[i]!
    unsigned += byte
    signed += byte > 127 ? byte - 256 : byte
  }
  if (stored !== unsigned && stored !== signed) throw new TarError('header checksum mismatch: not a tar archive, or a damaged one')
}

/** An octal field (NUL- or space-terminated), or GNU's base-256 for values too large for it. */
function readNumber(header: Uint8Array, offset: number, length: number, field: string): number {
  const first = header[offset]!
  if ((first & 0x80) !== 0) {
    if (first === 0xff) throw new TarError(`negative ${field} field`)
    let value = first & 0x7f
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + header[i]!
    if (!Number.isSafeInteger(value)) throw new TarError(`${field} field too large`)
    return value
  }
  const text = String.fromCharCode(...header.subarray(offset, offset + length)).replace(/[\0 ]+$/, '').replace(/^ +/, '')
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) throw new TarError(`malformed ${field} field in a tar header`)
  return parseInt(text, 8)
}

function cString(bytes: Uint8Array, offset: number, length: number): string {
  const field = bytes.subarray(offset, offset + length)
  const end = field.indexOf(0)
  return decodeName(end === -1 ? field : field.subarray(0, end))
}

function decodeName(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes)
  } catch {
    throw new TarError('entry name is not valid UTF-8')
  }
}

/** ustar splits long names into prefix/name; GNU's magic ("ustar  ") uses the prefix bytes for other things. */
function ustarName(header: Uint8Array): string {
  const name = cString(header, 0, 100)
  const magic = String.fromCharCode(...header.subarray(257, 263))
  if (magic !== 'ustar\0') return name
  const prefix = cString(header, 345, 155)
  return prefix === '' ? name : `${prefix}/${name}`
}

/** pax records: "<length> <key>=<value>\n", the length counting the whole record. */
function parsePax(data: Uint8Array): Overrides {
  const result: Overrides = {}
  let at = 0
  while (at < data.byteLength) {
    const space = data.indexOf(0x20, at)
    if (space === -1) throw new TarError('malformed pax header')
    const length = Number(String.fromCharCode(...data.subarray(at, space)))
    if (!Number.isSafeInteger(length) || length <= space - at || at + length > data.byteLength || data[at + length - 1] !== 0x0a) throw new TarError('malformed pax header')
    const record = decodeName(data.subarray(space + 1, at + length - 1))
    const equals = record.indexOf('=')
    if (equals === -1) throw new TarError('malformed pax record')
    const key = record.slice(0, equals)
    const value = record.slice(equals + 1)
    if (key === 'path') result.path = value
    else if (key === 'linkpath') result.linkpath = value
    else if (key === 'size') {
      if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new TarError('malformed pax size')
      result.size = Number(value)
    }
    at += length
  }
  return result
}

/** The archive-relative path of an entry; absolute paths and `..` segments are refused (path traversal). */
export function normalizeEntryPath(raw: string): string {
  if (raw.includes('\0')) throw new TarError('entry name contains a NUL byte')
  if (raw.startsWith('/')) throw new TarError(`absolute path in archive: ${raw.slice(0, 200)}`)
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.')
  if (segments.includes('..')) throw new TarError(`path traversal in archive: ${raw.slice(0, 200)}`)
  return segments.join('/')
}

/** A symlink's target as an archive path: relative to the link's directory, never leaving the archive. */
function resolveSymlink(path: string, target: string): string {
  if (target.startsWith('/') || target.includes('\0')) throw new TarError(`symlink ${path} points outside the archive`)
  const resolved = path.split('/').slice(0, -1)
  for (const segment of target.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') {
      if (resolved.length === 0) throw new TarError(`symlink ${path} points outside the archive`)
      resolved.pop()
    } else resolved.push(segment)
  }
  return resolved.join('/')
}
