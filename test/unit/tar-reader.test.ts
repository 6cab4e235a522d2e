import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { tar } from '../../conformance/helpers/tar.js'
import { readTar, TarError, type TarEntry } from '../../src/transfer/tar-reader.js'

interface Read { path: string; type: TarEntry['type']; data: Buffer; linkTarget?: string }

async function readAll(archive: Buffer, chunkSize = 4096): Promise<Read[]> {
  async function* chunks(): AsyncIterable<Uint8Array> {
    for (let at = 0; at < archive.length; at += chunkSize) yield archive.subarray(at, at + chunkSize)
  }
  const out: Read[] = []
  for await (const entry of readTar(chunks())) {
    const parts: Uint8Array[] = []
    for await (const chunk of entry.body) parts.push(chunk)
    out.push({ path: entry.path, type: entry.type, data: Buffer.concat(parts), ...(entry.linkTarget !== undefined ? { linkTarget: entry.linkTarget } : {}) })
  }
  return out
}

async function refusal(archive: Buffer): Promise<string> {
  try {
    await readAll(archive)
  } catch (err) {
    if (err instanceof TarError) return err.message
    throw err
  }
  return 'accepted'
}

t.test('any files, any chunking: names and bytes come back', async () => {
  await fc.assert(fc.asyncProperty(
    fc.uniqueArray(fc.record({ name: fc.stringMatching(/^[a-z0-9._-]{1,40}(\/[a-z0-9_-]{1,40}){0,2}$/), data: fc.uint8Array({ maxLength: 3000 }) }), { selector: (e) => e.name, maxLength: 6 })
      .filter((entries) => entries.every((e) => !e.name.split('/').some((s) => s === '.' || s === '..'))),
    fc.integer({ min: 1, max: 2048 }),
    async (entries, chunkSize) => {
      const archive = tar(entries.map((e) => ({ name: e.name, type: 'file' as const, data: Buffer.from(e.data) })))
      const read = await readAll(archive, chunkSize)
      return read.length === entries.length && read.every((r, i) => r.path === entries[i]!.name && r.data.equals(Buffer.from(entries[i]!.data)))
    },
  ), { numRuns: 60 })
})

t.test('archives from GNU tar: pax and GNU long names, symlinks, directories', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tar-reader-'))
  const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`
  mkdirSync(path.join(dir, 'src', 'd'.repeat(120)), { recursive: true })
  writeFileSync(path.join(dir, 'src', long), 'long name')
  writeFileSync(path.join(dir, 'src', 'ünïcode.txt'), Buffer.alloc(70_000, 9))
  symlinkSync(`../src/ünïcode.txt`, path.join(dir, 'src', 'd'.repeat(120), 'link'))
  for (const format of ['pax', 'gnu', 'ustar']) {
    if (format === 'ustar') continue // ustar cannot hold a 150-character file name
    const file = path.join(dir, `${format}.tar`)
    execFileSync('tar', ['--format', format, '-C', path.join(dir, 'src'), '-cf', file, '.'])
    const read = await readAll(execFileSync('cat', [file]), 1000)
    const byPath = new Map(read.map((r) => [r.path, r]))
    t.equal(byPath.get(long)?.data.toString(), 'long name', `${format}: long name`)
    t.equal(byPath.get('ünïcode.txt')?.data.length, 70_000, `${format}: UTF-8 name and size`)
    t.equal(byPath.get(`${'d'.repeat(120)}/link`)?.type, 'symlink')
    t.equal(byPath.get(`${'d'.repeat(120)}/link`)?.linkTarget, 'src/ünïcode.txt', `${format}: link resolved within the archive`)
    t.equal(byPath.get('d'.repeat(120))?.type, 'directory')
  }
})

t.test('refusals', async (t) => {
  const good = tar([{ name: 'a', type: 'file', data: Buffer.alloc(1000, 1) }])
  t.match(await refusal(good.subarray(0, 700)), /truncated inside a/)
  t.match(await refusal(good.subarray(0, 1536)), /no end-of-archive marker/)
  t.match(await refusal(good.subarray(0, 300)), /truncated inside a header/)
  const damaged = Buffer.from(good)
  damaged[10] = 0x41
  t.match(await refusal(damaged), /checksum/)
  t.match(await refusal(tar([{ name: '../x', type: 'file', data: Buffer.from('x') }])), /path traversal/)
  t.match(await refusal(tar([{ name: 'a/../../x', type: 'file', data: Buffer.from('x') }])), /path traversal/)
  t.match(await refusal(tar([{ name: '/etc/passwd', type: 'file', data: Buffer.from('x') }])), /absolute path/)
  t.match(await refusal(tar([{ name: 'a/l', type: 'symlink', linkname: '../../x' }])), /outside the archive/)
  t.match(await refusal(tar([{ name: 'l', type: 'symlink', linkname: '/etc/passwd' }])), /outside the archive/)
  t.equal(await refusal(tar([{ name: 'a/l', type: 'symlink', linkname: '../b' }])), 'accepted')
})
