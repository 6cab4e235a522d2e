import { createHash } from 'node:crypto'
import { APP_CSS, BAR_WIDTH_CSS } from './assets/app-css.js'
import { APP_JS } from './assets/app-js.js'
import { ICON_SVG } from './assets/icon-svg.js'

/**
 * The UI's static files, named by a prefix of their SHA-256 (`app.3f2a9c1b0d4e.css`), so that
 * browsers keep them for a year and a new build's pages name new files.
 */
export interface Asset {
  readonly fileName: string
  readonly contentType: string
  readonly body: Buffer
}

function hashed(base: string, ext: string, contentType: string, text: string): Asset {
  const body = Buffer.from(text, 'utf8')
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12)
  return { fileName: `${base}.${hash}.${ext}`, contentType, body }
}

const CSS = hashed('app', 'css', 'text/css; charset=utf-8', APP_CSS + BAR_WIDTH_CSS)
const JS = hashed('app', 'js', 'text/javascript; charset=utf-8', APP_JS)
const ICON = hashed('icon', 'svg', 'image/svg+xml', ICON_SVG)

export const ASSETS_PREFIX = '/assets/'

/** Where each asset is served. */
export const assetUrls = { css: ASSETS_PREFIX + CSS.fileName, js: ASSETS_PREFIX + JS.fileName, icon: ASSETS_PREFIX + ICON.fileName } as const

const BY_NAME = new Map([CSS, JS, ICON].map((asset) => [asset.fileName, asset]))

/** The asset of that hashed name; undefined for any other (an old build's name included). */
export function assetNamed(fileName: string): Asset | undefined {
  return BY_NAME.get(fileName)
}
