/** Who looks at a page, as far as the pages care: what to show in the header and which pages and buttons to offer. */
export interface Viewer {
  /** Access control is on: there is a login and a logout. */
  readonly accessControl: boolean
  /** The logged-in name; undefined when anonymous. */
  readonly user?: string
  /** May see usage and run garbage collection (`registry:admin`). */
  readonly admin: boolean
  /** May use the import form: without access control, or logged in (the repository's push right is checked at the upload). */
  readonly mayImport: boolean
  /** The CSRF token the page's mutations send (X-Wharf-CSRF header or `_csrf` field); undefined without a session. */
  readonly csrf?: string
  /** How clients name this registry in pull commands (the request's Host). */
  readonly host: string
}

/** Which top-level page a page belongs to (the nav marks it current). */
export type Section = 'repositories' | 'usage' | 'gc' | 'import' | 'login' | 'none'
