import { FastClient, type FastResponse } from '../fast-client.js'
import type { Blob, Manifest } from '../../test/support/index.js'
import type { PushPlan } from './seed-content.js'

/**
 * The seeder's few request kinds over FastClient's keep-alive sockets (many small requests cost
 * the seeding process little), each checked for the status the distribution-spec promises.
 */
export class SeedPusher {
  private readonly client: FastClient
  requests = 0
  /** Repositories a blob is known to be in, so that a plan pushes each blob once per repository. */
  private readonly present = new Map<string, Set<string>>()

  constructor(readonly url: string, connections: number) {
    this.client = new FastClient(url, connections, { timeoutMs: 60_000 })
  }

  private async send(method: string, path: string, expected: number, headers?: Record<string, string>, body?: Buffer): Promise<FastResponse> {
    this.requests++
    const res = await this.client.request({ method, path, ...(headers !== undefined ? { headers } : {}), ...(body !== undefined ? { body } : {}) })
    if (res.status !== expected) throw new Error(`${method} ${path}: ${res.status}, expected ${expected}: ${res.body.toString('utf8').slice(0, 300)}`)
    return res
  }

  private mark(repo: string, digest: string): boolean {
    let blobs = this.present.get(repo)
    if (blobs === undefined) { blobs = new Set(); this.present.set(repo, blobs) }
    if (blobs.has(digest)) return false
    blobs.add(digest)
    return true
  }

  /** One POST ?digest= with the whole blob (skipped when this seeder already put it there). */
  async blob(repo: string, blob: Blob): Promise<void> {
    if (!this.mark(repo, blob.digest)) return
    await this.send('POST', `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, 201, { 'content-type': 'application/octet-stream' }, blob.data)
  }

  /** A cross-repository mount: the blob's bytes are not sent again. */
  async mount(repo: string, digest: string, from: string): Promise<void> {
    if (!this.mark(repo, digest)) return
    await this.send('POST', `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${from}`, 201)
  }

  async manifest(repo: string, reference: string, manifest: Manifest): Promise<void> {
    const res = await this.send('PUT', `/v2/${repo}/manifests/${reference}`, 201, { 'content-type': manifest.mediaType }, manifest.body)
    const digest = res.headers['docker-content-digest']
    if (digest !== manifest.digest) throw new Error(`PUT ${repo}:${reference}: Docker-Content-Digest ${digest}, expected ${manifest.digest}`)
  }

  /** A plan's blobs, its child manifests by digest, then the manifest by `reference` (its digest when absent). */
  async plan(repo: string, plan: PushPlan, reference?: string): Promise<void> {
    await Promise.all(plan.blobs.map((blob) => this.blob(repo, blob)))
    await Promise.all(plan.children.map((child) => this.manifest(repo, child.digest, child)))
    await this.manifest(repo, reference ?? plan.manifest.digest, plan.manifest)
  }

  close(): void {
    this.client.close()
  }
}
