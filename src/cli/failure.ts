/**
 * A command that cannot do its work for a reason the user can act on: `wharf` prints the message as
 * one line (no stack) and exits 1. Mistakes in the command line or configuration are ConfigError (2).
 */
export class CommandFailure extends Error {
}
