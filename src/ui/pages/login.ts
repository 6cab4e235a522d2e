import { html, type Html } from '../html.js'
import { page } from '../layout.js'
import type { Viewer } from '../viewer.js'

/** `/login`: user name and password (or a robot's name and secret); `next` is where to go after. */
export function loginPage(viewer: Viewer, options: { readonly next: string; readonly error?: string; readonly user?: string }): Html {
  const body = html`<h1>Log in</h1>
${options.error !== undefined ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form class="stack" method="post" action="/login">
<input type="hidden" name="next" value="${options.next}">
<label>User name <input type="text" name="username" required autocomplete="username" autocapitalize="none" spellcheck="false" value="${options.user ?? ''}"${options.user === undefined ? html` autofocus` : ''}></label>
<label>Password <input type="password" name="password" required autocomplete="current-password"${options.user !== undefined ? html` autofocus` : ''}></label>
<div><button type="submit" class="primary">Log in</button></div>
</form>`
  return page({ title: 'Log in', section: 'login', viewer, body })
}
