import { RegistryError } from '../errors/registry-error.js'
import { parseDigest, type Digest } from './digest.js'

export type RepoName = string & { readonly __brand: 'RepoName' }
export type Tag = string & { readonly __brand: 'Tag' }

/** distribution-spec: path components of [a-z0-9]+ joined by ".", "_", "__" or runs of "-", separated by "/". */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*'
const NAME_PATTERN = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`)
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/
export const MAX_NAME_LENGTH = 255

export function isRepoName(input: string): boolean {
  return input.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(input)
}

export function parseRepoName(input: string): RepoName {
  if (!isRepoName(input)) {
    throw new RegistryError('NAME_INVALID', { detail: { name: input.slice(0, MAX_NAME_LENGTH + 1) } })
  }
  return input as RepoName
}

export function isTag(input: string): boolean {
  return TAG_PATTERN.test(input)
}

export function parseTag(input: string): Tag {
  if (!isTag(input)) throw new RegistryError('TAG_INVALID', { message: 'invalid tag', detail: { tag: input.slice(0, 200) } })
  return input as Tag
}

export type Reference = { readonly tag: Tag; readonly digest?: undefined } | { readonly digest: Digest; readonly tag?: undefined }

/** A manifest reference is a digest when it contains ":", else a tag. */
export function parseReference(input: string): Reference {
  if (input.includes(':')) {
    return { digest: parseDigest(input) }
  }
  return { tag: parseTag(input) }
}
