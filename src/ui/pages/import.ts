import { html, type Html } from '../html.js'
import { page } from '../layout.js'
import type { Viewer } from '../viewer.js'

/**
 * `/import`: the upload form. The script sends the archive with XMLHttpRequest (upload progress)
 * to POST /_wharf/v1/repositories/<repository>/import with the tags as `tag` query parameters.
 * Field names are part of the contract (tests fill them): repository, tags, archive.
 */
export function importPage(viewer: Viewer): Html {
  const body = html`<h1>Import an image archive</h1>
<p>A <code>docker save</code> tarball, an <code>oci-archive</code> or a tarred OCI layout. Every image lands with its digests unchanged.
The same from a shell: <code>wharf import FILE --repository NAME --tag TAG</code>.</p>
<form id="import-form" class="stack" method="post" enctype="multipart/form-data" action="/import">
<label>Repository <input type="text" name="repository" required autocomplete="off" spellcheck="false" pattern="[a-z0-9]+([._\\-\\/][a-z0-9]+)*" placeholder="team/app"></label>
<label>Tags <input type="text" name="tags" autocomplete="off" spellcheck="false" placeholder="latest, 1.2.3" aria-describedby="tags-help">
<span id="tags-help" class="muted">Separated by commas or spaces; empty: the archive's own tags.</span></label>
<label>Archive <input type="file" name="archive" required accept=".tar,.tar.gz,.tgz,application/x-tar"></label>
<div><button type="submit" class="primary">Import</button></div>
<progress id="import-progress" max="100" value="0" hidden aria-label="Upload progress"></progress>
<p id="import-status" class="status" role="status" aria-live="polite"></p>
<ul id="import-result"></ul>
</form>
<noscript><p class="error">The import needs JavaScript in this browser; without it use <code>wharf import</code> or <code>curl -F archive=@FILE</code>.</p></noscript>`
  return page({ title: 'Import', section: 'import', viewer, body })
}
