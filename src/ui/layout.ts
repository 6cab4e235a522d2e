import { assetUrls } from './assets.js'
import { html, type Html, type Interpolation } from './html.js'
import type { Section, Viewer } from './viewer.js'

export interface PageOptions {
  readonly title: string
  readonly section: Section
  readonly viewer: Viewer
  readonly body: Interpolation
}

function navLink(href: string, label: string, current: boolean): Html {
  return html`<li><a href="${href}"${current ? html` aria-current="page"` : ''}>${label}</a></li>`
}

/** Log in / who is logged in and log out; nothing without access control. */
function account(viewer: Viewer): Html {
  if (!viewer.accessControl) return html``
  if (viewer.user === undefined) return html`<div class="who"><a href="/login">Log in</a></div>`
  return html`<div class="who"><span>Signed in as <strong>${viewer.user}</strong></span>
<form method="post" action="/logout" class="inline"><input type="hidden" name="_csrf" value="${viewer.csrf ?? ''}"><button type="submit">Log out</button></form></div>`
}

/** Every page: skip link, header with navigation, main, and the live region scripts announce into. */
export function page(options: PageOptions): Html {
  const { viewer, section } = options
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
${viewer.csrf !== undefined ? html`<meta name="wharf-csrf" content="${viewer.csrf}">` : ''}
<title>${options.title} · Wharf</title>
<link rel="icon" href="${assetUrls.icon}" type="image/svg+xml">
<link rel="stylesheet" href="${assetUrls.css}">
<script src="${assetUrls.js}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/"><img src="${assetUrls.icon}" alt="">Wharf</a>
<nav class="main" aria-label="Main"><ul>
${navLink('/', 'Repositories', section === 'repositories')}
${viewer.admin && navLink('/usage', 'Disk usage', section === 'usage')}
${viewer.admin && navLink('/gc', 'Garbage collection', section === 'gc')}
${viewer.mayImport && navLink('/import', 'Import', section === 'import')}
</ul></nav>
${account(viewer)}
</header>
<main id="main" tabindex="-1">
${options.body}
</main>
<div id="announce" class="sr-only" aria-live="polite" role="status"></div>
</body>
</html>
`
}

/** A whole page saying why there is nothing to show (404, 403, a refused request). */
export function messagePage(viewer: Viewer, title: string, message: Interpolation): Html {
  return page({ title, section: 'none', viewer, body: html`<h1>${title}</h1><p>${message}</p><p><a href="/">Back to the repositories</a></p>` })
}
