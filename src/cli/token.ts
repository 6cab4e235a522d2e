import { formatScope } from '../access/scope.js'
import { readHtpasswd } from '../auth/htpasswd.js'
import { RobotTokenError, RobotTokenFile, type RobotListing } from '../auth/robot-tokens.js'
import { authDirectoryOf } from '../config/auth-config.js'
import { ConfigError, type Config } from '../config/config.js'
import { stringOption, stringOptions, type ParsedArgs } from './args.js'
import { CommandFailure, oneLineFailure } from './failure.js'
import { parseDurationSeconds } from './gc.js'
import { configFromArgs } from './serve.js'

/** The auth directory: auth.directory (WHARF_AUTH_DIRECTORY), else `<storage>/auth`. */
function robotsOf(config: Config): RobotTokenFile {
  const directory = config.auth === null ? process.env.WHARF_AUTH_DIRECTORY ?? authDirectoryOf(config) : authDirectoryOf(config)
  return RobotTokenFile.inDirectory(directory)
}

/** `--expires`: a duration from now (30d, 12h) or a date (2027-01-31, ISO 8601); `never` for none. */
export function parseExpiry(text: string | undefined, now: number): number | null {
  if (text === undefined || text === 'never') return null
  if (/^\d{4}-\d\d-\d\d/.test(text)) {
    const time = Date.parse(text)
    if (Number.isNaN(time)) throw new ConfigError(`--expires: "${text}" is not a date`)
    return time
  }
  return now + parseDurationSeconds(text, 'expires') * 1000
}

function describeExpiry(expiresAt: number | null): string {
  return expiresAt === null ? 'never' : new Date(expiresAt).toISOString()
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n') + '\n'
}

function listingJson(robot: RobotListing): Record<string, unknown> {
  return {
    name: robot.name, scopes: robot.scopes.map(formatScope), createdAt: new Date(robot.createdAt).toISOString(),
    expiresAt: robot.expiresAt === null ? null : new Date(robot.expiresAt).toISOString(), expired: robot.expired,
  }
}

/** `wharf token create|list|revoke`: robot tokens (`<auth dir>/robots.json`). */
export async function token(args: ParsedArgs): Promise<number> {
  const [action, ...rest] = args.positional
  const extra = action === 'create' ? ['name', 'scope', 'expires', 'json'] : action === 'list' ? ['json'] : []
  const config = await configFromArgs(args, extra)
  const robots = robotsOf(config)
  const json = args.options.get('json') === true
  try {
    switch (action) {
      case 'create': {
        if (rest.length > 0) throw new ConfigError(`unexpected argument "${rest[0]}": wharf token create --name NAME --scope SCOPE`)
        const name = stringOption(args, 'name')
        if (name === undefined) throw new ConfigError('--name is needed: wharf token create --name NAME --scope SCOPE')
        // Several scopes: repeated --scope, or separated by spaces as in the token protocol.
        const scopes = stringOptions(args, 'scope').flatMap((scope) => scope.split(/\s+/)).filter((scope) => scope !== '')
        if (scopes.length === 0) throw new ConfigError('--scope is needed, e.g. --scope \'repository:team/*:pull,push\'')
        const expiresAt = parseExpiry(stringOption(args, 'expires'), Date.now())
        if (config.auth !== null && (await readHtpasswd(config.auth.htpasswd).catch(() => undefined))?.users.some((u) => u.name === name) === true) {
          throw new CommandFailure(`"${name}" is a user in ${config.auth.htpasswd}; users and robots log in with the same user name field, so choose another name`)
        }
        const { robot, secret } = await robots.create(name, scopes, expiresAt)
        if (json) {
          process.stdout.write(`${JSON.stringify({ ...listingJson({ ...robot, expired: false }), secret }, null, 2)}\n`)
          return 0
        }
        // The secret alone on standard output (SECRET=$(wharf token create ...)); the rest is for people.
        process.stdout.write(`${secret}\n`)
        process.stderr.write([
          `created robot token "${robot.name}": ${robot.scopes.map(formatScope).join(' ')}; expires ${describeExpiry(robot.expiresAt)}`,
          'The secret above is shown only this once (Wharf keeps only its hash). Log in with it as the robot:',
          `  printf '%s' "$SECRET" | docker login -u ${robot.name} --password-stdin REGISTRY`,
          ...(config.auth === null ? ['note: the configuration has no auth section, so the registry does not ask for credentials yet'] : []),
          '',
        ].join('\n'))
        return 0
      }
      case 'list': {
        if (rest.length > 0) throw new ConfigError(`unexpected argument "${rest[0]}": wharf token list`)
        const listed = await robots.list()
        if (json) { process.stdout.write(`${JSON.stringify(listed.map(listingJson), null, 2)}\n`); return 0 }
        if (listed.length === 0) { process.stdout.write(`no robot tokens in ${robots.file}\n`); return 0 }
        process.stdout.write(table([
          ['NAME', 'CREATED', 'EXPIRES', 'SCOPES'],
          ...listed.map((r) => [r.name, new Date(r.createdAt).toISOString(), r.expired ? `expired ${describeExpiry(r.expiresAt)}` : describeExpiry(r.expiresAt), r.scopes.map(formatScope).join(' ')]),
        ]))
        return 0
      }
      case 'revoke': {
        const [name, ...more] = rest
        if (name === undefined || more.length > 0) throw new ConfigError('usage: wharf token revoke NAME')
        if (!await robots.revoke(name)) throw new CommandFailure(`no robot token "${name}" in ${robots.file}`)
        process.stdout.write(`revoked robot token ${name}; a running server refuses it within a second\n`)
        return 0
      }
      default:
        throw new ConfigError(action === undefined ? 'missing action: wharf token create|list|revoke' : `unknown action "${action}": wharf token create|list|revoke`)
    }
  } catch (err) {
    if (err instanceof RobotTokenError) throw new CommandFailure(err.message)
    throw oneLineFailure(err)
  }
}
