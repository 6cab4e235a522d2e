// The archive writer against GNU tar: what it lists and extracts is what was written, the size
// known up front is the size written, long names go through pax, and a short source fails.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PassThrough, Readable, Writable } from 'node:stream'
import t from 'tap'
import { tarSize, TarWriter } from '../../src/transfer/tar-writer.js'

// Names print as written (UTF-8) whatever the caller's locale: CI runs with an empty environment.
const GNU_TAR = { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } } as const

/** Collects what the writer writes, with a small buffer so that backpressure is exercised. */
function collector(): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = []
  const sink = new Writable({ highWaterMark: 1024, write(chunk: Buffer, _encoding, done) { chunks.push(chunk); setImmediate(done) } })
  return { sink, bytes: () => Buffer.concat(chunks) }
}

function chunked(data: Buffer, size: number): Readable {
  const parts: Buffer[] = []
  for (let i = 0; i < data.length; i += size) parts.push(data.subarray(i, i + size))
  return Readable.from(parts)
}

/** A name of `length` bytes whose last component (over 100 bytes) rules out ustar's split; components stay under 255. */
function longName(length: number): string {
  const parts: string[] = []
  let left = length
  while (left > 254) {
    const n = Math.min(199, left - 202)
    parts.push('p'.repeat(n))
    left -= n + 1
  }
  return [...parts, 'q'.repeat(left)].join('/')
}

const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}`
const files: Array<{ name: string; data: Buffer }> = [
  { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
  { name: 'empty', data: Buffer.alloc(0) },
  { name: 'blobs/sha256/511', data: randomBytes(511) },
  { name: 'blobs/sha256/512', data: randomBytes(512) },
  { name: 'blobs/sha256/513', data: randomBytes(513) },
  { name: 'big', data: randomBytes(300_000) },
  // 141 bytes: fits ustar's prefix + name split.
  { name: `blobs/sha512/${'a'.repeat(128)}`, data: randomBytes(10) },
  // No '/' split fits: a pax path record, around the lengths where the record's length gains a digit.
  ...[150, 988, 989, 990, 991, 992, 993, 994].map((length) => ({ name: longName(length), data: randomBytes(length % 50) })),
  { name: `${longDir}/${'g'.repeat(120)}`, data: randomBytes(3) },
  { name: 'ünïcødé/名前', data: Buffer.from('utf-8 names') },
]

t.test('GNU tar lists and extracts exactly what was written, and tarSize is the written size', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tar-writer-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { sink, bytes } = collector()
  const tar = new TarWriter(sink)
  await tar.directory('blobs/')
  await tar.directory('blobs/sha256')
  for (const [i, file] of files.entries()) await tar.file(file.name, file.data.length, i % 2 === 0 ? file.data : chunked(file.data, 100))
  await tar.end()
  await new Promise<void>((resolve) => sink.end(resolve))
  const archive = bytes()
  const heads = [{ name: 'blobs/', size: 0 }, { name: 'blobs/sha256/', size: 0 }, ...files.map((f) => ({ name: f.name, size: f.data.length }))]
  t.equal(archive.length, tarSize(heads), 'the size computed up front is the size written')
  t.equal(archive.length % 512, 0, 'whole blocks')

  const archivePath = path.join(dir, 'a.tar')
  await import('node:fs/promises').then((fs) => fs.writeFile(archivePath, archive))
  const listed = execFileSync('tar', ['--quoting-style=literal', '-tf', archivePath], GNU_TAR).split('\n').filter((line) => line !== '')
  t.same(listed, heads.map((h) => h.name), 'GNU tar lists every entry, in order, with its full name')
  const verbose = execFileSync('tar', ['--quoting-style=literal', '-tvf', archivePath], GNU_TAR)
  t.match(verbose, /^drwxr-xr-x 0\/0\s+0 1970-01-01 00:00 blobs\/$/m, 'directories: 0755, root, epoch')
  t.match(verbose, /^-rw-r--r-- 0\/0\s+30 1970-01-01 00:00 oci-layout$/m, 'files: 0644, root, epoch')
  execFileSync('tar', ['-xf', archivePath, '-C', dir], GNU_TAR)
  for (const file of files) t.ok((await readFile(path.join(dir, file.name))).equals(file.data), `${file.name.slice(0, 40)} (${file.data.length} bytes) extracts byte for byte`)
})

t.test('two writes of the same entries are byte-identical', async (t) => {
  const once = async (): Promise<Buffer> => {
    const { sink, bytes } = collector()
    const tar = new TarWriter(sink)
    for (const file of files) await tar.file(file.name, file.data.length, file.data)
    await tar.end()
    return bytes()
  }
  t.ok((await once()).equals(await once()))
})

t.test('a source with fewer or more bytes than announced fails the archive', async (t) => {
  const tar = new TarWriter(new PassThrough().resume())
  await t.rejects(tar.file('short', 10, Readable.from([Buffer.alloc(9)])), /expected 10 bytes, the source gave 9/)
  await t.rejects(tar.file('long', 10, Readable.from([Buffer.alloc(8), Buffer.alloc(8)])), /expected 10 bytes, the source gave more/)
  await t.rejects(tar.file('buffer', 10, Buffer.alloc(11)), /expected 10 bytes/)
})

t.test('writing into a destroyed sink rejects and closes the source', async (t) => {
  const sink = new PassThrough({ highWaterMark: 16 })
  const tar = new TarWriter(sink)
  const source = Readable.from((function* () { for (;;) yield Buffer.alloc(4096) })())
  const writing = tar.file('endless', 1 << 30, source)
  setTimeout(() => sink.destroy(), 20)
  await t.rejects(writing, /destination was closed/)
  t.ok(source.destroyed, 'the source stream was destroyed (no handle left open)')
})
