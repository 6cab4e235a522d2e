import { systemContext } from '../context/request-context.js'
import { createLogger } from '../logging.js'
import { compose } from './composition.js'
import type { ParsedArgs } from './args.js'
import { configFromArgs, gcOptionsFrom } from './serve.js'
import { lockStorage } from './storage-lock.js'

/** `wharf gc [--dry-run] [--json]`: an offline collection of a storage no server is using. */
export async function gc(args: ParsedArgs): Promise<number> {
  const config = await configFromArgs(args, ['dry-run', 'json'])
  const dryRun = args.options.get('dry-run') === true
  // A dry run changes nothing and may run beside a server; a collection may not.
  const lock = dryRun ? undefined : await lockStorage(config.storage.path, 'wharf gc', 'collect online with POST /_wharf/v1/gc, or stop the server first')
  const logger = createLogger(args.options.get('json') === true ? 'warn' : 'error')
  // compose closes what it opened if it fails; the lock is ours to release.
  const wharf = await compose(config, { logger: () => logger })
    .catch(async (err: unknown) => { await lock?.release(); throw err })
  const { registry } = wharf
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
    try {
      await wharf.close()
    } finally {
      await lock?.release()
    }
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}
