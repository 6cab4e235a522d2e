#!/usr/bin/env node
// Blob commits fsync files and directories on libuv's thread pool; four threads (the default)
// would serialise concurrent pushes behind each other's fsyncs. Set before the pool first starts.
process.env.UV_THREADPOOL_SIZE ??= '16'
import { ConfigError } from '../config/config.js'
import { parseArgs, type ParsedArgs } from './args.js'
import { auth } from './auth.js'
import { du } from './du.js'
import { exportImage } from './export.js'
import { CommandFailure } from './failure.js'
import { COMMAND_HELP, USAGE } from './help.js'
import { fsck } from './fsck.js'
import { gc } from './gc.js'
import { importArchive } from './import.js'
import { serve } from './serve.js'
import { token } from './token.js'
import { user } from './user.js'

const COMMANDS: Record<string, (args: ParsedArgs) => Promise<number>> = { serve, gc, du, fsck, user, token, auth, import: importArchive, export: exportImage }

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined) { process.stdout.write(USAGE); return 2 }
  if (command === '--help' || command === '-h' || (command === 'help' && rest.length === 0)) { process.stdout.write(USAGE); return 0 }
  // "wharf help gc" and "wharf gc --help" print the command's own help.
  const name = command === 'help' ? rest[0]! : command
  const run = COMMANDS[name]
  if (run === undefined) {
    process.stderr.write(`wharf: unknown command "${name}"\n\n${USAGE}`)
    return 2
  }
  if (command === 'help' || rest.includes('--help') || rest.includes('-h')) { process.stdout.write(COMMAND_HELP[name]!); return 0 }
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
