import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { digestOf } from './content.js'
import { request } from './http.js'

/** What tests look at beside the API: the storage directory on disk and the server process in /proc. */

export async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false)
}

/** Where the blob store keeps a blob's file. */
export function blobPath(storage: string, digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string]
  return path.join(storage, 'blobs', alg, hex.slice(0, 2), hex)
}

/** Digests of every sha256 blob file on disk, sorted. */
export async function blobFilesOnDisk(storage: string): Promise<string[]> {
  const root = path.join(storage, 'blobs', 'sha256')
  const out: string[] = []
  for (const prefix of await readdir(root).catch(() => [] as string[])) {
    for (const name of await readdir(path.join(root, prefix)).catch(() => [] as string[])) out.push(`sha256:${name}`)
  }
  return out.sort()
}

/** Writes a blob file directly, as a crash between file and record would leave it; resolves with its digest. */
export async function writeOrphanFile(storage: string, data: Buffer): Promise<string> {
  const digest = digestOf(data)
  const file = blobPath(storage, digest)
  await mkdir(path.dirname(file), { recursive: true })
  await writeFile(file, data)
  return digest
}

/** Every file under `dir`, as paths relative to it, sorted ([] when the directory is missing). */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (rel: string): Promise<void> => {
    let entries
    try {
      entries = await readdir(path.join(dir, rel), { withFileTypes: true })
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return
      throw err
    }
    for (const entry of entries) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) await walk(child)
      else out.push(child)
    }
  }
  await walk('')
  return out.sort()
}

export interface StoreSnapshot {
  readonly catalog: string[]
  readonly tags: Record<string, string[] | number>
  readonly blobFiles: string[]
  readonly uploadFiles: number
}

/** What a client and the disk see of a store: catalog, tags of `repos` (or the status), blob files, upload files. */
export async function snapshot(base: string, storage: string, repos: readonly string[]): Promise<StoreSnapshot> {
  const catalog = (await request(base, '/v2/_catalog')).json<{ repositories: string[] }>().repositories
  const tags: Record<string, string[] | number> = {}
  for (const repo of repos) {
    const res = await request(base, `/v2/${repo}/tags/list`)
    tags[repo] = res.status === 200 ? res.json<{ tags: string[] }>().tags : res.status
  }
  const blobFiles = await listFiles(path.join(storage, 'blobs'))
  const uploadFiles = (await readdir(path.join(storage, 'uploads'))).length
  return { catalog, tags, blobFiles, uploadFiles }
}

/** VmRSS and VmHWM (peak RSS) of a process in bytes, from /proc. */
export async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)
    if (match === null) throw new Error(`no ${name} in /proc/${pid}/status`)
    return Number(match[1]) * 1024
  }
  return { rss: field('VmRSS'), hwm: field('VmHWM') }
}

/** Number of open file descriptors of a process. */
export async function openFdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length
}
