import { ConfigError } from '../config/config.js'
import { systemContext } from '../context/request-context.js'
import { createLogger } from '../logging.js'
import { compose } from './composition.js'
import type { ParsedArgs } from './args.js'
import { configFromArgs, gcOptionsFrom } from './serve.js'
import { runningServer } from './storage-lock.js'

/** `wharf gc [--dry-run] [--json]`: an offline collection of a storage no server is using. */
export async function gc(args: ParsedArgs): Promise<number> {
  const config = await configFromArgs(args, ['dry-run', 'json'])
  const dryRun = args.options.get('dry-run') === true
  const pid = await runningServer(config.storage.path)
  if (pid !== undefined && !dryRun) {
    throw new ConfigError(`a wharf server (pid ${pid}) is using ${config.storage.path}; collect online with POST /_wharf/v1/gc instead`)
  }
  const logger = createLogger(args.options.get('json') === true ? 'warn' : 'error')
  const { registry } = await compose(config, { logger: () => logger })
  try {
    const report = await registry.gc.collect(systemContext('gc'), { ...gcOptionsFrom(config), dryRun })
    if (args.options.get('json') === true) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
    } else {
      const verb = dryRun ? 'would remove' : 'removed'
      process.stdout.write([
        `${dryRun ? 'dry run: ' : ''}garbage collection ${verb}:`,
        `  tags        ${report.tagsRemoved.length}`,
        `  manifests   ${report.manifestsRemoved.length}`,
        `  blob links  ${report.linksRemoved}`,
        `  blobs       ${report.blobsRemoved.length}`,
        `  orphan files ${report.orphanFilesRemoved.length}`,
        `  uploads     ${report.uploadsPurged}`,
        `  bytes freed ${report.bytesFreed} (${formatBytes(report.bytesFreed)})`,
        `  took ${report.durationMs} ms`,
        '',
      ].join('\n'))
      for (const m of report.manifestsRemoved) process.stdout.write(`  manifest ${m.repo}@${m.digest}\n`)
      for (const t of report.tagsRemoved) process.stdout.write(`  tag ${t.repo}:${t.tag}\n`)
    }
    return 0
  } finally {
    await registry.close()
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}
