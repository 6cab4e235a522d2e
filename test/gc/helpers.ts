import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startWharf, WHARF_CLI, type WharfProcess } from '../helpers/wharf-process.js'

/** A small self-contained registry client for the garbage-collection tests (fetch based). */

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json'
export const ACCEPT_ALL = [OCI_MANIFEST, OCI_INDEX].join(', ')

export function digestOf(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

export interface Blob {
  readonly digest: string
  readonly size: number
  readonly data: Buffer
  readonly mediaType: string
}

export function blob(data: Buffer | string, mediaType = OCI_LAYER): Blob {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data
  return { digest: digestOf(bytes), size: bytes.length, data: bytes, mediaType }
}

export function randomBlob(size: number, mediaType = OCI_LAYER): Blob {
  return blob(randomBytes(size), mediaType)
}

export function configBlob(extra: Record<string, unknown> = {}): Blob {
  return blob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex'), ...extra }), OCI_CONFIG)
}

export interface Manifest {
  readonly digest: string
  readonly size: number
  readonly body: Buffer
  readonly mediaType: string
}

function manifestOf(document: unknown, mediaType: string): Manifest {
  const body = Buffer.from(JSON.stringify(document))
  return { digest: digestOf(body), size: body.length, body, mediaType }
}

const descriptor = (b: { mediaType: string; digest: string; size: number }): { mediaType: string; digest: string; size: number } =>
  ({ mediaType: b.mediaType, digest: b.digest, size: b.size })

export function imageManifest(config: Blob, layers: readonly Blob[], extra: { subject?: Manifest; artifactType?: string } = {}): Manifest {
  return manifestOf({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    ...(extra.artifactType !== undefined ? { artifactType: extra.artifactType } : {}),
    config: descriptor(config), layers: layers.map(descriptor),
    ...(extra.subject !== undefined ? { subject: descriptor(extra.subject) } : {}),
  }, OCI_MANIFEST)
}

export function indexManifest(children: ReadonlyArray<{ manifest: Manifest; arch: string }>): Manifest {
  return manifestOf({
    schemaVersion: 2, mediaType: OCI_INDEX,
    manifests: children.map(({ manifest, arch }) => ({ ...descriptor(manifest), platform: { os: 'linux', architecture: arch } })),
  }, OCI_INDEX)
}

export interface Res {
  readonly status: number
  readonly headers: Headers
  readonly body: Buffer
  /** First error code of an error body, if any. */
  readonly code?: string
}

/** Counts every response by status, so tests can assert on 5xx. */
export class Client {
  readonly base: string
  readonly statuses = new Map<number, number>()
  readonly serverErrors: string[] = []

  constructor(base: string) {
    this.base = base.replace(/\/$/, '')
  }

  async req(method: string, p: string, options: { body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<Res> {
    const res = await fetch(`${this.base}${p}`, {
      method, headers: options.headers ?? {}, ...(options.body !== undefined ? { body: options.body as unknown as BodyInit } : {}),
    })
    const body = Buffer.from(await res.arrayBuffer())
    this.statuses.set(res.status, (this.statuses.get(res.status) ?? 0) + 1)
    if (res.status >= 500) this.serverErrors.push(`${method} ${p} → ${res.status} ${body.toString().slice(0, 300)}`)
    let code: string | undefined
    if (res.status >= 400 && body.length > 0) {
      try { code = (JSON.parse(body.toString()) as { errors?: Array<{ code?: string }> }).errors?.[0]?.code } catch { /* not JSON */ }
    }
    return { status: res.status, headers: res.headers, body, ...(code !== undefined ? { code } : {}) }
  }

  /** Monolithic upload: POST /blobs/uploads/?digest= with the bytes. */
  async pushBlob(repo: string, b: Blob): Promise<Res> {
    return this.req('POST', `/v2/${repo}/blobs/uploads/?digest=${b.digest}`, {
      body: b.data, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(b.size) },
    })
  }

  async headBlob(repo: string, digest: string): Promise<Res> {
    return this.req('HEAD', `/v2/${repo}/blobs/${digest}`)
  }

  async getBlob(repo: string, digest: string): Promise<Res> {
    return this.req('GET', `/v2/${repo}/blobs/${digest}`)
  }

  async deleteBlob(repo: string, digest: string): Promise<Res> {
    return this.req('DELETE', `/v2/${repo}/blobs/${digest}`)
  }

  async mount(repo: string, digest: string, from: string): Promise<Res> {
    return this.req('POST', `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${from}`)
  }

  async putManifest(repo: string, reference: string, m: Manifest): Promise<Res> {
    return this.req('PUT', `/v2/${repo}/manifests/${reference}`, { body: m.body, headers: { 'Content-Type': m.mediaType } })
  }

  async getManifest(repo: string, reference: string): Promise<Res> {
    return this.req('GET', `/v2/${repo}/manifests/${reference}`, { headers: { Accept: ACCEPT_ALL } })
  }

  async deleteManifest(repo: string, reference: string): Promise<Res> {
    return this.req('DELETE', `/v2/${repo}/manifests/${reference}`)
  }

  async tags(repo: string): Promise<string[]> {
    const res = await this.req('GET', `/v2/${repo}/tags/list?n=10000`)
    if (res.status === 404) return []
    if (res.status !== 200) throw new Error(`tags/list ${repo}: ${res.status} ${res.body.toString()}`)
    return (JSON.parse(res.body.toString()) as { tags: string[] | null }).tags ?? []
  }

  async catalog(): Promise<string[]> {
    const res = await this.req('GET', '/v2/_catalog?n=10000')
    if (res.status !== 200) throw new Error(`catalog: ${res.status}`)
    return (JSON.parse(res.body.toString()) as { repositories: string[] }).repositories
  }

  async referrers(repo: string, digest: string): Promise<string[]> {
    const res = await this.req('GET', `/v2/${repo}/referrers/${digest}`)
    if (res.status !== 200) throw new Error(`referrers: ${res.status}`)
    return (JSON.parse(res.body.toString()) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest)
  }

  async gcRaw(dryRun = false): Promise<Res> {
    return this.req('POST', `/_wharf/v1/gc${dryRun ? '?dryRun=true' : ''}`)
  }

  async gc(dryRun = false): Promise<GcReport> {
    const res = await this.gcRaw(dryRun)
    if (res.status !== 200) throw new Error(`gc: ${res.status} ${res.body.toString()}`)
    return JSON.parse(res.body.toString()) as GcReport
  }

  async du(tags = false): Promise<DiskUsage> {
    const res = await this.req('GET', `/_wharf/v1/du${tags ? '?tags=true' : ''}`)
    if (res.status !== 200) throw new Error(`du: ${res.status} ${res.body.toString()}`)
    return JSON.parse(res.body.toString()) as DiskUsage
  }

  /** Pushes config and layers (monolithic) then the manifest; throws on any failure. */
  async pushImage(repo: string, reference: string, config: Blob, layers: readonly Blob[]): Promise<Manifest> {
    for (const b of [config, ...layers]) {
      const res = await this.pushBlob(repo, b)
      if (res.status !== 201) throw new Error(`push blob ${b.digest} to ${repo}: ${res.status} ${res.body.toString()}`)
    }
    const m = imageManifest(config, layers)
    await this.mustPutManifest(repo, reference, m)
    return m
  }

  async mustPutManifest(repo: string, reference: string, m: Manifest): Promise<void> {
    const res = await this.putManifest(repo, reference, m)
    if (res.status !== 201) throw new Error(`put manifest ${repo}:${reference}: ${res.status} ${res.body.toString()}`)
  }

  /** GET the blob and check its bytes hash to the digest. */
  async blobIntact(repo: string, digest: string): Promise<boolean> {
    const res = await this.getBlob(repo, digest)
    return res.status === 200 && digestOf(res.body) === digest
  }
}

export interface GcReport {
  dryRun: boolean
  startedAt: string
  durationMs: number
  tagsRemoved: Array<{ repo: string; tag: string; digest: string }>
  manifestsRemoved: Array<{ repo: string; digest: string }>
  repositoriesRemoved: string[]
  linksRemoved: number
  blobsRemoved: Array<{ digest: string; size: number }>
  bytesFreed: number
  uploadsPurged: number
  orphanFilesRemoved: Array<{ digest: string; size: number }>
}

export interface DiskUsage {
  blobs: { count: number; bytes: number }
  manifests: { count: number; bytes: number }
  sharedBytes: number
  repositories: Array<{ name: string; logicalBytes: number; exclusiveBytes: number; tags?: Array<{ tag: string; digest: string; bytes: number }> }>
  reclaimableBytes: number | null
}

/** The parts of a report that describe what was (or would be) removed. */
/** What a report says was (or would be) removed: everything but the timings and the dry-run flag. */
export function removalsOf(r: GcReport): Omit<GcReport, 'dryRun' | 'startedAt' | 'durationMs'> {
  const { dryRun: _d, startedAt: _s, durationMs: _m, ...rest } = r
  delete (rest as { phases?: unknown }).phases
  return rest
}

export interface GcConfig {
  graceSeconds?: number
  uploadTtlSeconds?: number
  retention?: ReadonlyArray<Record<string, unknown>>
  logLevel?: string
}

/** Writes a config file (JSON is YAML) and returns its path. */
export async function writeConfig(options: GcConfig = {}): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-gc-config-'))
  const file = path.join(dir, 'config.yaml')
  const config: Record<string, unknown> = {
    gc: { intervalSeconds: 0, ...(options.graceSeconds !== undefined ? { graceSeconds: options.graceSeconds } : {}) },
    log: { level: options.logLevel ?? 'info' },
    ...(options.uploadTtlSeconds !== undefined ? { uploads: { ttlSeconds: options.uploadTtlSeconds } } : {}),
    ...(options.retention !== undefined ? { retention: options.retention } : {}),
  }
  await writeFile(file, JSON.stringify(config, null, 2))
  return file
}

export interface GcServer {
  readonly wharf: WharfProcess
  readonly client: Client
  readonly configFile: string
  readonly storage: string
  stop(removeStorage?: boolean): Promise<void>
}

export async function startGcServer(options: GcConfig & { storage?: string } = {}): Promise<GcServer> {
  const configFile = await writeConfig(options)
  const wharf = await startWharf({ extraArgs: ['--config', configFile], ...(options.storage !== undefined ? { storage: options.storage } : {}) })
  return {
    wharf, configFile, storage: wharf.storage, client: new Client(wharf.url),
    stop: (removeStorage = false) => wharf.stop({ removeStorage }),
  }
}

export function blobFile(storage: string, digest: string): string {
  const hex = digest.slice('sha256:'.length)
  return path.join(storage, 'blobs', 'sha256', hex.slice(0, 2), hex)
}

export async function fileExists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false)
}

/** Digests of every blob file on disk, sorted. */
export async function blobFilesOnDisk(storage: string): Promise<string[]> {
  const root = path.join(storage, 'blobs', 'sha256')
  const out: string[] = []
  for (const prefix of await readdir(root).catch(() => [] as string[])) {
    for (const name of await readdir(path.join(root, prefix)).catch(() => [] as string[])) out.push(`sha256:${name}`)
  }
  return out.sort()
}

/** Writes a blob file directly, as a crash between file and record would leave it. */
export async function writeOrphanFile(storage: string, data: Buffer): Promise<string> {
  const digest = digestOf(data)
  const file = blobFile(storage, digest)
  await mkdir(path.dirname(file), { recursive: true })
  await writeFile(file, data)
  return digest
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

export interface CliResult { readonly code: number | null; readonly stdout: string; readonly stderr: string }

/** Runs the compiled `wharf` CLI. */
export async function runCli(args: readonly string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [WHARF_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)))
  return { code, stdout, stderr }
}
