import pino, { type Logger } from 'pino'

/** The process logger: JSON lines on stdout, credentials never written. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: ['req.headers.authorization', 'req.headers.cookie'],
  })
}
