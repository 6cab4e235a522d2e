/** The UI's html template: every interpolation escaped, nested templates and raw() kept, nothing rendered for null/false. */
import t from 'tap'
import { escapeHtml, html, raw } from '../../src/ui/html.js'
import { formatBytes, shortDigest } from '../../src/ui/format.js'
import { queryString } from '../../src/ui/links.js'

t.test('interpolations are escaped, in text and in attributes', async (t) => {
  const evil = `<script>alert('x')</script>"&\``
  t.equal(html`<p title="${evil}">${evil}</p>`.text,
    '<p title="&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;&#96;">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;&#96;</p>')
  t.equal(escapeHtml('plain-name_1.0'), 'plain-name_1.0')
})

t.test('nested templates, arrays and raw() are not escaped again; null, undefined and booleans render nothing', async (t) => {
  const items = ['a<b', 'c']
  t.equal(html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`.text, '<ul><li>a&lt;b</li><li>c</li></ul>')
  t.equal(html`${raw('<b>x</b>')}`.text, '<b>x</b>')
  t.equal(html`[${null}${undefined}${false}${true}${0}]`.text, '[0]')
})

t.test('formats and links', async (t) => {
  t.equal(formatBytes(512), '512 B')
  t.equal(formatBytes(1536), '1.5 KiB')
  t.equal(formatBytes(300 * 1024 * 1024), '300 MiB')
  t.equal(shortDigest(`sha256:${'ab'.repeat(32)}`), 'sha256:abababababab')
  t.equal(queryString({ q: 'a b&c', cursor: undefined, sort: '' }), '?q=a+b%26c')
  t.equal(queryString({}), '')
})
