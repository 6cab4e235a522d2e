/**
 * The pull-through cache tests' servers: an upstream Wharf (its requests logged, so they can be
 * counted) and a proxy Wharf configured with it as `proxy.upstreams`.
 */
import type { Test } from 'tap'
import { RegistryClient, sleep, startWharf, tempDir, writeConfig, type HttpResponse, type RequestOptions, type WharfProcess } from '../support/index.js'

export const PREFIX = 'cache.test'

/** Generous: the machine may be busy with other suites, and a start that times out leaves its server running. */
export const START_TIMEOUT_MS = 60_000

export interface Upstream {
  readonly wharf: WharfProcess
  readonly client: RegistryClient
  /** Requests the upstream logged with this method whose URL contains `path`. */
  requests(method: string, path: string): number
}

/** A Wharf that logs every request (log.requests), stopped at `t`'s teardown unless `keep`. */
export async function startUpstream(t: Test, options: { port?: number; storage?: string; config?: Record<string, unknown> } = {}): Promise<Upstream> {
  const configFile = await writeConfig(await tempDir('upstream'), { log: { level: 'info', requests: true }, gc: { intervalSeconds: 0 }, ...options.config })
  const wharf = await startWharf({
    extraArgs: ['--config', configFile], timeoutMs: START_TIMEOUT_MS,
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.storage !== undefined ? { storage: options.storage } : {}),
  })
  t.teardown(() => wharf.stop())
  return {
    wharf,
    client: new RegistryClient(wharf.url),
    requests(method, path) {
      return wharf.logs.filter((line) => {
        try {
          const entry = JSON.parse(line) as { msg?: string; req?: { method?: string; url?: string } }
          return entry.msg === 'incoming request' && entry.req?.method === method && (entry.req.url ?? '').includes(path)
        } catch {
          return false
        }
      }).length
    },
  }
}

export interface Proxy {
  readonly wharf: WharfProcess
  readonly client: RegistryClient
  readonly configFile: string
}

/** A Wharf with `upstreams` as its `proxy.upstreams` (prefix cache.test unless given); stopped, storage removed, at teardown. */
export async function startProxy(t: Test, upstreams: ReadonlyArray<Record<string, unknown>>, options: { storage?: string; config?: Record<string, unknown> } = {}): Promise<Proxy> {
  const configFile = await writeConfig(await tempDir('proxy'), {
    gc: { intervalSeconds: 0 },
    ...options.config,
    proxy: { upstreams: upstreams.map((u) => ({ prefix: PREFIX, ...u })) },
  })
  const wharf = await startWharf({ extraArgs: ['--config', configFile], timeoutMs: START_TIMEOUT_MS, ...(options.storage !== undefined ? { storage: options.storage } : {}) })
  t.teardown(() => wharf.stop({ removeStorage: options.storage === undefined }))
  return { wharf, client: new RegistryClient(wharf.url), configFile }
}

/** Waits for the server's log lines to come in (they are read from a pipe). */
export function settleLogs(): Promise<void> {
  return sleep(300)
}
