// What the real-client judges (buildx.test.ts, oras.test.ts, crane.test.ts) observe differently
// against Wharf and against the reference registry (Debian's docker-registry 2.8.2), with why.
// helpers/judges.ts compareRuns() fails on any other difference and on a listed one that is no
// longer observed. Human-readable companion: the "Real clients" section of differences.md.

export interface ClientDifference {
  /** The judge file: buildx, oras or crane. */
  readonly file: string
  /** The observation key (see the file's record() calls). */
  readonly key: string
  readonly wharf: unknown
  readonly reference: unknown
  /** Why the difference is right (the distribution-spec clause, or the client behaviour). */
  readonly why: string
}

const NO_REFERRERS_API = 'The reference (distribution 2.8) has no referrers API (GET /v2/<name>/referrers/<digest> answers 404), so oras falls back to the referrers tag schema of distribution-spec 1.1 ("Referrers Tag Schema": a tag <alg>-<ref> holding an index of the referrers), which it must not do against a registry that has the API ("Pushing Manifests with Subject": a registry supporting the referrers API answers OCI-Subject, and then the client MUST NOT update the tag schema index).'

export const CLIENT_DIFFERENCES: readonly ClientDifference[] = [
  { file: 'oras', key: 'attach: the referrers tag schema was used', wharf: false, reference: true, why: NO_REFERRERS_API },
  { file: 'oras', key: 'cp -r: tags of the copy', wharf: ['v1'], reference: ['sha256-<subject>', 'v1'], why: `${NO_REFERRERS_API} oras cp -r copies that tag with the referrers.` },
  {
    file: 'oras', key: 'repo tags', wharf: ['a0', 'v1', 'v2', 'v3'], reference: ['a0', 'sha256-<subject>', 'v1', 'v2', 'v3'],
    why: 'The sha256-<subject> tag is the referrers tag-schema fallback above (compared as sets: the reference also lists tags unsorted, against Listing Tags: "the tags MUST be in lexical or ASCIIbetical order").',
  },
  {
    file: 'oras', key: 'repo tags --last v1', wharf: ['v2', 'v3'], reference: ['a0', 'sha256-<subject>', 'v1', 'v2', 'v3'],
    why: 'Listing Tags: with last, the answer holds the tags "beginning non-inclusively with <tagname>" in lexical order; the reference ignores last (and n), so oras prints every tag.',
  },
  {
    file: 'crane', key: 'delete of an image an index lists', wharf: { exit: 1, denied: true, after: 200 }, reference: { exit: 0, denied: false, after: 404 },
    why: 'A design choice, shared with zot and GitLab\'s registry (README, "Deletes"): Wharf refuses (409 DENIED, nothing changed) the delete of a manifest that an index of the same repository references, so no stored index points at nothing; crane reports the error. The reference deletes it and leaves the index dangling.',
  },
]
