import { systemContext } from '../context/request-context.js'
import { createLogger } from '../logging.js'
import { compose } from './composition.js'
import type { ParsedArgs } from './args.js'
import { formatBytes } from './progress.js'
import { configFromArgs, gcOptionsFrom } from './serve.js'

/** `wharf du [--json] [--tags]`: where the space goes, from the metadata (safe while a server runs). */
export async function du(args: ParsedArgs): Promise<number> {
  const config = await configFromArgs(args, ['json', 'tags'])
  const { registry } = await compose(config, { logger: () => createLogger('error') })
  try {
    const usage = await registry.diskUsage(systemContext('du'), { perTag: args.options.get('tags') === true, gc: gcOptionsFrom(config) })
    if (args.options.get('json') === true) {
      process.stdout.write(`${JSON.stringify(usage, null, 2)}\n`)
      return 0
    }
    const line = (a: string, b: string, c: string): string => `${a.padEnd(48)} ${b.padStart(12)} ${c.padStart(12)}\n`
    process.stdout.write(line('REPOSITORY', 'LOGICAL', 'EXCLUSIVE'))
    for (const repo of usage.repositories) {
      process.stdout.write(line(repo.cached === true ? `${repo.name} (cached)` : repo.name, formatBytes(repo.logicalBytes), formatBytes(repo.exclusiveBytes)))
      for (const tag of repo.tags ?? []) process.stdout.write(line(`  :${tag.tag}`, formatBytes(tag.bytes), ''))
    }
    process.stdout.write(`\nblobs: ${usage.blobs.count} (${formatBytes(usage.blobs.bytes)}), manifests: ${usage.manifests.count} (${formatBytes(usage.manifests.bytes)})\n`)
    process.stdout.write(`shared between repositories: ${formatBytes(usage.sharedBytes)}\n`)
    process.stdout.write(`reclaimable by garbage collection: ${usage.reclaimableBytes === null ? 'unknown (a collection is running)' : formatBytes(usage.reclaimableBytes)}\n`)
    return 0
  } finally {
    await registry.close()
  }
}
