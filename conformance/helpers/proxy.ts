// A pull-through cache under test: a Wharf whose `proxy.upstreams` name registries the test
// started (a Wharf or the reference registry), what its store holds after a pull, and the
// client-side configuration that sends docker.io pulls through it (a containerd hosts.toml mirror),
// and a relay that drops an upstream's blob answers halfway (an upstream killed mid-blob).
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import type { Tap } from './env.js'
import { type Proxy, startProxy as startProxyWharf } from '../../test/proxy/proxy-support.js'
import { type Blob, blobPath, digestOf } from '../../test/support/index.js'

/** One entry of `proxy.upstreams` (src/config/operations-config.ts). */
export interface ProxyUpstream {
  readonly prefix: string
  readonly url: string
  readonly mirror?: boolean
  readonly tagTtlSeconds?: number
  readonly username?: string
  readonly password?: string
  /** A CA file (or PEM text) the proxy trusts for an HTTPS upstream. */
  readonly ca?: string
}

/** The proxy under test: test/proxy's Wharf with `proxy.upstreams`, every request logged (see requestsTo). */
export type ProxyRegistry = Proxy

/** A Wharf on a free loopback port proxying `upstreams`, logging every request; stopped, storage removed, at `t`'s teardown. */
export function startProxy(t: Tap, upstreams: readonly ProxyUpstream[]): Promise<ProxyRegistry> {
  return startProxyWharf(t, upstreams.map((u) => ({ ...u })), { config: { log: { level: 'info', requests: true } } })
}

/**
 * What a pull through the proxy left in its own store: `repo` in its catalog with `tag`, and every
 * blob of `blobs` in the blob store on disk, byte for byte. Only local state is read (catalog,
 * tags, files), so these checks never make the proxy fetch anything itself.
 */
export async function assertCached(t: Tap, proxy: ProxyRegistry, repo: string, tag: string, blobs: readonly Blob[]): Promise<void> {
  t.ok((await proxy.client.catalog()).includes(repo), `the proxy's catalog lists ${repo}`)
  t.ok((await proxy.client.tags(repo)).includes(tag), `the proxy's ${repo} has the tag ${tag}`)
  const problems: string[] = []
  for (const blob of blobs) {
    const data = await readFile(blobPath(proxy.wharf.storage, blob.digest)).catch(() => undefined)
    if (data === undefined) problems.push(`${blob.digest} not stored`)
    else if (digestOf(data) !== blob.digest) problems.push(`${blob.digest} stored as ${digestOf(data)}`)
  }
  t.same(problems, [], `the proxy's blob store holds the ${blobs.length} blobs pulled, intact`)
}

/** URLs of the requests the proxy logged (`incoming request`) that contain `fragment`, e.g. `/v2/library/x/manifests/v1?ns=docker.io`. */
export function requestsTo(proxy: ProxyRegistry, fragment: string): string[] {
  const urls: string[] = []
  for (const line of proxy.wharf.logs) {
    try {
      const entry = JSON.parse(line) as { msg?: string; req?: { url?: string } }
      if (entry.msg === 'incoming request' && entry.req?.url?.includes(fragment)) urls.push(entry.req.url)
    } catch { /* not a log line */ }
  }
  return urls
}

/**
 * A containerd hosts directory (`ctr --hosts-dir`, or CRI's `config_path`) whose
 * `<registry>/hosts.toml` sends pulls and resolves to `mirrorUrl` first, then to `server`
 * (by default the registry itself, Docker Hub for docker.io). containerd adds `?ns=<registry>` to
 * every request to the mirror.
 */
export async function containerdMirrorHosts(dir: string, registry: string, mirrorUrl: string, server?: string): Promise<string> {
  const hosts = path.join(dir, 'containerd-hosts')
  server ??= registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`
  await mkdir(path.join(hosts, registry), { recursive: true })
  await writeFile(path.join(hosts, registry, 'hosts.toml'), [
    `server = "${server}"`,
    '',
    `[host."${mirrorUrl}"]`,
    '  capabilities = ["pull", "resolve"]',
    '',
  ].join('\n'))
  return hosts
}

export interface CuttingRelay {
  /** http://127.0.0.1:PORT: give it as the upstream's url. */
  readonly url: string
  /** While true, every blob GET answered 200 sends its headers and half its body, then the connection is dropped. */
  cutBlobs: boolean
  /** Blob GETs cut so far. */
  readonly cuts: number
  /** Blob GETs relayed so far (cut or not), by digest. */
  blobGets(digest: string): number
  stop(): Promise<void>
}

/**
 * An HTTP relay in front of a registry that, while `cutBlobs` is set, behaves like an upstream
 * killed in the middle of a blob: the status and headers (Content-Length included) of the real
 * answer, half the bytes, then a dropped connection. Everything else passes through unchanged.
 */
export async function startCuttingRelay(targetUrl: string): Promise<CuttingRelay> {
  const target = new URL(targetUrl)
  let cuts = 0
  const gets = new Map<string, number>()
  const server = http.createServer((req, res) => {
    const blob = req.method === 'GET' ? /\/blobs\/(sha256:[0-9a-f]{64})/.exec(req.url ?? '')?.[1] : undefined
    if (blob !== undefined) gets.set(blob, (gets.get(blob) ?? 0) + 1)
    const upstream = http.request({
      host: target.hostname, port: target.port, method: req.method, path: req.url,
      headers: { ...req.headers, host: target.host },
    }, (answer) => {
      const length = Number(answer.headers['content-length'] ?? 0)
      const cut = relay.cutBlobs && blob !== undefined && answer.statusCode === 200 && length > 1
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      if (!cut) { answer.pipe(res); return }
      cuts++
      let sent = 0
      answer.on('data', (chunk: Buffer) => {
        const room = Math.floor(length / 2) - sent
        if (room > 0) { res.write(chunk.subarray(0, room)); sent += Math.min(room, chunk.length) }
        if (sent >= Math.floor(length / 2)) { answer.destroy(); res.socket?.destroy() }
      })
    })
    upstream.on('error', () => res.socket?.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as AddressInfo
  const relay: CuttingRelay = {
    url: `http://127.0.0.1:${address.port}`,
    cutBlobs: false,
    get cuts() { return cuts },
    blobGets: (digest) => gets.get(digest) ?? 0,
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
  return relay
}
