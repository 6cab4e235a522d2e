import { callerIdentity } from '../access/identity.js'
import type { Clock } from '../context/clock.js'
import type { RequestContext } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'

/** What a write the services refuse in read-only mode is; said in the refusal's detail. */
export type WriteOperation =
  | 'upload start' | 'upload chunk' | 'upload completion' | 'upload cancel' | 'blob upload' | 'blob mount'
  | 'manifest push' | 'manifest delete' | 'tag delete' | 'blob delete'

/** The message every refusal carries, whatever the write. */
export const READ_ONLY_MESSAGE = 'the registry is in read-only mode: pushes and deletes are refused until an administrator turns it off; pulls still work'

export interface MaintenanceStatus {
  readonly readOnly: boolean
  /** When the mode last changed (the start, for the configured one), ISO 8601. */
  readonly since: string
  /** Who set the mode: `config` at the start, else the caller's identity (callerIdentity). */
  readonly changedBy: string
  /**
   * Writes the services accepted that are still running (a chunk streaming in, say): they were let
   * in before the switch and finish. A backup of the data directory waits for 0.
   */
  readonly writesInFlight: number
}

/** Where a change of mode is recorded; pino's Logger fits. */
export interface MaintenanceLog {
  info(fields: Record<string, unknown>, message: string): void
}

/**
 * The registry's maintenance mode, given to every service that writes: while read-only, each
 * write is refused before it changes anything (405 UNSUPPORTED, as registry:2 answers in its
 * read-only mode), so an upload session started before the switch is refused on its next request
 * and can go on after the switch back. Reads, garbage collection and the upload purge are not
 * writes of clients and keep running. The run-time setting lasts until the process ends; the
 * configuration decides the start.
 */
export class MaintenanceState {
  private readOnlyNow: boolean
  private since: number
  private changedBy = 'config'
  private writes = 0
  private readonly clock: Clock
  private readonly log: MaintenanceLog | undefined

  constructor(options: { readonly readOnly: boolean; readonly clock: Clock; readonly log?: MaintenanceLog }) {
    this.readOnlyNow = options.readOnly
    this.clock = options.clock
    this.since = options.clock.now()
    this.log = options.log
  }

  get readOnly(): boolean {
    return this.readOnlyNow
  }

  status(): MaintenanceStatus {
    return { readOnly: this.readOnlyNow, since: new Date(this.since).toISOString(), changedBy: this.changedBy, writesInFlight: this.writes }
  }

  /** Switches the mode (a no-op when it already is so); every change is logged with who made it. */
  setReadOnly(ctx: RequestContext, readOnly: boolean): MaintenanceStatus {
    if (readOnly !== this.readOnlyNow) {
      const by = callerIdentity(ctx.caller)
      this.readOnlyNow = readOnly
      this.since = this.clock.now()
      this.changedBy = by
      this.log?.info({ readOnly, by, address: ctx.origin?.address, requestId: ctx.requestId, writesInFlight: this.writes }, readOnly ? 'read-only mode on: writes are refused' : 'read-only mode off: writes are accepted')
    }
    return this.status()
  }

  /** Runs `work` unless the registry is read-only (then refuses it); counted while it runs. */
  async write<T>(operation: WriteOperation, work: () => Promise<T>): Promise<T> {
    if (this.readOnlyNow) throw readOnlyError(operation)
    this.writes++
    try {
      return await work()
    } finally {
      this.writes--
    }
  }
}

/** A state that never refuses: for services built without one. */
export function writableMaintenance(clock: Clock): MaintenanceState {
  return new MaintenanceState({ readOnly: false, clock })
}

export function readOnlyError(operation: WriteOperation): RegistryError {
  return new RegistryError('UNSUPPORTED', { message: READ_ONLY_MESSAGE, detail: { readOnly: true, operation } })
}
