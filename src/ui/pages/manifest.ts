import type { ImageConfigSummary, ManifestDetail } from '../../registry/browse-types.js'
import { formatBytes, formatCount, plural, shortDigest } from '../format.js'
import { html, type Html, type Interpolation } from '../html.js'
import { page } from '../layout.js'
import { manifestHref, repositoryHref } from '../links.js'
import { copyButton, deleteButton, deleteDialog, exportLinks, kindBadge, platformsText, pullCommands, timeText } from '../pieces.js'
import type { Viewer } from '../viewer.js'

/** Kinds that are not runnable images, said plainly rather than shown as broken ones. */
const KIND_NOTES: Readonly<Record<string, string>> = {
  'buildkit-cache': 'A BuildKit build cache (buildx --cache-to type=registry): its layers are cache records for later builds, not an image to run.',
  attestation: 'An attestation manifest (provenance or SBOM in in-toto statements) that BuildKit attached to an index: not an image to run.',
  signature: 'A signature of the manifest named as its subject.',
  sbom: 'A software bill of materials of the manifest named as its subject.',
  artifact: 'An OCI artifact: content other than a container image.',
}

/** `/repositories/<name>/manifests/<digest>`: an image, index or artifact in full. */
export function manifestPage(viewer: Viewer, detail: ManifestDetail): Html {
  const name = detail.repository
  const tag = detail.tags[0]
  const note = KIND_NOTES[detail.kind]
  const body = html`<p class="crumbs"><a href="/">Repositories</a> / <a href="${repositoryHref(name)}">${name}</a> /</p>
<h1>${name}@${shortDigest(detail.digest)} ${kindBadge(detail.kind)}</h1>
${note !== undefined ? html`<p class="muted">${note}</p>` : ''}
<dl class="facts">
<dt>Digest</dt><dd><code>${detail.digest}</code> ${copyButton(`${name}@${detail.digest}`, 'Copy the digest reference')}</dd>
<dt>Media type</dt><dd class="mono">${detail.mediaType}</dd>
${detail.artifactType !== undefined && detail.kind !== 'image' ? html`<dt>Artifact type</dt><dd class="mono">${detail.artifactType}</dd>` : ''}
<dt>Size</dt><dd>${formatBytes(detail.totalSize)} <span class="muted">(manifest ${formatBytes(detail.size)})</span></dd>
<dt>Tags</dt><dd>${detail.tags.length === 0 ? html`<span class="muted">none</span>` : detail.tags.map((t, i) => html`${i > 0 ? ', ' : ''}<span class="mono">${t}</span>`)}</dd>
</dl>
${annotationsSection('Annotations', detail.annotations)}
<h2>Pull</h2>
${pullCommands(viewer.host, name, tag, detail.digest)}
<p>${exportLinks(name, detail.digest)}${detail.can.delete ? html` · ${deleteButton(name, { digest: detail.digest }, repositoryHref(name))}` : ''}</p>
${childrenSection(name, detail)}
${detail.subject !== undefined ? html`<h2>Subject</h2><p>Refers to ${detail.subject.present ? html`<a href="${manifestHref(name, detail.subject.digest)}" class="mono">${detail.subject.digest}</a>` : html`<span class="mono">${detail.subject.digest}</span> <span class="muted">(not stored here)</span>`} <span class="muted">${detail.subject.mediaType}</span></p>` : ''}
${referrersSection(name, detail)}
${detail.config !== undefined ? configSection(detail.config) : ''}
${layersSection(detail)}
<h2>Raw manifest</h2>
<pre tabindex="0" aria-label="Raw manifest"><code>${pretty(detail.body)}</code></pre>
${detail.can.delete ? deleteDialog() : ''}`
  return page({ title: `${name}@${shortDigest(detail.digest)}`, section: 'repositories', viewer, body })
}

function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2)
  } catch {
    return body
  }
}

function table(caption: string, headers: readonly Interpolation[], rows: readonly Html[]): Html {
  return html`<div class="table-wrap"><table><caption class="sr-only">${caption}</caption>
<thead><tr>${headers.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`
}

type IndexEntry = NonNullable<ManifestDetail['children']>[number]

/**
 * An entry's platform; BuildKit's attestations say unknown/unknown there and name the image they
 * describe in an annotation, shown instead ("for linux/amd64").
 */
function childPlatform(entries: readonly IndexEntry[], entry: IndexEntry): Html {
  const subject = entry.annotations?.['vnd.docker.reference.digest']
  const of = entry.kind === 'attestation' && subject !== undefined ? entries.find((e) => e.digest === subject) : undefined
  if (of !== undefined) return html`<span class="muted">for</span> ${of.platform !== undefined ? platformsText([of.platform]) : shortDigest(of.digest)}`
  return entry.platform !== undefined ? platformsText([entry.platform]) : html`<span class="muted">—</span>`
}

function childrenSection(name: string, detail: ManifestDetail): Html {
  if (detail.children === undefined) return html``
  const rows = detail.children.map((child) => html`<tr>
<td>${childPlatform(detail.children!, child)}</td>
<td>${kindBadge(child.kind)}</td>
<td>${child.present ? html`<a href="${manifestHref(name, child.digest)}" class="mono">${shortDigest(child.digest)}</a>` : html`<span class="mono">${shortDigest(child.digest)}</span> <span class="muted">(not stored)</span>`}</td>
<td class="num">${formatBytes(child.size)}</td>
</tr>`)
  return html`<h2>Platforms (${plural(detail.children.length, 'manifest')})</h2>${table('Manifests of the index', ['Platform', 'Kind', 'Digest', 'Manifest size'], rows)}`
}

function referrersSection(name: string, detail: ManifestDetail): Html {
  const rows = detail.referrers.map((r) => html`<tr>
<td>${kindBadge(r.kind)}</td>
<td class="mono">${r.artifactType ?? r.mediaType}</td>
<td><a href="${manifestHref(name, r.digest)}" class="mono">${shortDigest(r.digest)}</a></td>
<td class="num">${formatBytes(r.size)}</td>
</tr>`)
  return html`<h2>Referrers</h2>${rows.length === 0 ? html`<p class="muted">No signature, SBOM or attestation refers to it.</p>` : table('Referrers', ['Kind', 'Artifact type', 'Digest', 'Size'], rows)}`
}

function line(label: string, value: Interpolation): Html {
  if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) return html``
  return html`<dt>${label}</dt><dd>${value}</dd>`
}

function words(list: readonly string[] | undefined): Html | undefined {
  return list === undefined || list.length === 0 ? undefined : html`<code>${JSON.stringify(list)}</code>`
}

/** A config's RFC 3339 time as the other pages show times; as written when it does not parse. */
function configTime(value: string | undefined): Interpolation {
  const ms = value === undefined ? NaN : Date.parse(value)
  return Number.isNaN(ms) ? value : timeText(ms)
}

function configSection(config: ImageConfigSummary): Html {
  const platform = [config.os, config.architecture, config.variant].filter((p) => p !== undefined && p !== '').join('/')
  const history = (config.history ?? []).map((h, i) => html`<tr>
<td class="num">${i + 1}</td><td class="hide-narrow">${configTime(h.created) ?? ''}</td>
<td><code>${h.createdBy ?? ''}</code>${h.comment !== undefined && h.comment !== '' ? html` <span class="muted">${h.comment}</span>` : ''}</td>
<td>${h.emptyLayer === true ? html`<span class="muted">no layer</span>` : 'layer'}</td></tr>`)
  return html`<h2>Config</h2>
<dl class="facts">
${line('Created', configTime(config.created))}${line('Author', config.author)}${line('Platform', platform)}
${line('User', config.user)}${line('Working directory', config.workingDir)}
${line('Entrypoint', words(config.entrypoint))}${line('Command', words(config.cmd))}
${line('Exposed ports', config.exposedPorts?.join(', '))}${line('Volumes', config.volumes?.join(', '))}
<dt>Config digest</dt><dd class="mono">${config.digest}</dd>
</dl>
${config.env !== undefined && config.env.length > 0 ? html`<h3>Environment</h3><ul class="mono">${config.env.map((e) => html`<li>${e}</li>`)}</ul>` : ''}
${annotationsSection('Labels', config.labels)}
${history.length > 0 ? html`<h3>History</h3>${table('History', ['#', 'Created', 'Created by', 'Layer'], history)}` : ''}`
}

function annotationsSection(title: string, map: Readonly<Record<string, string>> | undefined): Html {
  if (map === undefined || Object.keys(map).length === 0) return html``
  const rows = Object.entries(map).map(([k, v]) => html`<tr><th scope="row" class="mono">${k}</th><td class="name">${v}</td></tr>`)
  return html`<h3>${title}</h3>${table(title, ['Key', 'Value'], rows)}`
}

function layersSection(detail: ManifestDetail): Html {
  if (detail.layers === undefined) return html``
  const rows = detail.layers.map((layer, i) => html`<tr>
<td class="num">${i + 1}</td><td class="mono">${layer.mediaType}</td><td class="num">${formatBytes(layer.size)}</td>
<td class="hide-narrow"><code title="${layer.digest}">${shortDigest(layer.digest)}</code></td></tr>`)
  const total = detail.layers.reduce((sum, l) => sum + l.size, 0)
  return html`<h2>Layers (${formatCount(detail.layers.length)}, ${formatBytes(total)})</h2>
${detail.configDescriptor !== undefined ? html`<p class="muted">Config: <span class="mono">${detail.configDescriptor.mediaType}</span>, ${formatBytes(detail.configDescriptor.size)}</p>` : ''}
${table('Layers', ['#', 'Media type', 'Size', 'Digest'], rows)}`
}
