import path from 'node:path'
import { authDirectoryOf } from '../config/auth-config.js'
import { ConfigError, type Config } from '../config/config.js'
import { addSigningKey, readSigningKeys, retireSigningKeys } from '../auth/signing-keys.js'
import { stringOption, type ParsedArgs } from './args.js'
import { parseDurationSeconds } from './gc.js'
import { configFromArgs } from './serve.js'

/** The token signing keys: `<auth dir>/keys/`. */
export function keysDirectory(config: Config): string {
  return path.join(authDirectoryOf(config), 'keys')
}

/**
 * `wharf auth rotate-key | retire-key | keys`: the keys Wharf signs tokens with. Safe while servers
 * run: they read the directory again within a second, sign with a new key once it is about two
 * seconds old, and refuse tokens of a removed key.
 */
export async function auth(args: ParsedArgs): Promise<number> {
  const [action, ...extra] = args.positional
  if (extra.length > 0) throw new ConfigError(`unexpected argument "${extra[0]}"`)
  if (action === 'rotate-key') {
    const config = await configFromArgs(args)
    const key = await addSigningKey(keysDirectory(config))
    process.stdout.write(`${key.kid}\n`)
    return 0
  }
  if (action === 'retire-key') {
    const config = await configFromArgs(args, ['keep', 'older-than'])
    const keepText = stringOption(args, 'keep')
    const olderText = stringOption(args, 'older-than')
    if (keepText === undefined && olderText === undefined) throw new ConfigError('retire-key needs --keep N or --older-than DURATION')
    const keep = keepText === undefined ? 1 : Number(keepText)
    if (!Number.isSafeInteger(keep) || keep < 1) throw new ConfigError(`--keep: "${keepText}" is not a positive integer (the newest key is always kept)`)
    let olderThanMs: number | undefined
    if (olderText !== undefined) {
      try {
        olderThanMs = Date.now() - parseDurationSeconds(olderText) * 1000
      } catch {
        throw new ConfigError(`--older-than: "${olderText}" is not a duration (seconds, or a number with s, m, h or d: 30s, 10m, 1h, 90d)`)
      }
    }
    const removed = await retireSigningKeys(keysDirectory(config), { keep, ...(olderThanMs !== undefined ? { olderThanMs } : {}) })
    for (const key of removed) process.stdout.write(`${key.kid}\n`)
    process.stderr.write(`${removed.length} key${removed.length === 1 ? '' : 's'} retired; tokens they signed are refused from now on\n`)
    return 0
  }
  if (action === 'keys') {
    const config = await configFromArgs(args)
    const keys = await readSigningKeys(keysDirectory(config), (message) => process.stderr.write(`wharf: ${message}\n`))
    const signer = [...keys].reverse().find((k) => k.privateKey !== undefined)
    for (const key of keys) {
      process.stdout.write(`${key.kid}  ${new Date(key.createdAt).toISOString()}  ${key === signer ? 'signs' : key.privateKey !== undefined ? 'verifies' : 'verifies (public key only)'}\n`)
    }
    return 0
  }
  throw new ConfigError(action === undefined ? 'wharf auth needs an action: rotate-key, retire-key or keys' : `unknown action "auth ${action}": rotate-key, retire-key or keys`)
}
