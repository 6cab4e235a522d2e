import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface ExtractedArchive {
  /** Entry names in archive order, as GNU tar lists them. */
  readonly names: readonly string[]
  /** Regular files by name. */
  readonly files: ReadonlyMap<string, Buffer>
}

/** Reads an archive with GNU tar (a real reader, not ours): its entries in order and its files' bytes. */
export async function extractTar(archive: Buffer): Promise<ExtractedArchive> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-untar-'))
  try {
    const file = path.join(dir, 'archive.tar')
    await writeFile(file, archive)
    const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n').filter((line) => line !== '')
    const out = path.join(dir, 'out')
    execFileSync('mkdir', [out])
    execFileSync('tar', ['-xf', file, '-C', out])
    const files = new Map<string, Buffer>()
    for (const name of names) if (!name.endsWith('/')) files.set(name, await readFile(path.join(out, name)))
    return { names, files }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
