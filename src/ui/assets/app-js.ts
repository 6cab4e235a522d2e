/**
 * The one script: progressive enhancement only (every page works without it). Copy buttons,
 * filter as you type (fetches the page itself and swaps its results), the delete dialog (the
 * JSON API's delete preview, then DELETE /v2/...), the import upload with progress.
 * Never innerHTML with data: text goes in as textContent.
 */
export const APP_JS = `(() => {
'use strict'
const $ = (s, el = document) => el.querySelector(s)
const csrf = () => ($('meta[name="wharf-csrf"]') || {}).content || ''
const announce = (text) => { const a = $('#announce'); if (a) { a.textContent = ''; setTimeout(() => { a.textContent = text }, 30) } }
const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
const bytes = (n) => { let i = 0; while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ } return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i] }
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e }

document.addEventListener('click', async (ev) => {
  const copy = ev.target.closest('button[data-copy]')
  if (copy) {
    const text = copy.dataset.copy
    try { await navigator.clipboard.writeText(text) } catch {
      const t = el('textarea', text); document.body.append(t); t.select(); document.execCommand('copy'); t.remove()
    }
    announce('Copied: ' + text)
    const old = copy.textContent; copy.textContent = 'Copied'; setTimeout(() => { copy.textContent = old }, 1200)
    return
  }
  const del = ev.target.closest('button[data-delete-repo]')
  if (del) { ev.preventDefault(); openDelete(del) }
})

// Filter as you type: the form's own GET, fetched, and its #results swapped in.
for (const form of document.querySelectorAll('form[data-live]')) {
  let timer, controller
  const run = async () => {
    const url = new URL(form.action, location.href)
    for (const [k, v] of new FormData(form)) if (v !== '') url.searchParams.set(k, v)
    controller?.abort(); controller = new AbortController()
    try {
      const res = await fetch(url, { signal: controller.signal, headers: { Accept: 'text/html' } })
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html')
      const fresh = doc.getElementById('results'); const here = document.getElementById('results')
      if (fresh && here) here.replaceWith(fresh)
      history.replaceState(null, '', url)
      const count = doc.getElementById('result-count')
      announce(count ? count.textContent : '')
    } catch (err) { if (err.name !== 'AbortError') announce('Filter failed: ' + err.message) }
  }
  form.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(run, 180) })
  form.addEventListener('submit', (ev) => { ev.preventDefault(); clearTimeout(timer); run() })
}

async function openDelete(button) {
  const dialog = $('#delete-dialog'); if (!dialog) return
  const repo = button.dataset.deleteRepo, tag = button.dataset.tag, digest = button.dataset.digest
  const ref = tag || digest
  const body = $('.body', dialog), confirm = $('button[value=confirm]', dialog), status = $('.status', dialog)
  $('h2', dialog).textContent = 'Delete ' + repo + (tag ? ':' + tag : '@' + digest)
  body.replaceChildren(el('p', 'Looking at what goes with it…'))
  status.textContent = ''; confirm.disabled = true
  dialog.showModal()
  const q = tag ? 'tag=' + encodeURIComponent(tag) : 'digest=' + encodeURIComponent(digest)
  try {
    const res = await fetch('/_wharf/v1/repositories/' + repo + '/delete-preview?' + q, { headers: { Accept: 'application/json' } })
    const p = await res.json()
    if (!res.ok) throw new Error((p.errors && p.errors[0] && p.errors[0].message) || res.statusText)
    const parts = []
    if (p.refused) {
      parts.push(el('p', 'Refused: ' + p.refused.reason, 'error'))
      for (const d of p.refused.referencedBy || []) parts.push(el('p', 'Referenced by ' + d, 'mono'))
    } else {
      parts.push(el('p', tag && p.tags.length <= 1 && p.manifests.length === 0 && p.freedBytes === 0
        ? 'Only the tag goes: its manifest stays (another tag or an index names it).'
        : 'The next garbage collection frees ' + bytes(p.freedBytes) + '.'))
      if (p.tags.length) { parts.push(el('h3', 'Tags removed')); const ul = el('ul'); for (const t of p.tags) ul.append(el('li', t, 'mono')); parts.push(ul) }
      if (p.manifests.length) { parts.push(el('h3', 'Manifests nothing keeps')); const ul = el('ul'); for (const m of p.manifests) ul.append(el('li', m.kind + ' ' + m.digest, 'mono')); parts.push(ul) }
      confirm.disabled = false
    }
    body.replaceChildren(...parts)
  } catch (err) { body.replaceChildren(el('p', 'Could not read what goes with it: ' + err.message, 'error')) }
  confirm.onclick = async (ev) => {
    ev.preventDefault(); confirm.disabled = true; status.textContent = 'Deleting…'
    const res = await fetch('/v2/' + repo + '/manifests/' + encodeURIComponent(ref), { method: 'DELETE', headers: { 'X-Wharf-CSRF': csrf() } })
    if (res.status === 202 || res.status === 200 || res.status === 204) {
      status.textContent = 'Deleted.'
      const back = button.dataset.after
      if (back) location.assign(back); else location.reload()
    } else {
      let message = res.statusText
      try { const e = await res.json(); message = e.errors[0].message || e.errors[0].code } catch {}
      status.textContent = 'Refused (' + res.status + '): ' + message; confirm.disabled = false
    }
  }
}

const importForm = $('#import-form')
if (importForm) importForm.addEventListener('submit', (ev) => {
  ev.preventDefault()
  const data = new FormData(importForm)
  const repo = String(data.get('repository') || '').trim()
  const file = data.get('archive')
  const progress = $('#import-progress'), status = $('#import-status'), result = $('#import-result')
  if (!repo || !file || !file.size) { status.textContent = 'Choose a repository and an archive.'; return }
  const url = new URL('/_wharf/v1/repositories/' + repo + '/import', location.href)
  for (const t of String(data.get('tags') || '').split(/[\\s,]+/)) if (t) url.searchParams.append('tag', t)
  const body = new FormData(); body.append('archive', file, file.name)
  const xhr = new XMLHttpRequest()
  xhr.open('POST', url); xhr.setRequestHeader('X-Wharf-CSRF', csrf()); xhr.setRequestHeader('Accept', 'application/json')
  progress.hidden = false; progress.value = 0; result.replaceChildren()
  const button = $('button[type=submit]', importForm); button.disabled = true
  let lastAnnounced = -10
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return
    const pct = Math.floor(e.loaded / e.total * 100); progress.value = pct
    status.textContent = 'Uploading ' + bytes(e.loaded) + ' of ' + bytes(e.total) + ' (' + pct + '%)'
    if (pct - lastAnnounced >= 25) { lastAnnounced = pct; announce('Upload ' + pct + '%') }
  }
  xhr.upload.onload = () => { status.textContent = 'Uploaded; verifying and storing…' }
  xhr.onerror = () => { button.disabled = false; status.textContent = 'The upload failed (connection lost).' }
  xhr.onload = () => {
    button.disabled = false
    let answer; try { answer = JSON.parse(xhr.responseText) } catch { answer = undefined }
    if (xhr.status >= 200 && xhr.status < 300 && answer) {
      progress.value = 100
      status.textContent = 'Imported ' + answer.images.length + ' image(s), ' + answer.blobs.count + ' blobs (' + bytes(answer.blobs.bytes) + ') as ' + answer.format + ' archive.'
      for (const img of answer.images) {
        const li = el('li'); const a = el('a', answer.repository + '@' + img.digest)
        a.href = '/repositories/' + answer.repository + '/manifests/' + img.digest; li.append(a)
        if (img.tags.length) li.append(el('span', ' tags: ' + img.tags.join(', '), 'muted'))
        result.append(li)
      }
    } else {
      const e = answer && answer.errors && answer.errors[0]
      status.textContent = 'Import refused (' + xhr.status + '): ' + (e ? (e.message || e.code) : xhr.statusText)
      status.classList.add('error')
    }
    announce(status.textContent)
  }
  status.classList.remove('error'); status.textContent = 'Uploading…'
  xhr.send(body)
})
})()
`
