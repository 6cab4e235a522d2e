import type { GcReport } from '../../gc/collector.js'
import { formatBytes, formatCount, plural, shortDigest } from '../format.js'
import { html, type Html } from '../html.js'
import { page } from '../layout.js'
import type { Viewer } from '../viewer.js'

export interface GcView {
  readonly running: boolean
  /** The last collection's report (dry runs included), if any ran since the server started. */
  readonly lastReport?: GcReport | null
  /** The report of the collection this request ran (a preview or a real one). */
  readonly result?: GcReport
  /** Why the requested collection did not run (one already running). */
  readonly refused?: string
}

const LIST_LIMIT = 200

function list<T>(title: string, items: readonly T[], item: (value: T) => Html): Html {
  if (items.length === 0) return html``
  return html`<h3>${title} (${formatCount(items.length)})</h3><ul class="mono">${items.slice(0, LIST_LIMIT).map((v) => html`<li>${item(v)}</li>`)}</ul>
${items.length > LIST_LIMIT ? html`<p class="muted">and ${formatCount(items.length - LIST_LIMIT)} more</p>` : ''}`
}

export function gcReport(report: GcReport, heading: string): Html {
  return html`<section aria-labelledby="report-${report.dryRun ? 'preview' : 'run'}">
<h2 id="report-${report.dryRun ? 'preview' : 'run'}">${heading}</h2>
<p>${report.dryRun ? 'Would free' : 'Freed'} <strong>${formatBytes(report.bytesFreed)}</strong>:
${plural(report.tagsRemoved.length, 'tag')}, ${plural(report.manifestsRemoved.length, 'manifest')}, ${plural(report.blobsRemoved.length, 'blob')},
${plural(report.uploadsPurged, 'stale upload')}. <span class="muted">Started ${report.startedAt}, took ${formatCount(report.durationMs)} ms.</span></p>
${report.keptByGrace !== null && report.keptByGrace.bytes > 0 ? html`<p class="muted">The grace period (${report.keptByGrace.graceSeconds} s) keeps ${formatBytes(report.keptByGrace.bytes)} of recent pushes.</p>` : ''}
${list('Tags', report.tagsRemoved, (t) => html`${t.repo}:${t.tag} ${shortDigest(t.digest)}`)}
${list('Manifests', report.manifestsRemoved, (m) => html`${m.repo}@${m.digest}`)}
${list('Repositories', report.repositoriesRemoved, (r) => html`${r}`)}
${list('Blobs', report.blobsRemoved, (b) => html`${b.digest} ${formatBytes(b.size)}`)}
</section>`
}

/** `/gc` (admins): status, the last report, preview (a dry run) and collect now. */
export function gcPage(viewer: Viewer, view: GcView): Html {
  const csrf = html`<input type="hidden" name="_csrf" value="${viewer.csrf ?? ''}">`
  const body = html`<h1>Garbage collection</h1>
<p role="status">${view.running ? html`<strong>A collection is running.</strong>` : 'No collection is running.'}</p>
${view.refused !== undefined ? html`<p class="error" role="alert">${view.refused}</p>` : ''}
<div class="toolbar">
<form method="post" action="/gc">${csrf}<input type="hidden" name="dryRun" value="true"><button type="submit">Preview</button></form>
<form method="post" action="/gc">${csrf}<input type="hidden" name="dryRun" value="false"><button type="submit" class="danger">Collect now</button></form>
</div>
<p class="muted">Preview lists what a collection would remove without removing anything. Untagged manifests, blobs nothing references and stale uploads go; retention rules apply.</p>
${view.result !== undefined ? gcReport(view.result, view.result.dryRun ? 'Preview: what would go' : 'Collected') : ''}
${view.result === undefined && view.lastReport != null ? gcReport(view.lastReport, view.lastReport.dryRun ? 'Last preview' : 'Last collection') : ''}
${view.result === undefined && view.lastReport == null ? html`<p>No collection since the server started.</p>` : ''}`
  return page({ title: 'Garbage collection', section: 'gc', viewer, body })
}
