import type { RepositoryPage } from '../../registry/browse-types.js'
import { formatBytes, formatCount, plural, formatTime, isoTime } from '../format.js'
import { html, type Html } from '../html.js'
import { page } from '../layout.js'
import { queryString, repositoryHref } from '../links.js'
import type { Viewer } from '../viewer.js'

export interface RepositoriesView {
  readonly result: RepositoryPage
  readonly filter: string
  readonly cursor?: string
}

/** `/`: every repository the viewer may pull, filtered as they type (the form works without the script too). */
export function repositoriesPage(viewer: Viewer, view: RepositoriesView): Html {
  const { result, filter } = view
  const rows = result.repositories.map((repo) => html`<tr>
<td class="name"><a href="${repositoryHref(repo.name)}">${repo.name}</a>${repo.cached === true ? html` <span class="badge">cache</span>` : ''}</td>
<td class="num">${formatCount(repo.tagCount)}</td>
<td class="num">${formatBytes(repo.logicalBytes)}</td>
<td class="num hide-narrow">${formatBytes(repo.exclusiveBytes)}</td>
<td class="hide-narrow">${repo.lastPushedAt === null ? html`<span class="muted">never</span>` : html`<time datetime="${isoTime(repo.lastPushedAt)}">${formatTime(repo.lastPushedAt)}</time>`}</td>
</tr>`)
  const count = filter === ''
    ? plural(result.total, 'repository', 'repositories')
    : `${formatCount(result.total)} matching “${filter}”`
  const body = html`<h1>Repositories</h1>
<form class="toolbar" method="get" action="/" role="search" data-live>
<label>Filter by name <input type="search" name="q" value="${filter}" autocomplete="off" spellcheck="false" placeholder="e.g. library/alpine"></label>
<button type="submit">Filter</button>
</form>
<div id="results">
<p id="result-count" class="status">${count}</p>
${result.repositories.length === 0 ? html`<p>No repository${filter === '' ? ' yet: push one, or import an archive.' : ' matches.'}</p>` : html`<div class="table-wrap"><table>
<caption class="sr-only">Repositories</caption>
<thead><tr><th scope="col">Name</th><th scope="col" class="num">Tags</th><th scope="col" class="num">Size</th><th scope="col" class="num hide-narrow">Exclusive</th><th scope="col" class="hide-narrow">Last push</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>`}
${pager(filter, view.cursor, result.next)}
</div>`
  return page({ title: 'Repositories', section: 'repositories', viewer, body })
}

function pager(filter: string, cursor: string | undefined, next: string | undefined): Html {
  if (cursor === undefined && next === undefined) return html``
  return html`<nav class="pager" aria-label="Pages">
${cursor !== undefined ? html`<a href="/${queryString({ q: filter })}">First page</a>` : ''}
${next !== undefined ? html`<a href="/${queryString({ q: filter, cursor: next })}" rel="next">Next page</a>` : ''}
</nav>`
}
