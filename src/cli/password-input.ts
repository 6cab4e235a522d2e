import { CommandFailure } from './failure.js'

/**
 * Passwords come from standard input (`--password-stdin`, for scripts) or from a prompt on the
 * terminal that does not echo them; never from the command line, where `ps` and shell histories
 * would keep them.
 */

/** All of standard input, less one trailing newline (as `docker login --password-stdin`). */
export async function passwordFromStdin(): Promise<string> {
  if (process.stdin.isTTY === true) process.stderr.write('Password (then Enter and Ctrl-D): ')
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

/** Characters typed ahead of the end of a line, kept for the next prompt. */
let typedAhead = ''

/**
 * Asks on the terminal with echo off; Ctrl-C or Ctrl-D ends the command with nothing changed.
 * With `more`, echo stays off for the next prompt (nothing typed between the two is echoed).
 */
export async function promptHidden(question: string, more = false): Promise<string> {
  const input = process.stdin
  if (input.isTTY !== true) throw new CommandFailure('no terminal to ask for the password on: give it on standard input with --password-stdin')
  // Echo off before the prompt shows, so nothing typed after it appears is echoed.
  input.setRawMode(true)
  input.setEncoding('utf8')
  process.stderr.write(question)
  return new Promise<string>((resolve, reject) => {
    let value = ''
    const finish = (error?: CommandFailure): void => {
      input.off('data', onData)
      if (!more || error !== undefined) input.setRawMode(false)
      input.pause()
      process.stderr.write('\n')
      if (error !== undefined) reject(error)
      else resolve(value)
    }
    const onData = (chunk: string): void => {
      const text = typedAhead + chunk
      typedAhead = ''
      const characters = [...text]
      for (let i = 0; i < characters.length; i++) {
        const c = characters[i]!
        if (c === '\r' || c === '\n') {
          // A "\r\n" pair is one Enter.
          const rest = characters.slice(c === '\r' && characters[i + 1] === '\n' ? i + 2 : i + 1).join('')
          typedAhead = rest
          finish()
          return
        }
        if (c === '\u0003' || (c === '\u0004' && value === '')) { finish(new CommandFailure('interrupted; nothing changed')); return }
        if (c === '\u007f' || c === '\b') value = [...value].slice(0, -1).join('')
        else if (c === '\u0015') value = ''
        else if (c >= ' ') value += c
      }
    }
    input.on('data', onData)
    input.resume()
    if (typedAhead !== '') onData('')
  })
}

/** A new password: from standard input, or asked twice on the terminal (the two must match). */
export async function newPassword(fromStdin: boolean, user: string): Promise<string> {
  if (fromStdin) return passwordFromStdin()
  const first = await promptHidden(`New password for ${user}: `, true)
  const second = await promptHidden('Again: ')
  if (first !== second) throw new CommandFailure('the passwords do not match; nothing changed')
  return first
}
