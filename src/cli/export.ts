import { open, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { Readable, Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ConfigError } from '../config/config.js'
import { checkOptions, stringOption, type ParsedArgs } from './args.js'
import { CommandFailure, oneLineFailure } from './failure.js'
import { promptHidden } from './password-input.js'
import { progressBar } from './progress.js'

const DEFAULT_URL = 'http://127.0.0.1:5000'

/** `name:tag` or `name@sha256:...` → the repository and the export API's `reference`. */
export function parseImageReference(text: string): { readonly name: string; readonly reference: string } {
  const at = text.indexOf('@')
  if (at > 0) return { name: text.slice(0, at), reference: text.slice(at + 1) }
  const colon = text.lastIndexOf(':')
  if (colon > text.lastIndexOf('/') && colon > 0) return { name: text.slice(0, colon), reference: text.slice(colon + 1) }
  throw new ConfigError(`"${text}" names no tag or digest: give NAME:TAG or NAME@sha256:...`)
}

/** Basic credentials for --username: the password from WHARF_PASSWORD, else asked on the terminal. */
async function authorization(username: string | undefined): Promise<Record<string, string>> {
  if (username === undefined) return {}
  const password = process.env.WHARF_PASSWORD ?? await promptHidden(`Password for ${username}: `)
  return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` }
}

/** The server's error, as one line: its spec-format message and code, else the status. */
async function failureOf(res: Response): Promise<CommandFailure> {
  const text = await res.text().catch(() => '')
  try {
    const [first] = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> }).errors ?? []
    if (first !== undefined) return new CommandFailure(`export refused (${res.status} ${first.code ?? ''}): ${first.message ?? ''}${first.detail !== undefined ? ` ${JSON.stringify(first.detail)}` : ''}`)
  } catch { /* not the registry's JSON */ }
  return new CommandFailure(`export refused: HTTP ${res.status} ${text.slice(0, 200)}`)
}

/**
 * `wharf export REF FILE`: the image as an archive from a running registry, written to a temporary
 * file beside FILE, flushed to disk and renamed onto FILE only once complete (`-`: standard output).
 */
export async function exportImage(args: ParsedArgs): Promise<number> {
  checkOptions(args, ['url', 'format', 'platform', 'username'])
  const [refText, file, ...extra] = args.positional
  if (refText === undefined || file === undefined || extra.length > 0) throw new ConfigError('usage: wharf export REF FILE [--url URL] [--format oci|docker] [--platform OS/ARCH] [--username USER]')
  const { name, reference } = parseImageReference(refText)
  const format = stringOption(args, 'format') ?? 'oci'
  if (format !== 'oci' && format !== 'docker') throw new ConfigError(`--format must be oci or docker, not "${format}"`)
  const platform = stringOption(args, 'platform')
  const base = (stringOption(args, 'url') ?? process.env.WHARF_URL ?? DEFAULT_URL).replace(/\/+$/, '')
  const query = new URLSearchParams({ reference, format, ...(platform !== undefined ? { platform } : {}) })
  const url = `${base}/_wharf/v1/repositories/${name}/export?${query.toString()}`

  let res: Response
  try {
    res = await fetch(url, { headers: await authorization(stringOption(args, 'username')) })
  } catch (err) {
    throw new CommandFailure(`cannot reach ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`)
  }
  if (!res.ok || res.body === null) throw await failureOf(res)
  const expected = Number(res.headers.get('content-length') ?? NaN)
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>)
  let received = 0
  const bar = process.stderr.isTTY === true && file !== '-' ? progressBar(process.stderr, `${name}@${reference}`, expected) : undefined
  const counting = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length
      bar?.update(received)
      done(null, chunk)
    },
  })
  const complete = (): void => {
    if (Number.isFinite(expected) && received !== expected) throw new CommandFailure(`the download ended early: ${received} of ${expected} bytes`)
  }

  if (file === '-') {
    await pipeline(body, counting, process.stdout as Writable)
    complete()
    return 0
  }
  const target = path.resolve(file)
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.part`)
  try {
    const handle = await open(temporary, 'wx', 0o644)
    try {
      await pipeline(body, counting, async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) {
          for (let at = 0; at < chunk.length;) at += (await handle.write(chunk, at)).bytesWritten
        }
      })
      complete()
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temporary, target)
    // The rename itself survives a crash only once the directory is on disk.
    const directory = await open(path.dirname(target), 'r')
    try { await directory.sync() } finally { await directory.close() }
  } catch (err) {
    await rm(temporary, { force: true })
    throw oneLineFailure(err)
  } finally {
    bar?.done()
  }
  process.stderr.write(`${name}@${reference}: ${received} bytes (${format}) written to ${file}\n`)
  return 0
}
