import { HtpasswdEditError, readHtpasswd, removeHtpasswdUser, setHtpasswdPassword, userNameProblem } from '../auth/htpasswd.js'
import { RobotTokenFile } from '../auth/robot-tokens.js'
import { authDirectoryOf } from '../config/auth-config.js'
import { ConfigError, type Config } from '../config/config.js'
import { stringOption, type ParsedArgs } from './args.js'
import { CommandFailure, oneLineFailure } from './failure.js'
import { newPassword } from './password-input.js'
import { configFromArgs } from './serve.js'

/** Options that would put a password on the command line: refused, whatever their value. */
const PASSWORD_OPTIONS = ['password', 'passwd', 'pass', 'p']

/** Refuses a password given as an argument, before anything else is looked at. */
export function refusePasswordArgument(args: ParsedArgs): void {
  for (const name of PASSWORD_OPTIONS) {
    if (args.options.has(name)) {
      throw new ConfigError(`--${name}: passwords are never taken from the command line (ps and shell history would keep them); use --password-stdin or the prompt`)
    }
  }
}

/** The htpasswd file: --htpasswd, else auth.htpasswd of the configuration (or WHARF_AUTH_HTPASSWD). */
export function htpasswdPathOf(args: ParsedArgs, config: Config): string {
  const file = stringOption(args, 'htpasswd') ?? config.auth?.htpasswd
  if (file === undefined) throw new ConfigError('no htpasswd file: give --htpasswd PATH, or --config FILE with auth.htpasswd, or set WHARF_AUTH_HTPASSWD')
  return file
}

function onlyName(args: ParsedArgs, usage: string): string {
  const [, name, ...extra] = args.positional
  if (name === undefined) throw new ConfigError(`missing NAME: ${usage}`)
  if (extra.length > 0) throw new ConfigError(`unexpected argument "${extra[0]}": ${usage}`)
  const problem = userNameProblem(name)
  if (problem !== undefined) throw new ConfigError(problem)
  return name
}

/** `wharf user add|passwd|rm|list`: the users of the htpasswd file. */
export async function user(args: ParsedArgs): Promise<number> {
  refusePasswordArgument(args)
  const [action] = args.positional
  const config = await configFromArgs(args, ['htpasswd', ...(action === 'add' || action === 'passwd' ? ['password-stdin'] : []), ...(action === 'list' ? ['json'] : [])])
  const file = htpasswdPathOf(args, config)
  const fromStdin = args.options.get('password-stdin') === true
  try {
    switch (action) {
      case 'add': {
        const name = onlyName(args, 'wharf user add NAME')
        const existing = await readHtpasswd(file)
        if (existing?.users.some((u) => u.name === name) === true) throw new CommandFailure(`user "${name}" already exists in ${file} (change the password with "wharf user passwd ${name}")`)
        if (await RobotTokenFile.inDirectory(authDirectoryOf(config)).get(name).catch(() => undefined) !== undefined) {
          throw new CommandFailure(`"${name}" is the name of a robot token; users and robots log in with the same user name field, so choose another name`)
        }
        await setHtpasswdPassword(file, name, await newPassword(fromStdin, name), { mode: 'add' })
        process.stdout.write(`added user ${name} to ${file}\n`)
        return 0
      }
      case 'passwd': {
        const name = onlyName(args, 'wharf user passwd NAME')
        const existing = await readHtpasswd(file)
        if (existing?.users.some((u) => u.name === name) !== true) throw new CommandFailure(`no user "${name}" in ${file}`)
        await setHtpasswdPassword(file, name, await newPassword(fromStdin, name), { mode: 'change' })
        process.stdout.write(`changed the password of ${name} in ${file}\n`)
        return 0
      }
      case 'rm': {
        const name = onlyName(args, 'wharf user rm NAME')
        if (!await removeHtpasswdUser(file, name)) throw new CommandFailure(`no user "${name}" in ${file}`)
        process.stdout.write(`removed user ${name} from ${file}; a running server refuses ${name} within a second, tokens issued to ${name} included\n`)
        return 0
      }
      case 'list': {
        if (args.positional.length > 1) throw new ConfigError(`unexpected argument "${args.positional[1]}": wharf user list`)
        const parsed = await readHtpasswd(file)
        if (parsed === undefined) throw new CommandFailure(`no htpasswd file at ${file} (create it with "wharf user add NAME")`)
        if (args.options.get('json') === true) {
          process.stdout.write(`${JSON.stringify(parsed.users.map(({ name, line, hashKind, accepted }) => ({ name, line, hashKind, canLogIn: accepted })), null, 2)}\n`)
          return 0
        }
        // Lines that are not users (malformed, a name again) are said on stderr; refused hashes below.
        for (const problem of parsed.problems.filter((p) => !parsed.users.some((u) => u.line === p.line))) {
          process.stderr.write(`warning: ${file} line ${problem.line}: ${problem.message}\n`)
        }
        for (const entry of parsed.users) {
          process.stdout.write(entry.accepted ? `${entry.name}\n` : `${entry.name}  (cannot log in: ${entry.hashKind} hash on line ${entry.line}; set a bcrypt password with "wharf user passwd ${entry.name}")\n`)
        }
        return 0
      }
      default:
        throw new ConfigError(action === undefined ? 'missing action: wharf user add|passwd|rm|list' : `unknown action "${action}": wharf user add|passwd|rm|list`)
    }
  } catch (err) {
    if (err instanceof HtpasswdEditError) throw new CommandFailure(err.message)
    throw oneLineFailure(err)
  }
}
