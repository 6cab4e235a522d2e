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

export const CLIENT_DIFFERENCES: readonly ClientDifference[] = []
