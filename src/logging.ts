import pino, { type DestinationStream, type Logger } from 'pino'

/** Headers that carry credentials: replaced by "[Redacted]" wherever a log entry holds headers. */
const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie']
const REDACT = SECRET_HEADERS.flatMap((name) => [`headers["${name}"]`, `*.headers["${name}"]`])

/**
 * The process logger: JSON lines on stdout for files, pipes and log collectors; readable lines when
 * stdout is a terminal (`terminal` overrides the check). Credentials are never written. `lineWrites`:
 * each line in a write of its own, for processes sharing one stdout (`serve --workers`): pino's
 * batches of lines could interleave with another process's mid-line in a full pipe.
 */
export function createLogger(level: string, terminal = process.stdout.isTTY === true, lineWrites = false): Logger {
  const options = { level, redact: REDACT }
  if (!terminal) return lineWrites ? pino(options, pino.destination({ dest: 1, sync: true })) : pino(options)
  const colour = process.env.NO_COLOR === undefined || process.env.NO_COLOR === ''
  const destination: DestinationStream = { write: (line: string) => { process.stdout.write(formatLine(line, colour)) } }
  return pino(options, destination)
}

const LEVELS: Record<number, [name: string, colour: string]> = {
  10: ['TRACE', '90'], 20: ['DEBUG', '36'], 30: ['INFO ', '32'], 40: ['WARN ', '33'], 50: ['ERROR', '31'], 60: ['FATAL', '35'],
}
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'reqId', 'req', 'res', 'responseTime', 'err'])

interface Entry {
  readonly level?: number
  readonly time?: number
  readonly msg?: string
  readonly reqId?: string
  readonly req?: { readonly method?: string; readonly url?: string; readonly remoteAddress?: string }
  readonly res?: { readonly statusCode?: number }
  readonly responseTime?: number
  readonly err?: { readonly type?: string; readonly message?: string; readonly stack?: string }
  readonly [key: string]: unknown
}

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)
  return JSON.stringify(v) ?? String(v)
}

/**
 * One pino JSON line as a person reads it: local time, level, request id, message, the request and
 * response in short, other fields as key=value, then an error's stack indented below.
 */
export function formatLine(line: string, colour = false): string {
  let entry: Entry
  try {
    entry = JSON.parse(line) as Entry
  } catch {
    return line
  }
  const time = new Date(entry.time ?? Date.now())
  const clock = [time.getHours(), time.getMinutes(), time.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':')
  const [name, code] = LEVELS[entry.level ?? 30] ?? [String(entry.level), '0']
  const parts = [`${clock}.${String(time.getMilliseconds()).padStart(3, '0')}`, colour ? `\u001b[${code}m${name}\u001b[39m` : name]
  if (entry.reqId !== undefined) parts.push(`[${entry.reqId}]`)
  if (entry.msg !== undefined) parts.push(entry.msg)
  if (entry.req !== undefined) parts.push(`${entry.req.method ?? ''} ${entry.req.url ?? ''}${entry.req.remoteAddress !== undefined ? ` from ${entry.req.remoteAddress}` : ''}`)
  if (entry.res?.statusCode !== undefined) parts.push(String(entry.res.statusCode))
  if (entry.responseTime !== undefined) parts.push(`in ${entry.responseTime.toFixed(1)} ms`)
  for (const [key, v] of Object.entries(entry)) {
    if (!HIDDEN.has(key)) parts.push(`${key}=${value(v)}`)
  }
  let text = parts.join(' ')
  if (entry.err !== undefined) {
    const stack = entry.err.stack ?? `${entry.err.type ?? 'Error'}: ${entry.err.message ?? ''}`
    text += `\n${stack.split('\n').map((l) => `    ${l}`).join('\n')}`
  }
  return `${text}\n`
}
