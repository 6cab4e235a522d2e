import type { Test } from 'tap'
import { RegistryClient } from './registry-client.js'
import { startWharf, type StartWharfOptions, type WharfProcess } from './wharf-process.js'

export interface TestServer {
  readonly wharf: WharfProcess
  readonly client: RegistryClient
}

/** Starts a real `wharf serve` for `t` (a file's tap or one subtest) and stops it, storage removed, at teardown. */
export async function startTestServer(t: Test, options: StartWharfOptions & { keepStorage?: boolean } = {}): Promise<TestServer> {
  const wharf = await startWharf(options)
  t.teardown(() => wharf.stop({ removeStorage: !options.keepStorage }))
  return { wharf, client: new RegistryClient(wharf.url) }
}

/** Log lines of level error (50) or worse: requests that failed with a server error. */
export function serverErrors(wharf: WharfProcess): string[] {
  return wharf.logs.filter((line) => {
    try {
      return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50
    } catch {
      return false
    }
  })
}
