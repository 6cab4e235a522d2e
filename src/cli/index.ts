#!/usr/bin/env node
// Blob commits fsync files and directories on libuv's thread pool; four threads (the default)
// would serialise concurrent pushes behind each other's fsyncs. Set before the pool first starts.
process.env.UV_THREADPOOL_SIZE ??= '16'
import { ConfigError } from '../config/config.js'
import { parseArgs, type ParsedArgs } from './args.js'
import { du } from './du.js'
import { CommandFailure } from './failure.js'
import { fsck } from './fsck.js'
import { gc } from './gc.js'
import { serve } from './serve.js'

const USAGE = `Usage: wharf <command> [options]

Commands:
  serve    run the registry (default: http://127.0.0.1:5000, data under ./storage)
  gc       collect garbage offline (with no server on the storage): --dry-run, --json
  fsck     verify every blob's digest and size and every metadata reference: --repair, --json
  du       disk usage per repository (--tags: per tag), shared and reclaimable bytes: --json

Options of every command:
  --config FILE    YAML configuration file (see config.example.yaml); env WHARF_CONFIG
  --storage DIR    data directory; env WHARF_STORAGE_PATH
Options of serve:
  --host HOST      address to listen on; env WHARF_HTTP_HOST (use 0.0.0.0 for a LAN)
  --port PORT      port to listen on; env WHARF_HTTP_PORT
`

const COMMANDS: Record<string, (args: ParsedArgs) => Promise<number>> = { serve, gc, du, fsck }

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  const run = COMMANDS[command]
  if (run === undefined) {
    process.stderr.write(`wharf: unknown command "${command}"\n\n${USAGE}`)
    return 2
  }
  return run(parseArgs(rest, ['json', 'dry-run', 'tags', 'repair']))
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
