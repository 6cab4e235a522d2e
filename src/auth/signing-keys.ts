import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { chmod, mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { fsyncDir } from '../storage/directory-sync.js'

/**
 * The keys Wharf signs its tokens with: ES256 (P-256) keys, one PKCS8 PEM file each in
 * `<auth dir>/keys/`. The newest signs, every key present verifies, so rotating is adding a key
 * and retiring is removing old ones. Nodes sharing the directory accept each other's tokens:
 * the directory is listed again at most once a second, and at once (rate-limited) when a token
 * names a key this process has not seen.
 */

export interface SigningKey {
  /** Derived from the public key: the same on every node that reads the file. */
  readonly kid: string
  /** Absent for a PEM file holding only a public key: it verifies, never signs. */
  readonly privateKey: KeyObject | undefined
  readonly publicKey: KeyObject
  /** Milliseconds since the epoch: from the file's name, or its mtime for a file named otherwise. */
  readonly createdAt: number
  readonly file: string
}

/** How often the directory is listed again to notice keys added or removed by others. */
const RELIST_MS = 1000
/** At most this often for a token naming an unknown key (so forged kids cannot make us list the directory per request). */
const UNKNOWN_KID_RELIST_MS = 100
/**
 * A new key signs only once it is this old, so that every node sharing the directory has listed
 * it (they list at least every RELIST_MS) before any token it signed reaches them.
 */
export const KEY_PUBLISH_MS = 1500

const KEY_FILE = /^(\d{8}T\d{9}Z)-([A-Za-z0-9_-]+)\.pem$/

/** A stable id for a public key: base64url of the SHA-256 of its SPKI DER, truncated. */
export function keyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(der).digest('base64url').slice(0, 32)
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '')
}

function parseStamp(text: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(text)!
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7]))
}

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
}

/** Writes `text` to `file` so that a crash leaves either the whole file or none: temp, fsync, rename, fsync of the directory. */
async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temp, 'wx', mode)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await chmod(temp, mode)
    await rename(temp, file)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
  await fsyncDir(path.dirname(file))
}

/** Adds a new signing key to `directory` (created, mode 0700, if missing): it signs from now on (after KEY_PUBLISH_MS). */
export async function addSigningKey(directory: string, now: number = Date.now()): Promise<SigningKey> {
  await mkdir(directory, { recursive: true, mode: 0o700 })
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const kid = keyId(publicKey)
  const file = path.join(directory, `${stamp(now)}-${kid}.pem`)
  await writeAtomically(file, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600)
  return { kid, privateKey, publicKey, createdAt: now, file }
}

/** The keys in `directory`, oldest first; files that are not P-256 keys are reported through `warn` and skipped. */
export async function readSigningKeys(directory: string, warn: (message: string) => void = () => undefined): Promise<SigningKey[]> {
  let names: string[]
  try {
    names = await readdir(directory)
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return []
    throw err
  }
  const keys: SigningKey[] = []
  for (const name of names.filter((n) => n.endsWith('.pem') && !n.startsWith('.')).sort()) {
    const file = path.join(directory, name)
    const key = await readKeyFile(file, name, warn)
    if (key !== undefined) keys.push(key)
  }
  return keys.sort((a, b) => a.createdAt - b.createdAt || a.file.localeCompare(b.file))
}

async function readKeyFile(file: string, name: string, warn: (message: string) => void): Promise<SigningKey | undefined> {
  let pem: string
  try {
    pem = await readFile(file, 'utf8')
  } catch (err) {
    // Removed between the listing and the read (retired by another node): simply gone.
    if ((err as { code?: string }).code === 'ENOENT') return undefined
    throw err
  }
  let privateKey: KeyObject | undefined
  let publicKey: KeyObject
  try {
    if (pem.includes('PRIVATE KEY')) {
      privateKey = createPrivateKey(pem)
      publicKey = createPublicKey(privateKey)
    } else {
      publicKey = createPublicKey(pem)
    }
  } catch (err) {
    warn(`signing key ${file} is not a readable PEM key (${(err as Error).message}); ignored`)
    return undefined
  }
  if (!isP256(publicKey)) {
    warn(`signing key ${file} is not an EC P-256 key (ES256); ignored`)
    return undefined
  }
  const named = KEY_FILE.exec(name)
  const createdAt = named !== null ? parseStamp(named[1]!) : (await stat(file)).mtimeMs
  return { kid: keyId(publicKey), privateKey, publicKey, createdAt, file }
}

/**
 * Removes keys from `directory`: all but the newest `keep`, and (when `olderThanMs` is given) only
 * those created before it. The newest key that can sign is never removed. Returns what was removed.
 */
export async function retireSigningKeys(directory: string, options: { readonly keep?: number; readonly olderThanMs?: number }): Promise<SigningKey[]> {
  const keys = await readSigningKeys(directory)
  const newestSigner = [...keys].reverse().find((k) => k.privateKey !== undefined)
  const keep = Math.max(1, options.keep ?? 1)
  const candidates = keys.slice(0, Math.max(0, keys.length - keep))
    .filter((k) => k !== newestSigner && (options.olderThanMs === undefined || k.createdAt < options.olderThanMs))
  for (const key of candidates) await rm(key.file, { force: true })
  if (candidates.length > 0) await fsyncDir(directory)
  return candidates
}

/** The key set of one process, kept in step with the directory. */
export class SigningKeys {
  private keys: SigningKey[] = []
  private listed: string | undefined
  private listedAt = 0
  private refreshing: Promise<void> | undefined

  private constructor(
    readonly directory: string,
    private readonly warn: (message: string) => void,
    private readonly now: () => number,
  ) {}

  /** Opens the keys in `directory`, generating the first one when there is none (first start). */
  static async open(directory: string, options: { readonly warn?: (message: string) => void; readonly now?: () => number } = {}): Promise<SigningKeys> {
    const keys = new SigningKeys(directory, options.warn ?? (() => undefined), options.now ?? Date.now)
    await keys.reload()
    if (!keys.keys.some((k) => k.privateKey !== undefined)) {
      await addSigningKey(directory, keys.now())
      await keys.reload()
    }
    return keys
  }

  /**
   * The key that signs: the newest one at least KEY_PUBLISH_MS old (the newest of all when none
   * is, as on first start), so other nodes know it before they see its tokens.
   */
  async signing(): Promise<SigningKey & { readonly privateKey: KeyObject }> {
    await this.refresh(RELIST_MS)
    const signers = this.keys.filter((k): k is SigningKey & { privateKey: KeyObject } => k.privateKey !== undefined)
    if (signers.length === 0) throw new Error(`no signing key in ${this.directory}: run "wharf auth rotate-key"`)
    const published = signers.filter((k) => k.createdAt <= this.now() - KEY_PUBLISH_MS)
    return published.at(-1) ?? signers.at(-1)!
  }

  /** The public key with this id, or undefined (after listing the directory again, rate-limited). */
  async verifying(kid: string): Promise<KeyObject | undefined> {
    await this.refresh(RELIST_MS)
    let key = this.keys.find((k) => k.kid === kid)
    if (key === undefined) {
      await this.refresh(UNKNOWN_KID_RELIST_MS)
      key = this.keys.find((k) => k.kid === kid)
    }
    return key?.publicKey
  }

  /** Every key present, oldest first. */
  all(): readonly SigningKey[] {
    return this.keys
  }

  /** Lists the directory when the last listing is older than `maxAgeMs`; reads the keys again when its files changed. */
  private async refresh(maxAgeMs: number): Promise<void> {
    if (this.now() - this.listedAt < maxAgeMs) return
    // One listing at a time: concurrent requests share it.
    this.refreshing ??= this.relist().finally(() => { this.refreshing = undefined })
    await this.refreshing
  }

  private async relist(): Promise<void> {
    this.listedAt = this.now()
    let names: string[]
    try {
      names = await readdir(this.directory)
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err
      names = []
    }
    const listing = names.filter((n) => n.endsWith('.pem') && !n.startsWith('.')).sort().join('\n')
    if (listing !== this.listed) {
      this.keys = await readSigningKeys(this.directory, this.warn)
      this.listed = listing
    }
  }

  private async reload(): Promise<void> {
    this.listed = undefined
    await this.relist()
  }
}
