import type { ManifestKind, Platform } from '../registry/browse-types.js'
import { formatPlatform, formatTime, isoTime, kindLabel, shortDigest } from './format.js'
import { html, type Html } from './html.js'
import { exportHref } from './links.js'

/** Small parts several pages show alike. */

export function kindBadge(kind: ManifestKind | string): Html {
  return html`<span class="badge ${kind}">${kindLabel(kind)}</span>`
}

export function copyButton(text: string, label: string): Html {
  return html`<button type="button" class="copy" data-copy="${text}" aria-label="${label}">Copy</button>`
}

/** A digest shortened, its full value in the title and on the copy button. */
export function digestCell(digest: string, reference: string): Html {
  return html`<code title="${digest}">${shortDigest(digest)}</code> ${copyButton(reference, `Copy ${reference}`)}`
}

export function platformsText(platforms: readonly Platform[]): Html {
  if (platforms.length === 0) return html`<span class="muted">—</span>`
  return html`${platforms.map((p, i) => html`${i > 0 ? ', ' : ''}<span class="mono">${formatPlatform(p)}</span>`)}`
}

export function timeText(ms: number): Html {
  return html`<time datetime="${isoTime(ms)}">${formatTime(ms)}</time>`
}

/** The pull commands of a tag (docker, podman, crane) and its digest reference, each with a copy button. */
export function pullCommands(host: string, name: string, tag: string | undefined, digest: string): Html {
  const byTag = tag !== undefined ? `${host}/${name}:${tag}` : undefined
  const byDigest = `${host}/${name}@${digest}`
  const ref = byTag ?? byDigest
  const commands = [`docker pull ${ref}`, `podman pull ${ref}`, `crane pull ${ref} image.tar`, `crane digest ${ref}`, byDigest]
  return html`<div class="cmds">${commands.map((cmd) => html`<div class="cmd"><code>${cmd}</code>${copyButton(cmd, `Copy ${cmd}`)}</div>`)}</div>`
}

export function exportLinks(name: string, reference: string): Html {
  return html`Export: <a href="${exportHref(name, reference, 'oci')}" download>OCI archive</a> · <a href="${exportHref(name, reference, 'docker')}" download>docker save archive</a>`
}

/** The <dialog> the script fills with a delete preview; buttons with data-delete-repo open it. */
export function deleteDialog(): Html {
  return html`<dialog id="delete-dialog" aria-labelledby="delete-title">
<form method="dialog">
<h2 id="delete-title">Delete</h2>
<div class="body" aria-live="polite"></div>
<p class="status" role="status"></p>
<div class="actions"><button value="cancel" autofocus>Cancel</button><button value="confirm" class="danger primary" disabled>Delete</button></div>
</form>
</dialog>`
}

export function deleteButton(name: string, target: { readonly tag: string } | { readonly digest: string }, after?: string): Html {
  const label = 'tag' in target ? `Delete tag ${target.tag}` : `Delete manifest ${target.digest}`
  return html`<button type="button" class="danger" data-delete-repo="${name}" ${'tag' in target ? html`data-tag="${target.tag}"` : html`data-digest="${target.digest}"`}${after !== undefined ? html` data-after="${after}"` : ''} aria-label="${label}">Delete</button>`
}
