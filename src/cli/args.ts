import { ConfigError } from '../config/config.js'

export interface ParsedArgs {
  /** The last value of each option. */
  readonly options: ReadonlyMap<string, string | true>
  readonly positional: readonly string[]
  /** Every value of options given more than once (`--scope a --scope b`), in order. */
  readonly repeated?: ReadonlyMap<string, readonly (string | true)[]>
}

/** "--name value", "--name=value" and bare "--flag"; flags listed in `booleans` take no value. */
export function parseArgs(argv: readonly string[], booleans: readonly string[] = ['json', 'dry-run', 'repair']): ParsedArgs {
  const options = new Map<string, string | true>()
  const repeated = new Map<string, (string | true)[]>()
  const positional: string[] = []
  const set = (name: string, value: string | true): void => {
    options.set(name, value)
    repeated.set(name, [...repeated.get(name) ?? [], value])
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) { positional.push(arg); continue }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    if (eq !== -1) set(name, arg.slice(eq + 1))
    else if (booleans.includes(name)) set(name, true)
    else {
      const value = argv[++i]
      if (value === undefined) throw new ConfigError(`option --${name} needs a value`)
      set(name, value)
    }
  }
  return { options, positional, repeated }
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.options.get(name)
  if (value === true) throw new ConfigError(`option --${name} needs a value`)
  return value
}

/** Every value given for an option that may be repeated (`--scope a --scope b`). */
export function stringOptions(args: ParsedArgs, name: string): string[] {
  const values = args.repeated?.get(name) ?? (args.options.has(name) ? [args.options.get(name)!] : [])
  if (values.includes(true)) throw new ConfigError(`option --${name} needs a value`)
  return values as string[]
}

/** Fails on options the command does not know, so a typo is never ignored. */
export function checkOptions(args: ParsedArgs, known: readonly string[]): void {
  for (const name of args.options.keys()) {
    if (!known.includes(name)) throw new ConfigError(`unknown option --${name}`)
  }
}
