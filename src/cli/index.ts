#!/usr/bin/env node
// Blob commits fsync files and directories on libuv's thread pool; four threads (the default)
// would serialise concurrent pushes behind each other's fsyncs. Set before the pool first starts.
process.env.UV_THREADPOOL_SIZE ??= '16'
// The AWS SDK (S3 storage) prints a multi-line warning on stderr that its future versions need
// Node 22; the versions pinned here support Node 20, and the text would break one-line start-up
// failures and JSON logs. An operator who wants it sets the variable to false.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
import { ConfigError } from '../config/config.js'
import { parseArgs, type ParsedArgs } from './args.js'
import { CommandFailure } from './failure.js'
import { COMMAND_HELP, USAGE } from './help.js'

type Command = (args: ParsedArgs) => Promise<number>

// Loaded when run: a command loads only its own modules (start-up time of `serve`).
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).serve,
  gc: async () => (await import('./gc.js')).gc,
  du: async () => (await import('./du.js')).du,
  fsck: async () => (await import('./fsck.js')).fsck,
  user: async () => (await import('./user.js')).user,
  token: async () => (await import('./token.js')).token,
  auth: async () => (await import('./auth.js')).auth,
  import: async () => (await import('./import.js')).importArchive,
  export: async () => (await import('./export.js')).exportImage,
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined) { process.stdout.write(USAGE); return 2 }
  if (command === '--help' || command === '-h' || (command === 'help' && rest.length === 0)) { process.stdout.write(USAGE); return 0 }
  // "wharf help gc" and "wharf gc --help" print the command's own help.
  const name = command === 'help' ? rest[0]! : command
  const load = COMMANDS[name]
  if (load === undefined) {
    process.stderr.write(`wharf: unknown command "${name}"\n\n${USAGE}`)
    return 2
  }
  if (command === 'help' || rest.includes('--help') || rest.includes('-h')) { process.stdout.write(COMMAND_HELP[name]!); return 0 }
  const run = await load()
  // `--password` is a flag here only so that `wharf user` can refuse it, whatever follows it.
  return run(parseArgs(rest, ['json', 'dry-run', 'tags', 'repair', 'password-stdin', 'password']))
}

main(process.argv.slice(2)).then((code) => {
  if (code !== 0) process.exitCode = code
}, (err: unknown) => {
  const plain = err instanceof ConfigError || err instanceof CommandFailure
  process.stderr.write(`wharf: ${plain ? err.message : (err as Error).stack ?? String(err)}\n`)
  process.exitCode = err instanceof ConfigError ? 2 : 1
}).finally(() => {
  // The command has closed what it opened; should anything still hold the event loop, a stopped
  // or failed server must still exit (so a supervisor sees it and restarts it).
  setTimeout(() => process.exit(), 5000).unref()
})
