import type { DiskUsage, RepositoryUsage } from '../../metadata/metadata-store.js'
import { formatBytes, formatCount } from '../format.js'
import { html, type Html } from '../html.js'
import { page } from '../layout.js'
import { repositoryHref } from '../links.js'
import type { Viewer } from '../viewer.js'

export type UsageView = DiskUsage & { readonly reclaimableBytes: number | null }

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

/** `/usage` (admins): totals, then each repository largest first, with its tags on demand. */
export function usagePage(viewer: Viewer, usage: UsageView): Html {
  const repositories = [...usage.repositories].sort((a, b) => b.logicalBytes - a.logicalBytes || a.name.localeCompare(b.name))
  const max = repositories[0]?.logicalBytes ?? 0
  const rows = repositories.map((repo) => {
    const shared = Math.max(0, repo.logicalBytes - repo.exclusiveBytes)
    const tags = [...repo.tags ?? []].sort((a, b) => b.bytes - a.bytes)
    return html`<tr>
<th scope="row" class="name"><a href="${repositoryHref(repo.name)}">${repo.name}</a>${repo.cached === true ? html` <span class="badge">cache</span>` : ''}
${tags.length > 0 ? html`<details><summary>${formatCount(tags.length)} tags</summary><ul>${tags.map((t) => html`<li><span class="mono">${t.tag}</span> ${formatBytes(t.bytes)}</li>`)}</ul></details>` : ''}</th>
<td class="num">${formatBytes(repo.logicalBytes)}</td>
<td class="num">${formatBytes(repo.exclusiveBytes)}</td>
<td class="num hide-narrow">${formatBytes(shared)}</td>
<td>${bar(repo, max)}</td>
</tr>`
  })
  const body = html`<h1>Disk usage</h1>
<div class="cards">
<div class="card">Stored<b>${formatBytes(usage.blobs.bytes + usage.manifests.bytes)}</b><span class="muted">${formatCount(usage.blobs.count)} blobs, ${formatCount(usage.manifests.count)} manifests</span></div>
<div class="card">Shared between repositories<b>${formatBytes(usage.sharedBytes)}</b></div>
<div class="card">A collection would free<b>${usage.reclaimableBytes === null ? 'unknown' : formatBytes(usage.reclaimableBytes)}</b>${usage.reclaimableBytes === null ? html`<span class="muted">a collection is running</span>` : html`<a href="/gc">Garbage collection</a>`}</div>
<div class="card">Repositories<b>${formatCount(usage.repositories.length)}</b></div>
</div>
<p class="legend"><span><i class="excl"></i>exclusive: freed if the repository goes</span><span><i class="shared"></i>shared with other repositories</span></p>
${rows.length === 0 ? html`<p>Nothing stored yet.</p>` : html`<div class="table-wrap"><table>
<caption class="sr-only">Disk usage per repository, largest first</caption>
<thead><tr><th scope="col">Repository</th><th scope="col" class="num">Logical</th><th scope="col" class="num">Exclusive</th><th scope="col" class="num hide-narrow">Shared</th><th scope="col">Share of the largest</th></tr></thead>
<tbody>${rows}</tbody></table></div>`}`
  return page({ title: 'Disk usage', section: 'usage', viewer, body })
}
