/**
 * HTML built from tagged templates: every interpolated value is escaped unless it is already Html
 * (another template's result, or raw() for a trusted fragment). Arrays are joined; null, undefined
 * and false render nothing, so `${cond && html`...`}` reads naturally.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text
  }
}

export type Interpolation = Html | string | number | boolean | null | undefined | readonly Interpolation[]

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' }

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!)
}

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false || value === true) return ''
  if (value instanceof Html) return value.text
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

export function html(strings: TemplateStringsArray, ...values: readonly Interpolation[]): Html {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!
  return new Html(out)
}

/** A fragment that is already HTML: only for text the server wrote itself (never user or registry data). */
export function raw(text: string): Html {
  return new Html(text)
}
