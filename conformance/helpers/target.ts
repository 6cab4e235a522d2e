// The registries a scenario runs against: Wharf (spawned from dist/), the reference registry
// (Debian's docker-registry, Go distribution 2.8, started on a free loopback port with delete
// enabled) or an already running registry given by URL.
import { existsSync } from 'node:fs'
import { startReferenceRegistry, startWharf, WHARF_CLI } from '../../test/support/index.js'
import { toolPath } from './env.js'

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

/** Debian's docker-registry (or WHARF_REFERENCE_REGISTRY), delete enabled, on a free loopback port. */
export async function startReferenceTarget(): Promise<RegistryTarget> {
  const reference = await startReferenceRegistry({ binary: toolPath('registry') })
  return {
    kind: 'reference', url: reference.url, address: reference.address, capabilities: REFERENCE_SUPPORT,
    logs: () => reference.logs(),
    stop: () => reference.stop(),
  }
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
  if (choice === 'reference') return startReferenceTarget()
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
