import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import path from 'node:path'
import { formatScope, parseScope, type Grant } from '../access/scope.js'
import { systemClock, type Clock } from '../context/clock.js'
import { editFile, readWithSignature, WatchedFile, type FileLogger } from './auth-files.js'
import type { Robot, RobotTokenStore } from './parts.js'

/**
 * Robot tokens for CI and other machines: a name, scopes and a secret shown once. The file keeps
 * only the secret's SHA-256 (the secret is 32 random bytes, so a fast hash is enough: there is
 * nothing to guess), so a copy of the file logs nobody in.
 *
 * robots.json: {"version":1,"robots":[{"name","scopes":["repository:team/*:pull,push"],
 * "createdAt":"<ISO>","expiresAt":"<ISO>"|null,"sha256":"<hex>"}]}
 */

export const ROBOTS_FILE = 'robots.json'
export const SECRET_PREFIX = 'wharf_'
const NEW_FILE_MODE = 0o600
const ROBOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const REPOSITORY_GLOB = /^[a-z0-9._\-/*?]+$/
const REPOSITORY_ACTIONS = ['pull', 'push', 'delete', '*']

interface StoredRobot {
  readonly name: string
  readonly scopes: readonly string[]
  readonly createdAt: string
  readonly expiresAt: string | null
  readonly sha256: string
}

interface RobotEntry {
  readonly robot: Robot
  readonly hash: Buffer
}

/** A robot as `wharf token list` shows it: never its secret or hash. */
export interface RobotListing extends Robot {
  readonly expired: boolean
}

export class RobotTokenError extends Error {}

/** Why `name` cannot name a robot, or undefined. */
export function robotNameProblem(name: string): string | undefined {
  return ROBOT_NAME.test(name) ? undefined : `robot name "${name}" must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`
}

/**
 * A robot's scope: `repository:<glob>:<actions>` (pull, push, delete or *; the glob as in
 * `retention`, `team/*`, `public/**`), `registry:catalog:*` or `registry:admin:*`.
 */
export function parseRobotScope(text: string): Grant {
  const grant = parseScope(text.trim())
  const bad = (why: string): never => { throw new RobotTokenError(`scope "${text}": ${why}`) }
  if (grant === undefined) return bad('not TYPE:NAME:ACTIONS (repository:team/*:pull,push)')
  if (grant.actions.length === 0) bad('no actions')
  if (grant.type === 'repository') {
    if (!REPOSITORY_GLOB.test(grant.name)) bad(`"${grant.name}" is not a repository name or glob (lower case letters, digits, . _ - /, * and ?)`)
    for (const action of grant.actions) if (!REPOSITORY_ACTIONS.includes(action)) bad(`"${action}" is not one of ${REPOSITORY_ACTIONS.join(', ')}`)
  } else if (grant.type === 'registry') {
    if (grant.name !== 'catalog' && grant.name !== 'admin') bad('the registry resources are catalog and admin')
    if (grant.actions.some((a) => a !== '*')) bad(`registry:${grant.name} takes the action *`)
  } else {
    bad(`type "${grant.type}" is not repository or registry`)
  }
  return { type: grant.type, name: grant.name, actions: [...new Set(grant.actions)] }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

function isoTime(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined
  const time = Date.parse(value)
  return Number.isNaN(time) ? undefined : time
}

/** The robots of a robots.json text; throws RobotTokenError naming what is wrong. */
function parseRobots(text: string): Map<string, RobotEntry> {
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (err) {
    throw new RobotTokenError(`not JSON: ${(err as Error).message}`)
  }
  const list = (document as { robots?: unknown } | null)?.robots
  if (!Array.isArray(list)) throw new RobotTokenError('no "robots" list')
  const robots = new Map<string, RobotEntry>()
  list.forEach((value: unknown, i) => {
    const stored = value as Partial<StoredRobot> | null
    const where = `robots[${i}]`
    if (typeof stored?.name !== 'string' || robotNameProblem(stored.name) !== undefined) throw new RobotTokenError(`${where}: bad name`)
    if (robots.has(stored.name)) throw new RobotTokenError(`${where}: "${stored.name}" appears twice`)
    if (typeof stored.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(stored.sha256)) throw new RobotTokenError(`${where} (${stored.name}): bad sha256`)
    const createdAt = isoTime(stored.createdAt)
    const expiresAt = stored.expiresAt === null ? null : isoTime(stored.expiresAt)
    if (createdAt === undefined || expiresAt === undefined) throw new RobotTokenError(`${where} (${stored.name}): bad createdAt or expiresAt`)
    if (!Array.isArray(stored.scopes)) throw new RobotTokenError(`${where} (${stored.name}): bad scopes`)
    const scopes = stored.scopes.map((scope: unknown) => parseRobotScope(String(scope)))
    robots.set(stored.name, { robot: { name: stored.name, scopes, createdAt, expiresAt }, hash: Buffer.from(stored.sha256, 'hex') })
  })
  return robots
}

function serialise(robots: ReadonlyMap<string, RobotEntry>): string {
  const list: StoredRobot[] = [...robots.values()].map(({ robot, hash }) => ({
    name: robot.name,
    scopes: robot.scopes.map(formatScope),
    createdAt: new Date(robot.createdAt).toISOString(),
    expiresAt: robot.expiresAt === null ? null : new Date(robot.expiresAt).toISOString(),
    sha256: hash.toString('hex'),
  }))
  return `${JSON.stringify({ version: 1, robots: list }, null, 2)}\n`
}

export interface RobotTokenFileOptions {
  readonly clock?: Clock
  /** A robots.json that cannot be read or parsed is logged; until it is fixed no robot logs in. */
  readonly logger?: FileLogger
  /** The file is looked at (a `stat`) at most this often; default 1000. */
  readonly checkIntervalMs?: number
}

/** Robot tokens in `<auth dir>/robots.json`, read again when it changes (a revocation by the CLI counts within a second). */
export class RobotTokenFile implements RobotTokenStore {
  private readonly watched: WatchedFile<ReadonlyMap<string, RobotEntry>>
  private readonly clock: Clock
  /** Compared with when the name is unknown, so an unknown name costs the same as a wrong secret. */
  private readonly dummyHash = randomBytes(32)

  constructor(readonly file: string, private readonly options: RobotTokenFileOptions = {}) {
    this.clock = options.clock ?? systemClock
    this.watched = new WatchedFile(file, (text, error) => this.parsed(text, error), this.clock, options.checkIntervalMs ?? 1000)
  }

  /** The robots of an auth directory (`auth.directory`, by default `<storage>/auth`). */
  static inDirectory(authDirectory: string, options: RobotTokenFileOptions = {}): RobotTokenFile {
    return new RobotTokenFile(path.join(authDirectory, ROBOTS_FILE), options)
  }

  async verify(name: string, secret: string): Promise<Robot | undefined> {
    const entry = (await this.watched.current()).get(name)
    const same = timingSafeEqual(sha256(secret), entry?.hash ?? this.dummyHash)
    return same && entry !== undefined && this.current(entry.robot) ? entry.robot : undefined
  }

  async get(name: string): Promise<Robot | undefined> {
    const entry = (await this.watched.current()).get(name)
    return entry !== undefined && this.current(entry.robot) ? entry.robot : undefined
  }

  /**
   * A new robot; the secret (`wharf_` and 43 base64url characters) is returned this once and
   * only its hash is kept. Refused when the name is taken (revoke it first) or a scope is malformed.
   */
  async create(name: string, scopes: readonly string[], expiresAt: number | null): Promise<{ robot: Robot; secret: string }> {
    const nameProblem = robotNameProblem(name)
    if (nameProblem !== undefined) throw new RobotTokenError(nameProblem)
    if (scopes.length === 0) throw new RobotTokenError('a robot needs at least one scope (repository:team/*:pull,push)')
    const grants = scopes.map(parseRobotScope)
    const now = this.clock.now()
    if (expiresAt !== null && expiresAt <= now) throw new RobotTokenError('the expiry is not in the future')
    const secret = `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`
    const robot: Robot = { name, scopes: grants, createdAt: now, expiresAt }
    await this.edit((robots) => {
      if (robots.has(name)) throw new RobotTokenError(`a robot named "${name}" exists (revoke it first: wharf token revoke ${name})`)
      robots.set(name, { robot, hash: sha256(secret) })
      return true
    })
    return { robot, secret }
  }

  /** Every robot, expired ones too (marked), by name. */
  async list(): Promise<RobotListing[]> {
    const { text } = await readWithSignature(this.file)
    const robots = text === undefined ? new Map<string, RobotEntry>() : this.strictParse(text)
    return [...robots.values()]
      .map(({ robot }) => ({ ...robot, expired: !this.current(robot) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  /** Removes the robot: its secret stops working (in a running server within a second). False when unknown. */
  async revoke(name: string): Promise<boolean> {
    return this.edit((robots) => robots.delete(name))
  }

  private current(robot: Robot): boolean {
    return robot.expiresAt === null || robot.expiresAt > this.clock.now()
  }

  private strictParse(text: string): Map<string, RobotEntry> {
    try {
      return parseRobots(text)
    } catch (err) {
      throw new RobotTokenError(`${this.file} is damaged (${(err as Error).message}); fix or remove it`)
    }
  }

  /** Read, change (`change` says whether it changed anything), write atomically. */
  private async edit(change: (robots: Map<string, RobotEntry>) => boolean): Promise<boolean> {
    const changed = await editFile(this.file, NEW_FILE_MODE, (text) => {
      const robots = text === undefined ? new Map<string, RobotEntry>() : this.strictParse(text)
      return change(robots) ? { text: serialise(robots), result: true } : { text: undefined, result: false }
    })
    if (changed) await this.watched.reload()
    return changed
  }

  private parsed(text: string | undefined, error?: Error): ReadonlyMap<string, RobotEntry> {
    if (error !== undefined) {
      this.options.logger?.error({ file: this.file, err: error }, 'cannot read the robot tokens file: no robot can log in until it can be read')
      return new Map()
    }
    if (text === undefined) return new Map()
    try {
      return parseRobots(text)
    } catch (err) {
      this.options.logger?.error({ file: this.file, err }, `the robot tokens file ${this.file} is damaged: no robot can log in until it is fixed`)
      return new Map()
    }
  }
}
