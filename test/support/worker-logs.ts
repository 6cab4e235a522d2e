// Which process of a `wharf serve --workers N` did what, from its log lines: every pino line
// carries the pid of the process that wrote it, workers announce themselves ("worker listening"),
// and with log.requests each request is logged ("incoming request") by the worker that took it.
import { waitFor } from './wait.js'
import type { WharfProcess } from './wharf.js'

export interface LogEntry {
  readonly pid: number
  readonly msg?: string
  readonly url?: string
  readonly signal?: string
  readonly req?: { readonly method?: string; readonly url?: string }
}

/** The JSON lines the server (primary and workers) printed so far. */
export function logEntries(server: WharfProcess): LogEntry[] {
  return server.logs.flatMap((line) => {
    try { return [JSON.parse(line) as LogEntry] } catch { return [] }
  })
}

/** Pids of the workers that said they listen, in order (replacements last). */
export function workerPids(server: WharfProcess): number[] {
  return logEntries(server).filter((e) => e.msg === 'worker listening').map((e) => e.pid)
}

/** Pids of the processes that logged an incoming request of `method` whose URL matches. */
export function servedBy(server: WharfProcess, method: string, url: (u: string) => boolean): Set<number> {
  return new Set(logEntries(server).filter((e) => e.msg === 'incoming request' && e.req?.method === method && url(e.req.url ?? '')).map((e) => e.pid))
}

/** Waits until each of `pids` has logged a request matching (the lines may come after the answers). */
export async function servedByEach(server: WharfProcess, pids: readonly number[], method: string, url: (u: string) => boolean): Promise<Set<number>> {
  return waitFor(`requests of workers ${pids.join(', ')} in the log`, async () => {
    const served = servedBy(server, method, url)
    return pids.every((pid) => served.has(pid)) && served
  }, 10_000)
}
