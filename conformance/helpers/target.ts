// The registries a scenario runs against: Wharf (spawned from dist/), the reference registry
// (Debian's docker-registry, Go distribution 2.8, started on a free loopback port with delete
// enabled) or an already running registry given by URL.
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { startWharf, WHARF_CLI } from '../../test/support/index.js'
import { toolPath } from './env.js'
import { request } from './http.js'
import { startDaemon, tempDir, waitFor } from './proc.js'

/** What a registry is expected to support; the OCI flows check optional features only when true. */
export interface Capabilities {
  /** GET /v2/<name>/referrers/<digest> (distribution-spec 1.1). */
  readonly referrers: boolean
  /** DELETE /v2/<name>/manifests/<tag>. */
  readonly deleteTags: boolean
  /** tags/list is in lexical order. */
  readonly sortedTags: boolean
  /** tags/list honours n, last and Link. */
  readonly tagPagination: boolean
  /** 416 for an out-of-order PATCH. */
  readonly outOfOrder416: boolean
  /** PUT /v2/<name>/manifests/<digest>?tag=a&tag=b with OCI-Tag response headers. */
  readonly multiTagPut: boolean
  /** GET of an OCI manifest without an Accept header returns it. */
  readonly ociWithoutAccept: boolean
}

export const FULL_SUPPORT: Capabilities = {
  referrers: true, deleteTags: true, sortedTags: true, tagPagination: true, outOfOrder416: true, multiTagPut: true, ociWithoutAccept: true,
}

/** Observed behaviour of Debian's docker-registry 2.8.2 (see conformance/differences.md). */
export const REFERENCE_SUPPORT: Capabilities = {
  referrers: false, deleteTags: false, sortedTags: false, tagPagination: false, outOfOrder416: false, multiTagPut: false, ociWithoutAccept: false,
}

export interface RegistryTarget {
  readonly kind: 'wharf' | 'reference' | 'external'
  /** http://127.0.0.1:PORT */
  readonly url: string
  /** 127.0.0.1:PORT, as clients name the registry. */
  readonly address: string
  readonly capabilities: Capabilities
  /** Server output so far, for failure messages. */
  logs(): string
  stop(): Promise<void>
}

/** A port nobody listens on right now (the kernel picks it; the socket is closed again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export async function startReferenceRegistry(): Promise<RegistryTarget> {
  const binary = toolPath('registry')
  const dir = await tempDir('reference')
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const config = path.join(dir.path, 'config.yml')
    await writeFile(config, [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir.path, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: wharf-conformance',
      '',
    ].join('\n'))
    const daemon = startDaemon('docker-registry', binary, ['serve', config])
    const url = `http://127.0.0.1:${port}`
    try {
      await waitFor(`reference registry on ${url}`, async () => {
        if (daemon.child.exitCode !== null) throw new Error(`exited: ${daemon.output()}`)
        return (await request(`${url}/v2/`, { timeoutMs: 2000 })).status === 200
      }, 15_000)
      return {
        kind: 'reference', url, address: `127.0.0.1:${port}`, capabilities: REFERENCE_SUPPORT,
        logs: () => daemon.output(),
        async stop() { await daemon.stop(); await dir.remove() },
      }
    } catch (error) {
      lastError = error
      await daemon.stop()
    }
  }
  await dir.remove()
  throw new Error(`could not start the reference registry: ${String(lastError)}`)
}

export function wharfBuilt(): boolean {
  return existsSync(WHARF_CLI)
}

export async function startWharfTarget(): Promise<RegistryTarget> {
  if (!wharfBuilt()) throw new Error(`${WHARF_CLI} does not exist: run npm run build`)
  const wharf = await startWharf()
  return {
    kind: 'wharf', url: wharf.url, address: wharf.address, capabilities: FULL_SUPPORT,
    logs: () => wharf.logs.slice(-200).join('\n'),
    stop: () => wharf.stop({ removeStorage: true }),
  }
}

/**
 * The registry the client scenarios run against. WHARF_CONFORMANCE_TARGET selects it:
 * `wharf` (default), `reference`, or a base URL of a registry already running (then
 * WHARF_CONFORMANCE_CAPABILITIES=reference|full says what to expect of it; full by default).
 */
export async function startTarget(): Promise<RegistryTarget> {
  const choice = process.env.WHARF_CONFORMANCE_TARGET ?? 'wharf'
  if (choice === 'wharf') return startWharfTarget()
  if (choice === 'reference') return startReferenceRegistry()
  if (/^https?:\/\//.test(choice)) {
    const url = choice.replace(/\/+$/, '')
    return {
      kind: 'external', url, address: new URL(url).host,
      capabilities: process.env.WHARF_CONFORMANCE_CAPABILITIES === 'reference' ? REFERENCE_SUPPORT : FULL_SUPPORT,
      logs: () => '', stop: async () => {},
    }
  }
  throw new Error(`WHARF_CONFORMANCE_TARGET=${choice}: expected wharf, reference or a URL`)
}

export function targetName(): string {
  return process.env.WHARF_CONFORMANCE_TARGET ?? 'wharf'
}
