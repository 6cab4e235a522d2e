/**
 * A process forked by ipc-coordination.test.ts, at one end of a real IPC channel.
 *   node ipc-peer.js primary   hosts IpcCoordinationServer for its parent (the test is the worker)
 *   node ipc-peer.js worker    an IpcCoordination to its parent's server, driven by TEST_TAG commands
 * A worker reports on the same channel, under its own tag, what it holds and hears.
 */
import { pathToFileURL } from 'node:url'
import { IpcCoordination } from '../../src/coordination/ipc-coordination.js'
import { IpcCoordinationServer } from '../../src/coordination/ipc-coordination-server.js'
import type { Lease } from '../../src/coordination/coordination.js'

export const TEST_TAG = 'wharf:test-peer'

export type PeerCommand =
  | { readonly cmd: 'lock' | 'tryLock'; readonly id: number; readonly keys: readonly string[] }
  | { readonly cmd: 'release' | 'releaseLease'; readonly id: number }
  | { readonly cmd: 'lease'; readonly id: number; readonly name: string }
  | { readonly cmd: 'invalidate'; readonly id: number; readonly repo: string | null }

export type PeerEvent =
  | { readonly event: 'ready' }
  | { readonly event: 'holding' | 'released' | 'refused' | 'invalidated'; readonly id: number }
  | { readonly event: 'leased'; readonly id: number; readonly held: boolean }
  | { readonly event: 'heard'; readonly repo: string | null }
  | { readonly event: 'failed'; readonly id: number; readonly message: string }

function report(event: PeerEvent): void {
  process.send!({ tag: TEST_TAG, ...event })
}

/** Runs only as a forked process: the test imports the protocol from here. */
const forked = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href

if (forked && process.argv[2] === 'primary') {
  new IpcCoordinationServer().attach(process, 'the test process')
  // Messages that come before a listener are dropped: the test waits for this.
  report({ event: 'ready' })
} else if (forked) {
  const coordination = new IpcCoordination(process)
  const releases = new Map<number, () => void>()
  const leases = new Map<number, Lease>()
  coordination.onInvalidate((repo) => report({ event: 'heard', repo: repo ?? null }))
  const hold = (id: number) => () => new Promise<void>((resolve) => {
    releases.set(id, resolve)
    report({ event: 'holding', id })
  })
  const run = async (command: PeerCommand): Promise<void> => {
    switch (command.cmd) {
      case 'lock':
        await (command.keys.length === 1 ? coordination.lock(command.keys[0]!, hold(command.id)) : coordination.lockAll(command.keys, hold(command.id)))
        report({ event: 'released', id: command.id })
        return
      case 'tryLock':
        if (await coordination.tryLock(command.keys[0]!, hold(command.id)) === undefined) report({ event: 'refused', id: command.id })
        else report({ event: 'released', id: command.id })
        return
      case 'release':
        releases.get(command.id)?.()
        return
      case 'lease': {
        const lease = await coordination.lease(command.name)
        if (lease !== undefined) leases.set(command.id, lease)
        report({ event: 'leased', id: command.id, held: lease !== undefined })
        return
      }
      case 'releaseLease':
        await leases.get(command.id)?.release()
        return
      case 'invalidate':
        await coordination.invalidate(command.repo ?? undefined)
        report({ event: 'invalidated', id: command.id })
    }
  }
  process.on('message', (message: { tag?: unknown } & PeerCommand) => {
    if (message?.tag !== TEST_TAG) return
    run(message).catch((err: unknown) => report({ event: 'failed', id: message.id, message: String(err) }))
  })
  report({ event: 'ready' })
}
