import { createHmac } from 'node:crypto'
import { RegistryClient, startWharf, tempDir, writeConfig, type WharfProcess } from '../support/index.js'
import type { EndpointConfig, EndpointStatus } from './receiver.js'

/** `wharf serve` (a real child process) with these webhook endpoints, on `storage` if given. */
export async function startWithEndpoints(endpoints: readonly EndpointConfig[], storage?: string, extra: Record<string, unknown> = {}): Promise<{ wharf: WharfProcess; client: RegistryClient }> {
  const file = await writeConfig(await tempDir('hooks'), { ...extra, notifications: { endpoints } })
  const wharf = await startWharf({ extraArgs: ['--config', file], ...(storage !== undefined ? { storage } : {}) })
  return { wharf, client: new RegistryClient(wharf.url) }
}

export async function endpointStatus(client: RegistryClient, name: string): Promise<EndpointStatus> {
  const { endpoints } = await client.getJson<{ endpoints: EndpointStatus[] }>('/_wharf/v1/notifications')
  const found = endpoints.find((e) => e.name === name)
  if (found === undefined) throw new Error(`no endpoint ${name} in the admin API`)
  return found
}

export function expectedSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}
