import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { ConfigError } from '../config/config.js'
import { checkOptions, stringOption, stringOptions, type ParsedArgs } from './args.js'
import { CommandFailure } from './failure.js'
import { promptHidden } from './password-input.js'

/**
 * `wharf import FILE --repository NAME [--tag TAG ...] [--url URL] [--username U]`: streams an
 * image archive to a running server's import endpoint (POST /_wharf/v1/repositories/NAME/import),
 * with a progress bar on a terminal. The password comes from WHARF_PASSWORD or a prompt.
 */
export async function importArchive(args: ParsedArgs): Promise<number> {
  checkOptions(args, ['repository', 'tag', 'url', 'username', 'config', 'storage'])
  const file = args.positional[0]
  const repository = stringOption(args, 'repository')
  if (file === undefined || repository === undefined) throw new ConfigError('usage: wharf import FILE --repository NAME [--tag TAG ...]')
  const base = (stringOption(args, 'url') ?? process.env.WHARF_URL ?? 'http://127.0.0.1:5000').replace(/\/$/, '')
  const query = new URLSearchParams(stringOptions(args, 'tag').map((tag) => ['tag', tag])).toString()
  const url = `${base}/_wharf/v1/repositories/${repository}/import${query !== '' ? `?${query}` : ''}`
  const headers: Record<string, string> = { 'content-type': 'application/x-tar' }
  const username = stringOption(args, 'username')
  if (username !== undefined) {
    const password = process.env.WHARF_PASSWORD ?? await promptHidden(`Password for ${username}: `)
    headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
  }
  const total = (await stat(file)).size
  headers['content-length'] = String(total)
  const progress = new Progress(total, process.stderr.isTTY === true)
  const source = createReadStream(file, { highWaterMark: 1 << 20 })
  // Counted on the way out (a 'data' listener would race the request for the stream's chunks).
  const counted = (async function* () {
    for await (const chunk of source) {
      progress.add((chunk as Buffer).length)
      yield chunk as Buffer
    }
  })()
  let response: Response
  try {
    response = await fetch(url, { method: 'POST', headers, body: counted, duplex: 'half' } as unknown as RequestInit)
  } catch (err) {
    throw new CommandFailure(`import failed: ${(err as Error).message}${(err as Error).cause !== undefined ? ` (${String((err as { cause?: Error }).cause?.message ?? '')})` : ''}`)
  }
  progress.done()
  const text = await response.text()
  if (response.status !== 201) {
    let reason = text.slice(0, 500)
    try {
      const error = (JSON.parse(text) as { errors?: Array<{ code: string; message: string }> }).errors?.[0]
      if (error !== undefined) reason = `${error.code}: ${error.message}`
    } catch { /* not JSON: shown as is */ }
    throw new CommandFailure(`import failed (HTTP ${response.status}): ${reason}`)
  }
  const result = JSON.parse(text) as { format: string; images: Array<{ digest: string; tags: string[] }>; blobs: { count: number; bytes: number } }
  process.stdout.write(`imported ${result.format} archive into ${repository}: ${result.blobs.count} blobs, ${result.blobs.bytes} bytes\n`)
  for (const image of result.images) {
    process.stdout.write(`${repository}@${image.digest}${image.tags.length > 0 ? `  tags: ${image.tags.join(', ')}` : ''}\n`)
  }
  return 0
}

/** A progress bar on a terminal (bytes, %), redrawn at most 10 times a second; nothing otherwise. */
class Progress {
  private sent = 0
  private last = 0
  private readonly total: number
  private readonly tty: boolean

  constructor(total: number, tty: boolean) {
    this.total = total
    this.tty = tty
  }

  add(bytes: number): void {
    this.sent += bytes
    const now = Date.now()
    if (!this.tty || now - this.last < 100) return
    this.last = now
    this.draw()
  }

  done(): void {
    if (!this.tty) return
    this.draw()
    process.stderr.write('\n')
  }

  private draw(): void {
    const fraction = this.total === 0 ? 1 : this.sent / this.total
    const width = 30
    const filled = Math.round(fraction * width)
    process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${mib(this.sent)}/${mib(this.total)} MiB ${(fraction * 100).toFixed(0)}%`)
  }
}

function mib(bytes: number): string {
  return (bytes / (1 << 20)).toFixed(1)
}
