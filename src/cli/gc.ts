import { ConfigError } from '../config/config.js'
import { systemContext } from '../context/request-context.js'
import { createLogger } from '../logging.js'
import { compose } from './composition.js'
import { stringOption, type ParsedArgs } from './args.js'
import { configFromArgs, gcOptionsFrom } from './serve.js'
import { formatBytes } from './progress.js'
import { lockStorage } from './storage-lock.js'

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }

/** "90", "30s", "10m", "1h", "2d" → seconds; `option` names the flag in the error. */
export function parseDurationSeconds(text: string, option = 'grace'): number {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text.trim())
  if (match === null) throw new ConfigError(`--${option}: "${text}" is not a duration (seconds, or a number with s, m, h or d: 30s, 10m, 1h)`)
  return Number(match[1]) * DURATION_UNITS[match[2]!]!
}

/** `wharf gc [--grace DURATION] [--dry-run] [--json]`: an offline collection of a storage no server is using. */
export async function gc(args: ParsedArgs): Promise<number> {
  const config = await configFromArgs(args, ['dry-run', 'json', 'grace'])
  const dryRun = args.options.get('dry-run') === true
  const grace = stringOption(args, 'grace')
  const graceSeconds = grace !== undefined ? parseDurationSeconds(grace) : config.gc.graceSeconds
  // A dry run changes nothing and may run beside a server; a collection may not.
  const lock = dryRun ? undefined : await lockStorage(config.storage.path, 'wharf gc', 'collect online with POST /_wharf/v1/gc, or stop the server first')
  const logger = createLogger(args.options.get('json') === true ? 'warn' : 'error')
  // compose closes what it opened if it fails; the lock is ours to release.
  const wharf = await compose(config, { logger: () => logger }, dryRun ? {} : { holder: 'wharf gc' })
    .catch(async (err: unknown) => { await lock?.release(); throw err })
  const { registry } = wharf
  try {
    const report = await registry.gc.collect(systemContext('gc'), { ...gcOptionsFrom(config), graceMs: graceSeconds * 1000, dryRun })
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
      const kept = report.keptByGrace
      if (kept !== null && kept.manifests + kept.blobs > 0) {
        process.stdout.write([
          `kept by the grace period (pushed or used in the last ${formatSeconds(kept.graceSeconds)}): ` +
            `${kept.manifests} manifests, ${kept.blobs} blobs, ${formatBytes(kept.bytes)}`,
          '  to collect them now (no push in flight): wharf gc --grace 0',
          '',
        ].join('\n'))
      }
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

function formatSeconds(seconds: number): string {
  if (seconds >= 86400 && seconds % 86400 === 0) return `${seconds / 86400}d`
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600}h`
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60}m`
  return `${seconds}s`
}
