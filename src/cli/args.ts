import { ConfigError } from '../config/config.js'

export interface ParsedArgs {
  readonly options: ReadonlyMap<string, string | true>
  readonly positional: readonly string[]
}

/** "--name value", "--name=value" and bare "--flag"; flags listed in `booleans` take no value. */
export function parseArgs(argv: readonly string[], booleans: readonly string[] = ['json', 'dry-run', 'repair']): ParsedArgs {
  const options = new Map<string, string | true>()
  const positional: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) { positional.push(arg); continue }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    if (eq !== -1) options.set(name, arg.slice(eq + 1))
    else if (booleans.includes(name)) options.set(name, true)
    else {
      const value = argv[++i]
      if (value === undefined) throw new ConfigError(`option --${name} needs a value`)
      options.set(name, value)
    }
  }
  return { options, positional }
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.options.get(name)
  if (value === true) throw new ConfigError(`option --${name} needs a value`)
  return value
}

/** Fails on options the command does not know, so a typo is never ignored. */
export function checkOptions(args: ParsedArgs, known: readonly string[]): void {
  for (const name of args.options.keys()) {
    if (!known.includes(name)) throw new ConfigError(`unknown option --${name}`)
  }
}
