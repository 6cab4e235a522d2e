/** A Wharf built in this process through the composition root, listening on a loopback port. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import type { Test } from 'tap'
import { appOptionsFrom, compose, type Overrides, type Wharf } from '../../src/cli/composition.js'
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js'
import { buildApp } from '../../src/http/app.js'
import { RegistryClient } from '../support/index.js'

export interface InProcessWharf {
  readonly wharf: Wharf
  readonly client: RegistryClient
  readonly storage: string
  /** Parsed log lines the server wrote (level debug and up). */
  readonly logs: Array<Record<string, unknown>>
}

/** Composes Wharf with `overrides` (the logger is captured unless overridden) and serves it until `t` ends. */
export async function startComposed(t: Test, options: { config?: (base: Config) => Config; overrides?: Overrides } = {}): Promise<InProcessWharf> {
  const storage = await mkdtemp(path.join(tmpdir(), 'wharf-composed-'))
  const logs: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>) } })
  const base: Config = { ...DEFAULT_CONFIG, storage: { ...DEFAULT_CONFIG.storage, path: storage }, log: { level: 'debug', requests: false } }
  const config = options.config ? options.config(base) : base
  const wharf = await compose(config, { logger: () => logger, ...options.overrides })
  const app = buildApp(wharf.registry, appOptionsFrom(config, wharf.components.logger))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  t.teardown(async () => {
    await app.close()
    await wharf.close()
    await rm(storage, { recursive: true, force: true })
  })
  return { wharf, client: new RegistryClient(`http://127.0.0.1:${port}`), storage, logs }
}
