/**
 * A command that cannot do its work for a reason the user can act on: `wharf` prints the message as
 * one line (no stack) and exits 1. Mistakes in the command line or configuration are ConfigError (2).
 */
export class CommandFailure extends Error {
}

/**
 * What a command throws for `err`: a file-system error (EACCES, EISDIR, ENOSPC: its message names
 * the file) becomes a one-line CommandFailure; anything else is thrown as it is.
 */
export function oneLineFailure(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && err instanceof Error ? new CommandFailure(err.message) : err
}
