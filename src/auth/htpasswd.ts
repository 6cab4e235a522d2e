import bcrypt from 'bcryptjs'
import { systemClock, type Clock } from '../context/clock.js'
import { editFile, readWithSignature, WatchedFile, type FileLogger } from './auth-files.js'
import type { PasswordFile } from './parts.js'

/**
 * Users from an Apache htpasswd file: `name:hash` lines, `#` comments and blank lines ignored.
 * Only bcrypt hashes (`htpasswd -B`: `$2y$`, and `$2a$`/`$2b$` from other tools) are accepted, as
 * registry:2 accepts only bcrypt; a user with another kind of hash (MD5 apr1, SHA-1, crypt) cannot
 * log in, and the file's problems are logged naming the user and line.
 */

/** Apache's `htpasswd -B` default is 5; 10 is what registry:2's docs and Go's bcrypt use. */
export const DEFAULT_BCRYPT_COST = 10
/** New htpasswd files are readable by their owner only: the hashes can be attacked offline. */
export const NEW_HTPASSWD_MODE = 0o600

/** bcrypt of a random password nobody knows, cost 10: an unknown user costs the same comparison. */
const DUMMY_HASH = '$2b$10$sPF9JeBbFyBzEioBOiqPmu7NHIcQ7UuB0ygWGaMjpPYoCwliaDCFW'
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/

/** Something wrong with one line of the file. */
export interface HtpasswdProblem {
  /** 1-based. */
  readonly line: number
  readonly user?: string
  readonly message: string
}

export interface HtpasswdUser {
  readonly name: string
  readonly line: number
  /** `bcrypt`, or what else the hash is (`MD5 (apr1)`, `SHA-1`, ...): then the user cannot log in. */
  readonly hashKind: string
  readonly accepted: boolean
}

export interface ParsedHtpasswd {
  /** Users who may log in, with their bcrypt hashes; the first line of a name counts (as in Apache). */
  readonly hashes: ReadonlyMap<string, string>
  readonly users: readonly HtpasswdUser[]
  readonly problems: readonly HtpasswdProblem[]
}

/** What kind of hash an htpasswd entry holds (Apache's formats). */
export function hashKindOf(hash: string): string {
  if (BCRYPT.test(hash)) return 'bcrypt'
  if (hash.startsWith('$2')) return 'malformed bcrypt'
  if (hash.startsWith('$apr1$')) return 'MD5 (apr1)'
  if (hash.startsWith('{SHA}')) return 'SHA-1'
  if (hash.startsWith('$1$')) return 'MD5-crypt'
  if (hash.startsWith('$5$')) return 'SHA-256-crypt'
  if (hash.startsWith('$6$')) return 'SHA-512-crypt'
  if (/^[./A-Za-z0-9]{13}$/.test(hash)) return 'crypt (DES)'
  return 'unknown (plain text?)'
}

/** The name of the user on an entry line, or undefined for comments and blank lines. */
function entryName(line: string): string | undefined {
  const trimmed = line.trim()
  if (trimmed === '' || trimmed.startsWith('#')) return undefined
  const colon = trimmed.indexOf(':')
  return colon <= 0 ? undefined : trimmed.slice(0, colon)
}

export function parseHtpasswd(text: string): ParsedHtpasswd {
  const hashes = new Map<string, string>()
  const users: HtpasswdUser[] = []
  const problems: HtpasswdProblem[] = []
  const firstLine = new Map<string, number>()
  text.split('\n').forEach((raw, i) => {
    const line = i + 1
    const trimmed = raw.trim()
    if (trimmed === '' || trimmed.startsWith('#')) return
    const colon = trimmed.indexOf(':')
    if (colon <= 0) { problems.push({ line, message: 'not a "user:hash" line; ignored' }); return }
    const name = trimmed.slice(0, colon)
    // Apache allows a third field (comments after another colon, htdigest-like); the hash ends there.
    const hash = trimmed.slice(colon + 1).split(':')[0]!
    const first = firstLine.get(name)
    if (first !== undefined) {
      problems.push({ line, user: name, message: `user "${name}" appears again (first on line ${first}); this line is ignored` })
      return
    }
    firstLine.set(name, line)
    const hashKind = hashKindOf(hash)
    const accepted = hashKind === 'bcrypt'
    users.push({ name, line, hashKind, accepted })
    if (accepted) hashes.set(name, hash)
    else {
      problems.push({
        line, user: name,
        message: `user "${name}" has a ${hashKind} hash; only bcrypt is accepted (as registry:2), so "${name}" cannot log in: ` +
          `set a new password with "wharf user passwd ${name}" or "htpasswd -B"`,
      })
    }
  })
  return { hashes, users, problems }
}

export interface HtpasswdFileOptions {
  readonly clock?: Clock
  /** Problems in the file are logged when it is read, at start-up and after each change. */
  readonly logger?: FileLogger
  /** The file is looked at (a `stat`) at most this often; default 1000. */
  readonly checkIntervalMs?: number
}

/** The users of an htpasswd file, read again when it changes (checked at most once a second). */
export class HtpasswdFile implements PasswordFile {
  private readonly watched: WatchedFile<ParsedHtpasswd>

  constructor(readonly file: string, private readonly options: HtpasswdFileOptions = {}) {
    this.watched = new WatchedFile(file, (text, error) => this.parsed(text, error), options.clock ?? systemClock, options.checkIntervalMs ?? 1000)
  }

  /**
   * Reads the file for a server's start: throws (a message naming the file) when it cannot be
   * read, logs each line refused.
   */
  static async open(file: string, options: HtpasswdFileOptions = {}): Promise<HtpasswdFile> {
    try {
      const { text } = await readWithSignature(file)
      if (text === undefined) throw new Error('no such file (create it with "wharf user add NAME" or "htpasswd -B -c")')
    } catch (err) {
      throw new Error(`auth.htpasswd: cannot read ${file}: ${(err as Error).message}`)
    }
    const passwords = new HtpasswdFile(file, options)
    await passwords.watched.current()
    return passwords
  }

  async verify(user: string, password: string): Promise<boolean> {
    const hash = (await this.watched.current()).hashes.get(user)
    // An unknown user costs one comparison too, so timing does not tell which names exist.
    const matches = await bcrypt.compare(password, hash ?? DUMMY_HASH)
    return hash !== undefined && matches
  }

  async has(user: string): Promise<boolean> {
    return (await this.watched.current()).hashes.has(user)
  }

  async hashOf(user: string): Promise<string | undefined> {
    return (await this.watched.current()).hashes.get(user)
  }

  /** Everyone in the file, with what is wrong with it. */
  async read(): Promise<ParsedHtpasswd> {
    return this.watched.current()
  }

  private parsed(text: string | undefined, error?: Error): ParsedHtpasswd {
    const logger = this.options.logger
    if (text === undefined) {
      logger?.error({ file: this.file, err: error }, error === undefined
        ? 'the htpasswd file is gone: no user can log in until it is back'
        : 'cannot read the htpasswd file: no user can log in until it can be read')
      return { hashes: new Map(), users: [], problems: [] }
    }
    const result = parseHtpasswd(text)
    for (const problem of result.problems) {
      logger?.error({ file: this.file, line: problem.line, ...(problem.user !== undefined ? { user: problem.user } : {}) }, `htpasswd ${this.file} line ${problem.line}: ${problem.message}`)
    }
    logger?.info({ file: this.file, users: result.hashes.size }, 'read the htpasswd file')
    return result
  }
}

/** Why a user name cannot be in an htpasswd file (and a robot token's name), or undefined. */
export function userNameProblem(name: string): string | undefined {
  if (name === '') return 'a user name cannot be empty'
  if (Buffer.byteLength(name) > 255) return 'a user name is at most 255 bytes'
  if (name.includes(':')) return `user name "${name}" contains ":" (the separator of htpasswd lines and Basic credentials)`
  if (/[\s\p{Cc}]/u.test(name)) return `user name "${name}" contains white space or a control character`
  if (name.startsWith('#')) return `user name "${name}" starts with "#" (a comment in htpasswd)`
  return undefined
}

/** Why a password cannot be set, or undefined. */
export function passwordProblem(password: string): string | undefined {
  if (password === '') return 'the password is empty'
  // bcrypt reads 72 bytes; Go's bcrypt (registry:2) refuses longer ones rather than ignore the rest.
  if (bcrypt.truncates(password)) return 'the password is longer than 72 bytes (bcrypt uses only the first 72)'
  return undefined
}

/** A bcrypt hash of `password` with Apache's `$2y$` prefix (the same algorithm as `$2b$`). */
export async function hashPassword(password: string, cost = DEFAULT_BCRYPT_COST): Promise<string> {
  const hash = await bcrypt.hash(password, await bcrypt.genSalt(cost))
  return `$2y$${hash.slice(4)}`
}

export class HtpasswdEditError extends Error {}

/**
 * Sets `user`'s password in the htpasswd file (created, mode 0600, if missing), keeping every other
 * line as it is. `mode`: 'add' refuses an existing user, 'change' a missing one.
 */
export async function setHtpasswdPassword(file: string, user: string, password: string, options: { readonly mode?: 'add' | 'change' | 'set'; readonly cost?: number } = {}): Promise<'added' | 'changed'> {
  const problem = userNameProblem(user) ?? passwordProblem(password)
  if (problem !== undefined) throw new HtpasswdEditError(problem)
  const mode = options.mode ?? 'set'
  const entry = `${user}:${await hashPassword(password, options.cost)}`
  return editFile(file, NEW_HTPASSWD_MODE, (text) => {
    const lines = text === undefined || text === '' ? [] : text.replace(/\n$/, '').split('\n')
    const at = lines.findIndex((line) => entryName(line) === user)
    if (at === -1 && mode === 'change') throw new HtpasswdEditError(`no user "${user}" in ${file}`)
    if (at !== -1 && mode === 'add') throw new HtpasswdEditError(`user "${user}" already exists in ${file} (change the password with "wharf user passwd ${user}")`)
    const kept = lines.filter((line, i) => i === at || entryName(line) !== user)
    if (at === -1) kept.push(entry)
    else kept[kept.findIndex((line) => entryName(line) === user)] = entry
    return { text: `${kept.join('\n')}\n`, result: at === -1 ? 'added' : 'changed' }
  })
}

/** Removes every line of `user`; false (and nothing written) when there is none. */
export async function removeHtpasswdUser(file: string, user: string): Promise<boolean> {
  return editFile(file, NEW_HTPASSWD_MODE, (text) => {
    const lines = text === undefined ? [] : text.replace(/\n$/, '').split('\n')
    const kept = lines.filter((line) => entryName(line) !== user)
    if (kept.length === lines.length) return { text: undefined, result: false }
    return { text: kept.length === 0 ? '' : `${kept.join('\n')}\n`, result: true }
  })
}

/** The file's users and problems; undefined when the file does not exist. */
export async function readHtpasswd(file: string): Promise<ParsedHtpasswd | undefined> {
  const { text } = await readWithSignature(file)
  return text === undefined ? undefined : parseHtpasswd(text)
}
