// Logs: readable lines on a terminal (run under a pseudo-terminal with util-linux `script`), JSON
// lines into pipes and files, and credentials never written either way.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import { WHARF_CLI, request, spawnWharf, stopSpawned } from '../support/index.js'

const LOGGING_MODULE = pathToFileURL(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/logging.js')).href
const SECRETS = { authorization: 'Bearer s3cret-token', cookie: 'session=s3cret-cookie', 'proxy-authorization': 'Basic s3cret-proxy' }
const ANSI = /\u001b\[[0-9;]*m/g

const dir = await mkdtemp(path.join(tmpdir(), 'wharf-logs-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

function quote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`
}

/** Runs a command under a pseudo-terminal; `script` copies what it writes to our pipe. */
function underTerminal(argv: readonly string[], env: Record<string, string> = {}): ReturnType<typeof spawn> {
  return spawn('script', ['--quiet', '--return', '--flush', '--command', argv.map(quote).join(' '), '/dev/null'], {
    // `script` runs the command with $SHELL; fixed here so that every machine builds the same tree.
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHELL: '/bin/sh', ...env },
  })
}

/**
 * The Node process among `pid`'s descendants whose arguments include `script`. A shell between
 * `script` and Node (dash does not exec its last command) has the same words in its command
 * line, so the first argument must be Node itself.
 */
async function descendant(pid: number, script: string): Promise<number | undefined> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  for (const child of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
    const argv = (await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '')).split('\0')
    if (argv[0] === process.execPath && argv.includes(script)) return child
    const deeper = await descendant(child, script)
    if (deeper !== undefined) return deeper
  }
  return undefined
}

/** A script that logs what a server logs around requests, with headers and an error. */
async function loggingScript(): Promise<string> {
  const file = path.join(dir, 'log-sample.mjs')
  await writeFile(file, `
import { createLogger } from ${JSON.stringify(LOGGING_MODULE)}
const logger = createLogger('info')
const headers = ${JSON.stringify(SECRETS)}
logger.info({ reqId: 'req-7', req: { method: 'GET', url: '/v2/app/manifests/1.0', remoteAddress: '127.0.0.1', headers } }, 'incoming request')
logger.info({ reqId: 'req-7', res: { statusCode: 200, headers: { 'set-cookie': 'id=s3cret-set' } }, responseTime: 1.25 }, 'request completed')
logger.warn({ headers, repo: 'team/app', bytes: 42 }, 'headers logged directly')
logger.error({ reqId: 'req-8', err: new Error('disk on fire') }, 'failed to serve request')
`)
  return file
}

t.test('under a terminal: time, level, request id, message, key fields; errors with their stack; no secrets', async (t) => {
  const probe = spawnSync('script', ['--version'], { encoding: 'utf8' })
  t.equal(probe.status, 0, `util-linux script is installed: ${probe.error?.message ?? ''}`)
  if (probe.status !== 0) return
  const child = underTerminal([process.execPath, await loggingScript()], { NO_COLOR: '' })
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  const [code] = await once(child, 'close')
  t.equal(code, 0)
  const text = out.replace(ANSI, '').replace(/\r/g, '')
  const lines = text.split('\n')
  t.match(lines[0], /^\d\d:\d\d:\d\d\.\d{3} INFO +\[req-7\] incoming request GET \/v2\/app\/manifests\/1\.0 from 127\.0\.0\.1/, 'request line')
  t.match(lines[1], /^\d\d:\d\d:\d\d\.\d{3} INFO +\[req-7\] request completed 200 in 1\.3 ms/, 'response line')
  t.match(lines[2], /^\d\d:\d\d:\d\d\.\d{3} WARN +headers logged directly .*repo=team\/app bytes=42/, 'fields as key=value')
  t.match(lines[3], /^\d\d:\d\d:\d\d\.\d{3} ERROR \[req-8\] failed to serve request$/, 'error line')
  t.match(lines[4], /^ {4}Error: disk on fire$/, 'the error below it')
  t.match(lines[5], /^ {4}    at /, 'with its stack')
  t.notMatch(text, /^\{"level"/m, 'no JSON on a terminal')
  t.notMatch(text, /s3cret/, 'no credential reaches the terminal')
  t.match(text, /\[Redacted\]/, 'they are replaced')
  t.match(out, /\u001b\[31mERROR/, 'levels are coloured on a terminal')
  const plain = underTerminal([process.execPath, await loggingScript()], { NO_COLOR: '1' })
  let plainOut = ''
  plain.stdout!.setEncoding('utf8').on('data', (chunk: string) => { plainOut += chunk })
  await once(plain, 'close')
  t.notMatch(plainOut, ANSI, 'NO_COLOR turns colours off')
})

t.test('into a pipe: JSON lines, secrets redacted', async (t) => {
  const run = spawnSync(process.execPath, [await loggingScript()], { encoding: 'utf8' })
  t.equal(run.status, 0, run.stderr)
  const entries = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
  t.equal(entries.length, 4, 'one JSON object per line')
  t.equal(entries[0]!.reqId, 'req-7')
  t.same((entries[0]!.req as { headers: unknown }).headers, { authorization: '[Redacted]', cookie: '[Redacted]', 'proxy-authorization': '[Redacted]' })
  t.same((entries[1]!.res as { headers: unknown }).headers, { 'set-cookie': '[Redacted]' })
  t.same(entries[2]!.headers, { authorization: '[Redacted]', cookie: '[Redacted]', 'proxy-authorization': '[Redacted]' })
  t.match((entries[3]!.err as { stack: string }).stack, /disk on fire\n\s+at /)
  t.notMatch(run.stdout, /s3cret/)
})

t.test('wharf serve on a terminal prints readable lines; into a pipe, JSON; credentials sent by clients never logged', async (t) => {
  const storage = path.join(dir, 'store-tty')
  const env = { WHARF_LOG_REQUESTS: 'true', WHARF_LOG_LEVEL: 'trace' }
  const child = underTerminal([process.execPath, WHARF_CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--storage', storage], env)
  let out = ''
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const match = /wharf listening url=(http:\/\/[0-9.:]+)/.exec(out.replace(ANSI, ''))
      if (match !== null) resolve(match[1]!)
    })
    child.once('close', () => reject(new Error(`wharf exited: ${out}`)))
  })
  const closed = once(child, 'close')
  t.teardown(() => { child.kill('SIGKILL') })
  const url = await listening
  const found = await request(url, '/v2/', { headers: SECRETS })
  t.equal(found.status, 200)
  const missing = await request(url, '/v2/nothing/manifests/1.0', { headers: SECRETS })
  t.equal(missing.status, 404)
  // The request id a response names (X-Request-Id) is the one its log lines show.
  const escape = (id: string | undefined): string => (id ?? 'no X-Request-Id').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const firstId = escape(found.header('x-request-id'))
  const secondId = escape(missing.header('x-request-id'))
  t.not(firstId, secondId, 'each request has its own id')
  const server = await descendant(child.pid!, WHARF_CLI)
  t.ok(server, 'found the server under the terminal')
  if (server !== undefined) process.kill(server, 'SIGTERM')
  await closed
  const text = out.replace(ANSI, '').replace(/\r/g, '')
  t.match(text, /^\d\d:\d\d:\d\d\.\d{3} INFO +wharf listening url=http:\/\/127\.0\.0\.1:\d+ storage=\S+$/m)
  t.match(text, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO +\\[${firstId}\\] incoming request GET /v2/ from 127\\.0\\.0\\.1$`, 'm'))
  t.match(text, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO +\\[${firstId}\\] request completed 200 in \\d+\\.\\d ms$`, 'm'))
  t.match(text, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO +\\[${secondId}\\] request completed 404 in `, 'm'))
  t.match(text, /^\d\d:\d\d:\d\d\.\d{3} INFO +stopped$/m, 'and its shutdown')
  t.notMatch(text, /^\{/m, 'no JSON line')
  t.notMatch(text, /s3cret/, 'no credential')

  const piped = spawnWharf(['serve', '--host', '127.0.0.1', '--port', '0', '--storage', path.join(dir, 'store-pipe')], { env })
  const pipedUrl = await piped.listening
  t.ok(pipedUrl, 'serves with a pipe as stdout')
  if (pipedUrl !== undefined) t.equal((await request(pipedUrl, '/v2/', { headers: SECRETS })).status, 200)
  const end = await stopSpawned(piped)
  const lines = end.stdout.trim().split('\n')
  t.ok(lines.length >= 4, 'listening, request, response and shutdown lines')
  t.ok(lines.every((line) => { try { return typeof JSON.parse(line).level === 'number' } catch { return false } }), 'every line is a pino JSON object')
  t.notMatch(end.stdout, /s3cret/, 'no credential')
})
