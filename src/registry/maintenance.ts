import { callerIdentity } from '../access/identity.js'
import type { Clock } from '../context/clock.js'
import type { RequestContext } from '../context/request-context.js'
import { RegistryError } from '../errors/registry-error.js'
import type { SharedMaintenanceMode } from '../metadata/metadata-store.js'

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
  warn(fields: Record<string, unknown>, message: string): void
}

/** How often a node looks for a mode another node set (the node that was asked switches at once). */
const SHARED_MODE_POLL_MS = 1_000

/**
 * The registry's maintenance mode, given to every service that writes: while read-only, each
 * write is refused before it changes anything (405 UNSUPPORTED, as registry:2 answers in its
 * read-only mode), so an upload session started before the switch is refused on its next request
 * and can go on after the switch back. Reads, garbage collection and the upload purge are not
 * writes of clients and keep running. The run-time setting lasts until the process ends; the
 * configuration decides the start. With a store several nodes share (`shared`), a mode set through
 * the admin API is kept there: a node starting adopts it (unless its configuration says
 * read-only), and running nodes adopt a newer one within a second (follow()).
 */
export class MaintenanceState {
  private readOnlyNow: boolean
  private since: number
  private changedBy = 'config'
  private writes = 0
  private readonly clock: Clock
  private readonly log: MaintenanceLog | undefined
  private readonly shared: SharedMaintenanceMode | undefined
  private readonly configuredReadOnly: boolean
  private pollTimer: NodeJS.Timeout | undefined

  constructor(options: { readonly readOnly: boolean; readonly clock: Clock; readonly log?: MaintenanceLog; readonly shared?: SharedMaintenanceMode }) {
    this.readOnlyNow = options.readOnly
    this.configuredReadOnly = options.readOnly
    this.clock = options.clock
    this.since = options.clock.now()
    this.log = options.log
    this.shared = options.shared
  }

  /**
   * With a shared store: adopts the mode kept there (a configured read-only start wins over a
   * kept writable mode), then looks for newer ones every second until stop(). Rejects when the
   * store cannot be read at start.
   */
  async follow(): Promise<void> {
    if (this.shared === undefined || this.pollTimer !== undefined) return
    const kept = await this.shared.readMaintenanceMode()
    if (kept !== undefined && !(this.configuredReadOnly && !kept.readOnly)) this.adopt(kept, 'kept in the shared store')
    this.pollTimer = setInterval(() => {
      this.shared!.readMaintenanceMode().then(
        (mode) => { if (mode !== undefined && mode.since > this.since) this.adopt(mode, 'set on another node') },
        (err: unknown) => this.log?.warn({ err }, 'cannot read the shared read-only mode; keeping the current one'))
    }, SHARED_MODE_POLL_MS)
    this.pollTimer.unref()
  }

  /** Stops following the shared store. */
  stop(): void {
    clearInterval(this.pollTimer)
    this.pollTimer = undefined
  }

  private adopt(mode: { readonly readOnly: boolean; readonly since: number; readonly changedBy: string }, how: string): void {
    const changed = mode.readOnly !== this.readOnlyNow
    this.readOnlyNow = mode.readOnly
    this.since = mode.since
    this.changedBy = mode.changedBy
    if (changed) this.log?.info({ readOnly: mode.readOnly, by: mode.changedBy, how, writesInFlight: this.writes }, mode.readOnly ? 'read-only mode on: writes are refused' : 'read-only mode off: writes are accepted')
  }

  get readOnly(): boolean {
    return this.readOnlyNow
  }

  status(): MaintenanceStatus {
    return { readOnly: this.readOnlyNow, since: new Date(this.since).toISOString(), changedBy: this.changedBy, writesInFlight: this.writes }
  }

  /**
   * Switches the mode (a no-op when it already is so, here and in the shared store); every change
   * is logged with who made it. With a shared store the mode is kept there first, so that a
   * failure to keep it changes nothing.
   */
  async setReadOnly(ctx: RequestContext, readOnly: boolean): Promise<MaintenanceStatus> {
    const kept = this.shared !== undefined ? await this.shared.readMaintenanceMode() : undefined
    const keptDiffers = this.shared !== undefined && kept?.readOnly !== readOnly
    if (readOnly !== this.readOnlyNow || keptDiffers) {
      const by = callerIdentity(ctx.caller)
      const since = Math.max(this.clock.now(), (kept?.since ?? 0) + 1)
      await this.shared?.writeMaintenanceMode({ readOnly, since, changedBy: by })
      const changed = readOnly !== this.readOnlyNow
      this.readOnlyNow = readOnly
      this.since = since
      this.changedBy = by
      if (changed) this.log?.info({ readOnly, by, address: ctx.origin?.address, requestId: ctx.requestId, writesInFlight: this.writes }, readOnly ? 'read-only mode on: writes are refused' : 'read-only mode off: writes are accepted')
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
