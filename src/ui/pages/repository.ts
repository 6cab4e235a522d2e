import type { TagPage, TagSort } from '../../registry/browse-types.js'
import { formatBytes, plural } from '../format.js'
import { html, type Html } from '../html.js'
import { page } from '../layout.js'
import { manifestHref, repositoryHref } from '../links.js'
import { deleteButton, deleteDialog, digestCell, exportLinks, kindBadge, platformsText, pullCommands, timeText } from '../pieces.js'
import type { Viewer } from '../viewer.js'

export interface RepositoryView {
  readonly result: TagPage
  readonly filter: string
  readonly sort: TagSort
  readonly cursor?: string
}

/** `/repositories/<name>`: its tags, sorted and filtered, with pull commands, exports and (if allowed) delete. */
export function repositoryPage(viewer: Viewer, view: RepositoryView): Html {
  const { result, filter, sort } = view
  const name = result.repository
  const canDelete = result.can.delete
  const rows = result.tags.map((tag) => html`<tr>
<th scope="row" class="name"><a href="${manifestHref(name, tag.digest)}">${tag.tag}</a></th>
<td>${kindBadge(tag.kind)}</td>
<td class="hide-narrow">${platformsText(tag.platforms)}</td>
<td class="num">${formatBytes(tag.size)}</td>
<td class="hide-narrow">${timeText(tag.pushedAt)}</td>
<td class="hide-narrow">${digestCell(tag.digest, `${name}@${tag.digest}`)}</td>
<td><details><summary>Pull</summary>${pullCommands(viewer.host, name, tag.tag, tag.digest)}<p>${exportLinks(name, tag.tag)}</p></details></td>
${canDelete ? html`<td>${deleteButton(name, { tag: tag.tag })}</td>` : ''}
</tr>`)
  const count = filter === '' ? plural(result.total, 'tag') : `${plural(result.total, 'tag')} matching “${filter}”`
  const body = html`<p class="crumbs"><a href="/">Repositories</a> /</p>
<h1>${name}</h1>
<form class="toolbar" method="get" action="${repositoryHref(name)}" role="search" data-live>
<label>Filter tags <input type="search" name="q" value="${filter}" autocomplete="off" spellcheck="false"></label>
<label>Sort <select name="sort"><option value="name"${sort === 'name' ? html` selected` : ''}>by name</option><option value="time"${sort === 'time' ? html` selected` : ''}>newest first</option></select></label>
<button type="submit">Apply</button>
</form>
<div id="results">
<p id="result-count" class="status">${count}</p>
${result.tags.length === 0 ? html`<p>No tag${filter === '' ? '.' : ' matches.'}</p>` : html`<div class="table-wrap"><table>
<caption class="sr-only">Tags of ${name}</caption>
<thead><tr><th scope="col">Tag</th><th scope="col">Kind</th><th scope="col" class="hide-narrow">Platforms</th><th scope="col" class="num">Size</th><th scope="col" class="hide-narrow">Pushed</th><th scope="col" class="hide-narrow">Digest</th><th scope="col">Pull</th>${canDelete ? html`<th scope="col"><span class="sr-only">Delete</span></th>` : ''}</tr></thead>
<tbody>${rows}</tbody>
</table></div>`}
${pager(name, filter, sort, view.cursor, result.next)}
</div>
${canDelete ? deleteDialog() : ''}`
  return page({ title: name, section: 'repositories', viewer, body })
}

function pager(name: string, filter: string, sort: TagSort, cursor: string | undefined, next: string | undefined): Html {
  if (cursor === undefined && next === undefined) return html``
  const base = { q: filter, sort: sort === 'name' ? undefined : sort }
  return html`<nav class="pager" aria-label="Pages">
${cursor !== undefined ? html`<a href="${repositoryHref(name, base)}">First page</a>` : ''}
${next !== undefined ? html`<a href="${repositoryHref(name, { ...base, cursor: next })}" rel="next">Next page</a>` : ''}
</nav>`
}
