/** The UI's own URLs, built in one place (names may hold slashes; they are valid URL path characters). */

export function repositoryHref(name: string, query?: Readonly<Record<string, string | undefined>>): string {
  return `/repositories/${name}${queryString(query)}`
}

export function manifestHref(name: string, digest: string): string {
  return `/repositories/${name}/manifests/${digest}`
}

export function exportHref(name: string, reference: string, format: 'oci' | 'docker'): string {
  return `/_wharf/v1/repositories/${name}/export${queryString({ reference, format })}`
}

/** `?a=1&b=2` of the defined, non-empty values; '' when none. */
export function queryString(query?: Readonly<Record<string, string | undefined>>): string {
  if (query === undefined) return ''
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(key, value)
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}
