import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { request } from './http.js'
import { waitFor } from './wait.js'

/**
 * The reference registry (Debian's docker-registry, Go distribution 2.8) on a free loopback port,
 * filesystem storage in a temp directory (or the `storage` given), delete enabled, access log off:
 * what conformance differentials and benchmarks compare Wharf with.
 */
export interface ReferenceRegistry {
  /** http://127.0.0.1:PORT */
  readonly url: string
  /** 127.0.0.1:PORT, as clients name the registry. */
  readonly address: string
  readonly pid: number
  readonly storage: string
  /** Where its output goes. */
  readonly logFile: string
  /** The end of what the server printed (its output goes to a file, not through this process). */
  logs(): string
  alive(): boolean
  /** SIGTERM to its process group, SIGKILL after 10 s; removes its directory unless kept. */
  stop(): Promise<void>
}

/** A port nobody listens on right now (the kernel picks it; the socket is closed again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Sections of the registry's `storage:` that replace `filesystem:` (e.g. `s3: {...}` and
 * `redirect: { disable: true }`); `delete: enabled: true` stays.
 */
export type ReferenceStorage = Readonly<Record<string, Readonly<Record<string, string | number | boolean>>>>

/**
 * The registry's environment: ours without AWS_CA_BUNDLE, with which its S3 driver (aws-sdk-go)
 * panics at start ("unable to load custom CA bundle, HTTPClient's transport unsupported type").
 */
export function referenceEnv(): NodeJS.ProcessEnv {
  const { AWS_CA_BUNDLE: _, ...env } = process.env
  return env
}

/** Starts the registry binary `binary`; retries on another port when the one picked was taken meanwhile. */
export async function startReferenceRegistry(options: { binary: string; keepStorage?: boolean; htpasswd?: string; storage?: ReferenceStorage }): Promise<ReferenceRegistry> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-reference-'))
  const storage = path.join(dir, 'data')
  const logFile = path.join(dir, 'server.log')
  const logs = (): string => { try { return readFileSync(logFile, 'utf8').slice(-200_000) } catch { return '' } }
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const config = path.join(dir, 'config.yml')
    await writeFile(config, [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      ...Object.entries(options.storage ?? { filesystem: { rootdirectory: storage } }).flatMap(([section, parameters]) => [
        `  ${section}:`, ...Object.entries(parameters).map(([key, value]) => `    ${key}: ${JSON.stringify(value)}`),
      ]),
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: wharf-reference',
      // registry:2's htpasswd mode: Basic challenges, every user who logs in may do everything.
      ...(options.htpasswd !== undefined ? ['auth:', '  htpasswd:', '    realm: wharf-reference', `    path: ${options.htpasswd}`] : []),
      '',
    ].join('\n'))
    const fd = openSync(logFile, 'a')
    // Its own process group, so that stopping it by its PID ends anything it started.
    const child = spawn(options.binary, ['serve', config], { detached: true, stdio: ['ignore', fd, fd], env: referenceEnv() })
    closeSync(fd)
    const pid = child.pid
    const spawnError = new Promise<never>((_, reject) => child.once('error', reject))
    spawnError.catch(() => { /* reported by waitFor */ })
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    const alive = (): boolean => child.exitCode === null && child.signalCode === null
    const signalGroup = (signal: NodeJS.Signals): void => {
      if (pid === undefined) return
      try { process.kill(-pid, signal) } catch { /* already gone */ }
    }
    const stop = async (): Promise<void> => {
      if (alive() && pid !== undefined) {
        signalGroup('SIGTERM')
        const timer = setTimeout(() => signalGroup('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
      signalGroup('SIGKILL')
    }
    const url = `http://127.0.0.1:${port}`
    try {
      await Promise.race([spawnError, waitFor(`reference registry on ${url}`, async () => {
        if (!alive()) throw new Error(`exited: ${logs()}`)
        return (await request(url, '/v2/', { timeoutMs: 2000, fresh: true })).status === (options.htpasswd !== undefined ? 401 : 200)
      }, 15_000)])
      return {
        url, address: `127.0.0.1:${port}`, pid: pid!, storage, logFile, logs, alive,
        async stop() {
          await stop()
          if (!options.keepStorage) await rm(dir, { recursive: true, force: true, maxRetries: 3 })
        },
      }
    } catch (error) {
      lastError = error
      await stop()
    }
  }
  await rm(dir, { recursive: true, force: true })
  throw new Error(`could not start the reference registry ${options.binary}: ${String(lastError)}`)
}
