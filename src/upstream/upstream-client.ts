import { readFileSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { rootCertificates } from 'node:tls'
import { Agent, interceptors, request, type Dispatcher } from 'undici'
import { RegistryError } from '../errors/registry-error.js'
import type { Digest } from '../oci/digest.js'
import { MediaTypes } from '../oci/media-types.js'
import { basicAuthorization, parseChallenge, TokenCache, tokenFromAnswer, type Challenge, type Credentials } from './upstream-auth.js'

export interface UpstreamOptions {
  /** Base URL, e.g. https://registry-1.docker.io */
  readonly url: string
  readonly credentials?: Credentials
  /** A PEM bundle, or the path of a file holding one, trusted besides the system's CAs. */
  readonly ca?: string
  /** Connecting and waiting for an answer's headers, each at most this long. */
  readonly timeoutMs?: number
  /** A body that sends nothing for this long is given up. */
  readonly bodyTimeoutMs?: number
  /** Manifests larger than this are refused (the registry's own limit). */
  readonly manifestMaxBytes?: number
  readonly now?: () => number
}

/** What a HEAD of a manifest says. */
export interface UpstreamManifestHead {
  /** Docker-Content-Digest; some registries omit it. */
  readonly digest?: Digest
  readonly mediaType: string
  readonly size?: number
}

export interface UpstreamManifest {
  readonly body: Buffer
  readonly mediaType: string
  readonly digest?: Digest
}

export interface UpstreamBlob {
  readonly size?: number
  readonly body: Readable
}

/** Every manifest type Wharf stores, so the upstream never has to down-convert (schema1). */
export const MANIFEST_ACCEPT = [MediaTypes.ociIndex, MediaTypes.ociManifest, MediaTypes.dockerManifestList, MediaTypes.dockerManifest].join(', ')

/**
 * A client for one remote registry, as the pull-through cache needs it: manifests by HEAD and
 * GET, blobs streamed (following redirects to a CDN, without sending it our credentials), the
 * Docker token protocol (Bearer tokens from the challenge's realm, with the configured credentials
 * or anonymously, cached per scope) or Basic auth. Upstream answers become the spec's errors: 404
 * is MANIFEST_UNKNOWN or BLOB_UNKNOWN, a refusal DENIED, anything unreachable or failing UNAVAILABLE.
 */
export class UpstreamClient {
  readonly url: string
  private readonly credentials: Credentials | undefined
  private readonly dispatcher: Dispatcher
  private readonly agent: Agent
  private readonly tokens = new TokenCache()
  private readonly now: () => number
  private readonly manifestMaxBytes: number
  /** The upstream's last challenge: later requests fetch their token before asking, saving a 401. */
  private challenge: Challenge | undefined

  constructor(options: UpstreamOptions) {
    this.url = options.url.replace(/\/+$/, '')
    this.credentials = options.credentials
    this.now = options.now ?? Date.now
    this.manifestMaxBytes = options.manifestMaxBytes ?? 4 * 1024 * 1024
    const timeout = options.timeoutMs ?? 30_000
    const ca = options.ca === undefined ? undefined : options.ca.includes('-----BEGIN') ? options.ca : readFileSync(options.ca, 'utf8')
    this.agent = new Agent({
      connect: { timeout, ...(ca !== undefined ? { ca: [...rootCertificates, ca] } : {}) },
      headersTimeout: timeout,
      bodyTimeout: options.bodyTimeoutMs ?? 60_000,
    })
    // Docker Hub answers blob GETs with a redirect to its CDN; undici drops Authorization on a cross-origin redirect.
    this.dispatcher = this.agent.compose(interceptors.redirect({ maxRedirections: 5 }))
  }

  async headManifest(repo: string, reference: string, signal?: AbortSignal): Promise<UpstreamManifestHead> {
    const res = await this.send('HEAD', `/v2/${repo}/manifests/${reference}`, repo, { accept: MANIFEST_ACCEPT }, signal)
    await res.body.dump()
    this.check(res, 'MANIFEST_UNKNOWN', repo, reference)
    const size = Number(res.headers['content-length'])
    return {
      mediaType: contentType(res) ?? '',
      ...(digestHeader(res) !== undefined ? { digest: digestHeader(res)! } : {}),
      ...(Number.isSafeInteger(size) ? { size } : {}),
    }
  }

  async getManifest(repo: string, reference: string, signal?: AbortSignal): Promise<UpstreamManifest> {
    const res = await this.send('GET', `/v2/${repo}/manifests/${reference}`, repo, { accept: MANIFEST_ACCEPT }, signal)
    if (res.statusCode !== 200) await res.body.dump()
    this.check(res, 'MANIFEST_UNKNOWN', repo, reference)
    const chunks: Buffer[] = []
    let size = 0
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length
        if (size > this.manifestMaxBytes) {
          res.body.destroy()
          throw new RegistryError('UNAVAILABLE', { status: 502, message: `the upstream's manifest is larger than ${this.manifestMaxBytes} bytes`, detail: { upstream: this.url, repository: repo, reference } })
        }
        chunks.push(chunk as Buffer)
      }
    } catch (err) {
      throw unreachable(this.url, err)
    }
    return { body: Buffer.concat(chunks), mediaType: contentType(res) ?? '', ...(digestHeader(res) !== undefined ? { digest: digestHeader(res)! } : {}) }
  }

  async headBlob(repo: string, digest: Digest, signal?: AbortSignal): Promise<{ readonly size?: number }> {
    const res = await this.send('HEAD', `/v2/${repo}/blobs/${digest}`, repo, {}, signal)
    await res.body.dump()
    this.check(res, 'BLOB_UNKNOWN', repo, digest)
    const size = Number(res.headers['content-length'])
    return Number.isSafeInteger(size) ? { size } : {}
  }

  /** The blob's bytes as they arrive; the stream errors if the upstream fails midway. */
  async getBlob(repo: string, digest: Digest, signal?: AbortSignal): Promise<UpstreamBlob> {
    const res = await this.send('GET', `/v2/${repo}/blobs/${digest}`, repo, {}, signal)
    if (res.statusCode !== 200) await res.body.dump()
    this.check(res, 'BLOB_UNKNOWN', repo, digest)
    const size = Number(res.headers['content-length'])
    return { body: res.body, ...(Number.isSafeInteger(size) ? { size } : {}) }
  }

  async close(): Promise<void> {
    await this.agent.close()
  }

  /** One request with the credentials the upstream wants; a 401 is answered once (token fetched, or Basic sent). */
  private async send(method: 'GET' | 'HEAD', path: string, repo: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    const scope = `repository:${repo}:pull`
    let authorization = await this.authorizationFor(scope, signal)
    for (let attempt = 0; ; attempt++) {
      const res = await this.call(method, path, { ...headers, ...(authorization !== undefined ? { authorization } : {}) }, signal)
      if (res.statusCode !== 401 || attempt > 0) return res
      const challenge = parseChallenge(header(res, 'www-authenticate'))
      await res.body.dump()
      if (challenge === undefined) return res
      this.challenge = challenge
      this.tokens.clear(scope)
      authorization = await this.authorizationFor(scope, signal)
      if (authorization === undefined) return this.call(method, path, headers, signal)
    }
  }

  private async call(method: 'GET' | 'HEAD', path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    try {
      return await request(`${this.url}${path}`, { method, headers, dispatcher: this.dispatcher, ...(signal !== undefined ? { signal } : {}) })
    } catch (err) {
      if (signal?.aborted === true) throw err
      throw unreachable(this.url, err)
    }
  }

  /** The Authorization for `scope` under the last challenge: none before any, Basic, or a (cached) Bearer token. */
  private async authorizationFor(scope: string, signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.challenge
    if (challenge === undefined) return undefined
    if (challenge.scheme === 'basic') return this.credentials !== undefined ? basicAuthorization(this.credentials) : undefined
    if (challenge.scheme !== 'bearer' || challenge.params.realm === undefined) return undefined
    const cached = this.tokens.get(scope, this.now())
    if (cached !== undefined) return `Bearer ${cached}`
    const realm = new URL(challenge.params.realm)
    if (challenge.params.service !== undefined) realm.searchParams.set('service', challenge.params.service)
    realm.searchParams.set('scope', scope)
    let res: Dispatcher.ResponseData
    try {
      res = await request(realm, {
        method: 'GET', dispatcher: this.dispatcher, ...(signal !== undefined ? { signal } : {}),
        headers: this.credentials !== undefined ? { authorization: basicAuthorization(this.credentials) } : {},
      })
    } catch (err) {
      if (signal?.aborted === true) throw err
      throw unreachable(realm.origin, err)
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      await res.body.dump()
      throw refused(this.url, `the upstream's token service refused ${this.credentials !== undefined ? 'the configured credentials' : 'an anonymous token'} (${res.statusCode})`)
    }
    if (res.statusCode !== 200) {
      await res.body.dump()
      throw new RegistryError('UNAVAILABLE', { status: 502, message: `the upstream's token service answered ${res.statusCode}`, detail: { upstream: this.url } })
    }
    const answer = tokenFromAnswer(await res.body.json().catch(() => undefined))
    if (answer === undefined) throw new RegistryError('UNAVAILABLE', { status: 502, message: "the upstream's token service answered no token", detail: { upstream: this.url } })
    this.tokens.set(scope, answer.token, answer.expiresIn, this.now())
    return `Bearer ${answer.token}`
  }

  /** Maps an answer that is not 200 to the spec's error. */
  private check(res: Dispatcher.ResponseData, unknown: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN', repo: string, reference: string): void {
    const status = res.statusCode
    if (status === 200) return
    const detail = { upstream: this.url, repository: repo, [unknown === 'BLOB_UNKNOWN' ? 'digest' : 'reference']: reference }
    if (status === 404) throw new RegistryError(unknown, { message: `${unknown === 'BLOB_UNKNOWN' ? 'blob' : 'manifest'} unknown to the upstream registry`, detail })
    if (status === 401 || status === 403) {
      throw refused(this.url, `the upstream registry refused access (${status}) ${this.credentials !== undefined ? 'with the configured credentials' : 'to an anonymous pull: configure credentials for it'}`, detail)
    }
    if (status === 429) throw new RegistryError('TOOMANYREQUESTS', { message: 'the upstream registry is rate limiting pulls', detail })
    throw new RegistryError('UNAVAILABLE', { status: 502, message: `the upstream registry answered ${status}`, detail: { ...detail, status } })
  }
}

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const value = res.headers[name]
  return Array.isArray(value) ? value[0] : value
}

function contentType(res: Dispatcher.ResponseData): string | undefined {
  return header(res, 'content-type')?.split(';')[0]?.trim()
}

function digestHeader(res: Dispatcher.ResponseData): Digest | undefined {
  const value = header(res, 'docker-content-digest')
  return value !== undefined && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(value) ? value as Digest : undefined
}

function refused(upstream: string, message: string, detail: Record<string, unknown> = {}): RegistryError {
  return new RegistryError('DENIED', { message, detail: { upstream, ...detail } })
}

/** The upstream cannot be reached (refused, reset, timed out, a TLS failure): 503, so clients may retry. */
export function unreachable(upstream: string, err: unknown): RegistryError {
  if (err instanceof RegistryError) return err
  const e = err as { code?: string; message?: string }
  return new RegistryError('UNAVAILABLE', {
    message: 'the upstream registry is unreachable',
    detail: { upstream, reason: e.code ?? e.message ?? String(err) },
    cause: err,
  })
}

export { isUpstreamFailure } from './upstream-failure.js'
