import type { TagRecord } from '../metadata/metadata-store.js'
import { globToRegExp } from '../oci/glob.js'

/** A retention rule for the repositories its glob matches; the first matching policy applies. */
export interface RetentionPolicy {
  /** Glob over repository names ("**" crosses "/"). */
  readonly repositories: string
  /** Keep only the N most recently pushed tags. */
  readonly keepLast?: number
  /** Delete tags last pushed longer ago than this. */
  readonly maxAgeSeconds?: number
  /** Glob of tags that are never deleted (and do not count towards keepLast). */
  readonly keepTags?: string
  /** Delete untagged manifests older than this (by default they are kept forever). */
  readonly untaggedMaxAgeSeconds?: number
}

interface CompiledPolicy {
  readonly policy: RetentionPolicy
  readonly repositories: RegExp
  readonly keepTags?: RegExp
}

/** Decides which tags and untagged manifests the policies remove. Pure: the collector acts on it. */
export class RetentionRules {
  private readonly policies: readonly CompiledPolicy[]

  constructor(policies: readonly RetentionPolicy[]) {
    this.policies = policies.map((policy) => ({
      policy,
      repositories: globToRegExp(policy.repositories),
      ...(policy.keepTags !== undefined ? { keepTags: globToRegExp(policy.keepTags) } : {}),
    }))
  }

  policyFor(repo: string): CompiledPolicy | undefined {
    return this.policies.find((p) => p.repositories.test(repo))
  }

  /** Tags to delete: beyond keepLast or older than maxAge, unless protected by keepTags. */
  expiredTags(tags: readonly TagRecord[], now: number): TagRecord[] {
    const byRepo = new Map<string, TagRecord[]>()
    for (const tag of tags) {
      const list = byRepo.get(tag.repo)
      if (list === undefined) byRepo.set(tag.repo, [tag])
      else list.push(tag)
    }
    const expired: TagRecord[] = []
    for (const [repo, repoTags] of byRepo) {
      const compiled = this.policyFor(repo)
      if (compiled === undefined) continue
      const { policy, keepTags } = compiled
      const candidates = repoTags
        .filter((t) => keepTags === undefined || !keepTags.test(t.tag))
        .sort((a, b) => b.updatedAt - a.updatedAt || (a.tag < b.tag ? -1 : 1))
      candidates.forEach((tag, index) => {
        const beyondCount = policy.keepLast !== undefined && index >= policy.keepLast
        const tooOld = policy.maxAgeSeconds !== undefined && tag.updatedAt < now - policy.maxAgeSeconds * 1000
        if (beyondCount || tooOld) expired.push(tag)
      })
    }
    return expired
  }

}
