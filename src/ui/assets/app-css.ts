/** The one stylesheet (served at a hashed name by assets.ts). Light and dark by prefers-color-scheme; contrast AA in both. */
export const APP_CSS = `
:root{--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--panel:#f6f8fa;--accent:#0a58ca;--accent-fg:#fff;--danger:#b42318;--ok:#1a7f37;
--bar:#0a58ca;--bar2:#8250df;--focus:#ffbf47;--badge:#eef1f4;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0f1318;--fg:#e6edf3;--muted:#9da7b3;--line:#30363d;--panel:#161b22;--accent:#6cb6ff;--accent-fg:#0f1318;
--danger:#ff7b72;--ok:#56d364;--bar:#4493f8;--bar2:#bc8cff;--badge:#21262d}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:var(--accent)}
a:hover{text-decoration-thickness:2px}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.skip{position:absolute;left:-999px;top:0;background:var(--accent);color:var(--accent-fg);padding:.5em 1em;z-index:10}
.skip:focus{left:0}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5em 1.5em;padding:.6em 1.2em;border-bottom:1px solid var(--line);background:var(--panel)}
.brand{display:flex;align-items:center;gap:.4em;font-weight:700;color:var(--fg);text-decoration:none;font-size:1.1em}
.brand img{width:24px;height:24px}
nav.main ul{display:flex;flex-wrap:wrap;gap:.2em 1em;list-style:none;margin:0;padding:0}
nav.main a{text-decoration:none;padding:.2em 0;color:var(--fg)}
nav.main a[aria-current=page]{border-bottom:2px solid var(--accent);font-weight:600}
.who{margin-left:auto;display:flex;align-items:center;gap:.6em;color:var(--muted)}
main{padding:1em 1.2em 3em;max-width:1280px;margin:0 auto}
h1{font-size:1.5em;margin:.3em 0 .6em;overflow-wrap:anywhere}
h2{font-size:1.15em;margin:1.6em 0 .5em}
.crumbs{color:var(--muted);font-size:.95em;overflow-wrap:anywhere}
.toolbar{display:flex;flex-wrap:wrap;gap:.6em;align-items:end;margin:.5em 0 1em}
label{display:inline-flex;flex-direction:column;gap:.2em;font-size:.9em;color:var(--muted)}
input,select,button,.button{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:.35em .6em;min-height:2.2em}
input[type=search],input[type=text],input[type=password]{min-width:14em;max-width:100%}
button,.button{cursor:pointer;background:var(--panel);text-decoration:none;display:inline-flex;align-items:center;gap:.3em}
button.primary{background:var(--accent);color:var(--accent-fg);border-color:var(--accent)}
button.danger{color:var(--danger);border-color:var(--danger)}
button.danger.primary{background:var(--danger);color:var(--bg)}
button.copy{padding:.1em .45em;min-height:0;font-size:.85em}
.table-wrap{position:relative;overflow-x:auto;border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45em .7em;border-bottom:1px solid var(--line);vertical-align:top}
thead th{background:var(--panel);font-weight:600;white-space:nowrap}
tbody tr:last-child>*{border-bottom:0}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.name{overflow-wrap:anywhere;min-width:10em}
.badge{display:inline-block;padding:0 .5em;border-radius:999px;background:var(--badge);border:1px solid var(--line);font-size:.8em;white-space:nowrap}
.badge.index{border-color:var(--bar2)}
.badge.attestation,.badge.signature,.badge.sbom,.badge.buildkit-cache{border-style:dashed}
.muted{color:var(--muted)}
.pager{display:flex;gap:1em;align-items:center;margin:1em 0}
.status{min-height:1.5em;color:var(--muted)}
.error{color:var(--danger)}
.ok{color:var(--ok)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3em 1em;margin:0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
pre{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:.8em;overflow:auto;max-height:40em}
.cmds{display:grid;gap:.4em;margin:.5em 0 1em}
.cmd{display:flex;gap:.5em;align-items:center;min-width:0}
.cmd code{overflow-x:auto;white-space:nowrap;background:var(--panel);padding:.2em .5em;border-radius:4px;flex:1;min-width:0}
.bar{display:flex;height:.9em;min-width:6em;background:var(--badge);border-radius:3px;overflow:hidden}
.bar span{display:block;height:100%}
.bar .excl{background:var(--bar)}
.bar .shared{background:var(--bar2)}
.legend{display:flex;gap:1em;flex-wrap:wrap;font-size:.9em}
.legend i{display:inline-block;width:.9em;height:.9em;border-radius:2px;vertical-align:middle;margin-right:.3em}
.legend .excl{background:var(--bar)}
.legend .shared{background:var(--bar2)}
progress{width:100%;height:1.2em}
form.stack{display:grid;gap:.8em;max-width:36em}
form.stack label{color:var(--fg)}
dialog{border:1px solid var(--line);border-radius:10px;background:var(--bg);color:var(--fg);max-width:min(40em,94vw);padding:1.2em}
dialog::backdrop{background:rgb(0 0 0/.45)}
.actions{display:flex;gap:.6em;justify-content:flex-end;flex-wrap:wrap;margin-top:1em}
.inline{display:inline}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(12em,1fr));gap:.8em;margin:.5em 0 1em}
.card{border:1px solid var(--line);border-radius:8px;padding:.6em .8em;background:var(--panel)}
.card b{display:block;font-size:1.3em}
@media (max-width:640px){main{padding:.8em .7em 2em}th,td{padding:.4em .45em}.hide-narrow{display:none}input[type=search]{min-width:0;width:100%}.toolbar label{flex:1 1 100%}}
`

/** Bar widths as classes (.w0 … .w100): the CSP allows no inline style attributes. */
export const BAR_WIDTH_CSS = Array.from({ length: 101 }, (_, i) => `.w${i}{width:${i}%}`).join('')
