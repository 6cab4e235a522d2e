import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { waitFor } from './wait.js'

/** Debian's PostgreSQL 15 (package postgresql-15), not on PATH. */
export const POSTGRES_BIN = process.env.WHARF_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin'

/** initdb and postgres refuse to run as root: as root they run as this user (setpriv keeps the PID). */
const SERVICE_USER = 'postgres'

const asRoot = process.getuid?.() === 0

/**
 * Why PostgreSQL tests cannot run here, or undefined when they can. Under CI=true a missing
 * PostgreSQL is a failure of the tests that need it (skipping is for a developer's machine).
 */
export function postgresMissing(): string | undefined {
  for (const tool of ['initdb', 'postgres']) {
    if (!existsSync(path.join(POSTGRES_BIN, tool))) return `${path.join(POSTGRES_BIN, tool)} is not installed (apt-get install postgresql-15)`
  }
  if (asRoot && !existsSync('/usr/bin/setpriv')) return 'setpriv (util-linux) is needed to run PostgreSQL as its own user'
  if (asRoot && !readFileSync('/etc/passwd', 'utf8').split('\n').some((entry) => entry.startsWith(`${SERVICE_USER}:`))) {
    return `no ${SERVICE_USER} user to run PostgreSQL as (the postgresql-15 package creates it)`
  }
  return undefined
}

/**
 * Whether the tests of a file that need PostgreSQL can run: when it is missing, the file is
 * skipped with the reason, or failed under CI=true.
 */
export function postgresAvailable(t: Test): boolean {
  const missing = postgresMissing()
  if (missing === undefined) return true
  if (process.env.CI === 'true') t.fail(`PostgreSQL tests cannot run: ${missing}`)
  else t.plan(0, `skipped: ${missing}`)
  return false
}

export interface PostgresServer {
  readonly host: string
  readonly port: number
  /** A fresh, empty database (or a copy of `template`); its URL, for the `postgres` user (trusted: any password works). */
  createDatabase(options?: { readonly template?: string; readonly password?: string }): Promise<{ readonly name: string; readonly url: string }>
  /** Runs one statement as the superuser in database `database` (default `postgres`). */
  query<R extends object = Record<string, unknown>>(sql: string, values?: unknown[], database?: string): Promise<R[]>
  /**
   * Stops the server (SIGINT: fast shutdown, connections dropped), runs `whileDown`, and starts it
   * again on the same data and port.
   */
  restart(options?: { readonly whileDown?: () => Promise<void> }): Promise<void>
}

/** A loopback TCP port below 32768 that nothing listens on now. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 22_000)
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
    if (free) return port
  }
}

/** Runs a PostgreSQL binary as its service user (when we are root), in the foreground, as our child. */
function spawnAsService(binary: string, args: string[]): ChildProcess {
  const file = path.join(POSTGRES_BIN, binary)
  const [command, argv] = asRoot
    ? ['/usr/bin/setpriv', ['--reuid', SERVICE_USER, '--regid', SERVICE_USER, '--init-groups', file, ...args]]
    : [file, args]
  return spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
}

async function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

/**
 * Starts a PostgreSQL 15 of its own for one test file: initdb in a temp directory (trust, C
 * locale, no fsync), listening on 127.0.0.1 on a free port and a socket in that directory. It is
 * stopped by PID on teardown (SIGINT, then its exit awaited) and the directory removed.
 */
export async function startPostgres(t: Test): Promise<PostgresServer> {
  const server = await launchPostgres()
  t.teardown(() => server.stop())
  return server
}

/**
 * startPostgres without a tap test, for the benchmarks: the caller stops it (by PID, its exit
 * awaited, the directory removed). A start that fails cleans up before it rejects.
 */
export async function launchPostgres(): Promise<PostgresServer & { stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-pg-'))
  let server: ChildProcess | undefined
  const stopServer = async (): Promise<void> => {
    const child = server
    server = undefined
    if (child === undefined) return
    const done = exited(child)
    child.kill('SIGINT')
    await done
  }
  const stop = async (): Promise<void> => {
    await stopServer()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    return { ...await startIn(dir, (child) => { server = child }, stopServer), stop }
  } catch (error) {
    await stop()
    throw error
  }
}

async function startIn(dir: string, started: (child: ChildProcess) => void, stop: () => Promise<void>): Promise<PostgresServer> {
  const data = path.join(dir, 'data')
  let output = ''
  if (asRoot) {
    const { uid, gid } = await serviceIds()
    await chown(dir, uid, gid)
  }
  const init = spawnAsService('initdb', ['--no-sync', '-A', 'trust', '-U', 'postgres', '--locale=C', '-E', 'UTF8', '-D', data])
  let initOutput = ''
  init.stdout!.on('data', (chunk: Buffer) => { initOutput += chunk.toString() })
  init.stderr!.on('data', (chunk: Buffer) => { initOutput += chunk.toString() })
  if (await exited(init) !== 0) throw new Error(`initdb failed: ${initOutput}`)

  const port = await freePort()
  const host = '127.0.0.1'
  const start = async (): Promise<void> => {
    output = ''
    const child = spawnAsService('postgres', ['-D', data, '-p', String(port), '-k', dir, '-c', `listen_addresses=${host}`,
      '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'])
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
    started(child)
    const died = exited(child).then((code) => { throw new Error(`postgres exited (${code}) before accepting connections: ${output}`) })
    died.catch(() => undefined)
    await Promise.race([died, waitFor('postgres to accept connections', () => query('SELECT 1').then(() => true), 10_000)])
  }
  const query = async <R extends object>(sql: string, values?: unknown[], database = 'postgres'): Promise<R[]> => {
    const client = new pg.Client({ host, port, user: 'postgres', database })
    client.on('error', () => undefined)
    await client.connect()
    try {
      return (await client.query<R>(sql, values)).rows
    } finally {
      await client.end()
    }
  }
  await start()

  let databases = 0
  return {
    host,
    port,
    async createDatabase(options = {}) {
      const name = `wharf_${process.pid}_${++databases}`
      await query(`CREATE DATABASE ${name}${options.template !== undefined ? ` TEMPLATE ${options.template}` : ''}`)
      const credentials = options.password !== undefined ? `postgres:${encodeURIComponent(options.password)}` : 'postgres'
      return { name, url: `postgres://${credentials}@${host}:${port}/${name}` }
    },
    query,
    async restart(options = {}) {
      await stop()
      try {
        await options.whileDown?.()
      } finally {
        await start()
      }
    },
  }
}

async function serviceIds(): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((entry) => entry.startsWith(`${SERVICE_USER}:`))
  const fields = line?.split(':')
  if (fields === undefined || fields.length < 4) throw new Error(`no ${SERVICE_USER} user in /etc/passwd`)
  return { uid: Number(fields[2]), gid: Number(fields[3]) }
}
