import { globToRegExp } from '../oci/glob.js'
import type { EnvelopeAction } from './envelope.js'

/** One receiver, as the configuration's `notifications.endpoints[]` describes it. */
export interface EndpointSettings {
  readonly name: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutSeconds: number
  readonly actions: readonly EnvelopeAction[]
  /** Repository globs (`**` any, `*` one component). */
  readonly repositories: readonly string[]
  readonly secret?: string
  readonly backoffSeconds: number
  readonly maxBackoffSeconds: number
}

/** Which events an endpoint receives: its actions, in its repositories; the globs compiled once. */
export class EndpointFilter {
  readonly name: string
  private readonly actions: ReadonlySet<string>
  private readonly repositories: readonly RegExp[]

  constructor(settings: EndpointSettings) {
    this.name = settings.name
    this.actions = new Set(settings.actions)
    this.repositories = settings.repositories.map(globToRegExp)
  }

  wants(action: string): boolean {
    return this.actions.has(action)
  }

  accepts(action: string, repository: string): boolean {
    return this.actions.has(action) && this.repositories.some((pattern) => pattern.test(repository))
  }
}

/** The URL without credentials, for logs and the admin API. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.username === '' && parsed.password === '') return url
    parsed.username = ''
    parsed.password = ''
    return parsed.toString().replace(/\/$/, '')
  } catch {
    return url
  }
}
