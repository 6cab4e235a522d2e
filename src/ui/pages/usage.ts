import type { DiskUsage, RepositoryUsage } from '../../metadata/metadata-store.js'
import type { GcReport } from '../../gc/collector.js'
import { formatBytes, formatCount, plural } from '../format.js'
import { html, type Html } from '../html.js'
import { page } from '../layout.js'
import { queryString, repositoryHref } from '../links.js'
import { timeText } from '../pieces.js'
import type { Viewer } from '../viewer.js'

export type UsageView = DiskUsage & {
  readonly lastCollection: GcReport | null
  readonly lastPreview: GcReport | null
  /** 1-based page of the repositories (or of the tags, with `repository`). */
  readonly page: number
  /** Per-tag detail of this repository only. */
  readonly repository?: string
}

/** Repositories a page: the 50 largest fit a screen and the page stays small whatever the registry's size. */
export const USAGE_PAGE_SIZE = 50
/** Tags a page in one repository's detail. */
export const USAGE_TAGS_PAGE_SIZE = 100

/** Percent of `max`, whole, for a .wN class; at least 1 for anything above zero, so small repositories still show. */
function percent(value: number, max: number): number {
  if (max <= 0 || value <= 0) return 0
  return Math.max(1, Math.min(100, Math.round((value / max) * 100)))
}

/** A bar: exclusive bytes, then shared, as parts of the largest repository's logical size. */
function bar(repo: RepositoryUsage, max: number): Html {
  const shared = Math.max(0, repo.logicalBytes - repo.exclusiveBytes)
  return html`<div class="bar" role="img" aria-label="${formatBytes(repo.exclusiveBytes)} exclusive, ${formatBytes(shared)} shared"><span class="excl w${percent(repo.exclusiveBytes, max)}"></span><span class="shared w${percent(shared, max)}"></span></div>`
}

function usageHref(query: Readonly<Record<string, string | undefined>>): string {
  return `/usage${queryString(query)}`
}

function pager(pageNumber: number, pages: number, base: Readonly<Record<string, string | undefined>>): Html {
  if (pages <= 1) return html``
  return html`<nav class="pager" aria-label="Pages">
${pageNumber > 1 ? html`<a href="${usageHref({ ...base, page: pageNumber > 2 ? String(pageNumber - 1) : undefined })}" rel="prev">Previous page</a>` : ''}
<span class="muted">Page ${formatCount(pageNumber)} of ${formatCount(pages)}</span>
${pageNumber < pages ? html`<a href="${usageHref({ ...base, page: String(pageNumber + 1) })}" rel="next">Next page</a>` : ''}
</nav>`
}

function finishedAt(report: GcReport): number {
  return Date.parse(report.startedAt) + report.durationMs
}

// The latest preview's figure, else what the last collection freed: a dry run per view would scan
// the whole store (tens of seconds at 10,000 repositories). A fresh figure is one click away.
function reclaimableCard(preview: GcReport | null, last: GcReport | null): Html {
  if (preview !== null) return html`<div class="card">A collection would free<b>${formatBytes(preview.bytesFreed)}</b><span class="muted">preview of ${timeText(finishedAt(preview))} · <a href="/gc">preview again</a></span></div>`
  if (last === null) return html`<div class="card">Last collection freed<b>none yet</b><a href="/gc">Preview a collection</a></div>`
  return html`<div class="card">Last collection freed<b>${formatBytes(last.bytesFreed)}</b><span class="muted">${timeText(finishedAt(last))} · <a href="/gc">preview now</a></span></div>`
}

/** One repository's tags, largest first, paged. */
function tagDetail(usage: UsageView, name: string): Html {
  const repo = usage.repositories.find((r) => r.name === name)
  if (repo === undefined) return html`<p class="crumbs"><a href="/usage">Disk usage</a> /</p><h1>${name}</h1><p>No such repository.</p>`
  const tags = [...repo.tags ?? []].sort((a, b) => b.bytes - a.bytes || a.tag.localeCompare(b.tag))
  const pages = Math.max(1, Math.ceil(tags.length / USAGE_TAGS_PAGE_SIZE))
  const pageNumber = Math.min(usage.page, pages)
  const shown = tags.slice((pageNumber - 1) * USAGE_TAGS_PAGE_SIZE, pageNumber * USAGE_TAGS_PAGE_SIZE)
  const max = tags[0]?.bytes ?? 0
  return html`<p class="crumbs"><a href="/usage">Disk usage</a> /</p>
<h1>${name}</h1>
<div class="cards">
<div class="card">Logical<b>${formatBytes(repo.logicalBytes)}</b></div>
<div class="card">Exclusive<b>${formatBytes(repo.exclusiveBytes)}</b><span class="muted">freed if the repository goes</span></div>
<div class="card">Tags<b>${formatCount(tags.length)}</b><a href="${repositoryHref(name)}">Browse the tags</a></div>
</div>
${shown.length === 0 ? html`<p>No tag.</p>` : html`<div class="table-wrap"><table>
<caption class="sr-only">Size of each tag of ${name}, largest first</caption>
<thead><tr><th scope="col">Tag</th><th scope="col" class="num">Size</th><th scope="col">Share of the largest</th></tr></thead>
<tbody>${shown.map((t) => html`<tr><th scope="row" class="name mono">${t.tag}</th><td class="num">${formatBytes(t.bytes)}</td><td><div class="bar" role="img" aria-label="${formatBytes(t.bytes)}"><span class="excl w${percent(t.bytes, max)}"></span></div></td></tr>`)}</tbody>
</table></div>`}
${pager(pageNumber, pages, { repository: name })}`
}

/** `/usage` (admins): totals, then the repositories largest first, a page at a time; `?repository=` one repository's tags. */
export function usagePage(viewer: Viewer, usage: UsageView): Html {
  if (usage.repository !== undefined) return page({ title: `Disk usage: ${usage.repository}`, section: 'usage', viewer, body: tagDetail(usage, usage.repository) })
  const repositories = [...usage.repositories].sort((a, b) => b.logicalBytes - a.logicalBytes || a.name.localeCompare(b.name))
  const pages = Math.max(1, Math.ceil(repositories.length / USAGE_PAGE_SIZE))
  const pageNumber = Math.min(usage.page, pages)
  const first = (pageNumber - 1) * USAGE_PAGE_SIZE
  // Bars are shares of the largest repository overall, so they compare across pages.
  const max = repositories[0]?.logicalBytes ?? 0
  const rows = repositories.slice(first, first + USAGE_PAGE_SIZE).map((repo) => {
    const shared = Math.max(0, repo.logicalBytes - repo.exclusiveBytes)
    return html`<tr>
<th scope="row" class="name"><a href="${repositoryHref(repo.name)}">${repo.name}</a>${repo.cached === true ? html` <span class="badge">cache</span>` : ''}</th>
<td class="num">${formatBytes(repo.logicalBytes)}</td>
<td class="num">${formatBytes(repo.exclusiveBytes)}</td>
<td class="num hide-narrow">${formatBytes(shared)}</td>
<td class="bar-cell">${bar(repo, max)}</td>
<td><a href="${usageHref({ repository: repo.name })}" aria-label="Tag sizes of ${repo.name}">Tags</a></td>
</tr>`
  })
  const body = html`<h1>Disk usage</h1>
<div class="cards">
<div class="card">Stored<b>${formatBytes(usage.blobs.bytes + usage.manifests.bytes)}</b><span class="muted">${plural(usage.blobs.count, 'blob')}, ${plural(usage.manifests.count, 'manifest')}</span></div>
<div class="card">Shared between repositories<b>${formatBytes(usage.sharedBytes)}</b></div>
${reclaimableCard(usage.lastPreview, usage.lastCollection)}
<div class="card">Repositories<b>${formatCount(usage.repositories.length)}</b></div>
</div>
<p class="legend"><span><i class="excl"></i>exclusive: freed if the repository goes</span><span><i class="shared"></i>shared with other repositories</span></p>
${rows.length === 0 ? html`<p>Nothing stored yet.</p>` : html`<p class="status">Largest first: ${formatCount(first + 1)}–${formatCount(first + rows.length)} of ${plural(repositories.length, 'repository', 'repositories')}</p>
<div class="table-wrap"><table>
<caption class="sr-only">Disk usage per repository, largest first</caption>
<thead><tr><th scope="col">Repository</th><th scope="col" class="num">Logical</th><th scope="col" class="num">Exclusive</th><th scope="col" class="num hide-narrow">Shared</th><th scope="col">Share of the largest</th><th scope="col"><span class="sr-only">Per tag</span></th></tr></thead>
<tbody>${rows}</tbody></table></div>`}
${pager(pageNumber, pages, {})}`
  return page({ title: 'Disk usage', section: 'usage', viewer, body })
}
