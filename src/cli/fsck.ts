import { createLogger } from '../logging.js'
import { checkStore } from '../registry/fsck.js'
import { compose } from './composition.js'
import type { ParsedArgs } from './args.js'
import { configFromArgs } from './serve.js'
import { lockStorage } from './storage-lock.js'

/** `wharf fsck [--repair] [--json]`: exit 0 when the store is consistent, 1 when problems were found. */
export async function fsck(args: ParsedArgs): Promise<number> {
  const config = await configFromArgs(args, ['repair', 'json'])
  const repair = args.options.get('repair') === true
  // Even without --repair: beside a server, uploads and commits in flight would read as damage.
  const lock = await lockStorage(config.storage.path, `wharf fsck${repair ? ' --repair' : ''}`, 'stop the server before fsck')
  // compose closes what it opened if it fails; the lock is ours to release.
  const wharf = await compose(config, { logger: () => createLogger('error') }, { holder: `wharf fsck${repair ? ' --repair' : ''}`, alone: true })
    .catch(async (err: unknown) => { await lock.release(); throw err })
  const { registry } = wharf
  try {
    const report = await checkStore(registry.metadata, registry.store, { repair, isCached: (repo) => registry.proxy.isCached(repo) })
    if (args.options.get('json') === true) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
    } else {
      const lines = [
        `checked ${report.blobsChecked} blob files (${report.bytesVerified} bytes re-hashed) and ${report.manifestsChecked} manifests`,
        `missing blobs: ${report.missingBlobs.length}`,
        `corrupt blobs: ${report.corruptBlobs.length}`,
        `orphan blob files: ${report.orphanFiles.length}`,
        `corrupt manifests: ${report.corruptManifests.length}`,
        `links without blob: ${report.linksWithoutBlob}`,
        `tags without manifest: ${report.tagsWithoutManifest}`,
        `references missing from their repository: ${report.missingReferences.length}`,
        ...(report.notYetCached > 0 ? [`references the pull-through cache has not fetched yet: ${report.notYetCached}`] : []),
        `upload files without session: ${report.uploadFilesWithoutSession}`,
        `upload sessions without file: ${report.uploadSessionsWithoutFile}`,
        report.ok ? 'store is consistent' : repair ? 'problems found and repaired where possible' : 'problems found (run with --repair to fix what can be fixed)',
      ]
      for (const c of report.corruptBlobs) lines.push(`  corrupt ${c.digest}: ${c.reason}`)
      for (const r of report.missingReferences) lines.push(`  ${r.repo}@${r.manifest} references missing ${r.kind} ${r.child}`)
      process.stdout.write(`${lines.join('\n')}\n`)
    }
    return report.ok ? 0 : 1
  } finally {
    try {
      await wharf.close()
    } finally {
      await lock.release()
    }
  }
}
