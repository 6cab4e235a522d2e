/** Sizes and counts of every scenario; `--quick` shrinks them for a smoke run. */
export interface BenchConfig {
  readonly quick: boolean
  readonly rounds: number
  readonly bigBlobSize: number
  readonly bigBlobCount: number
  readonly pushConcurrency: number
  readonly chunkedBlobCount: number
  readonly chunkedConcurrency: number
  readonly chunkSize: number
  readonly smallBlobCount: number
  readonly smallBlobSize: number
  readonly smallBlobConcurrency: number
  readonly pullConcurrency: number
  readonly manifestPutCount: number
  readonly manifestPutConcurrency: number
  readonly headGetConnections: number
  readonly headGetSeconds: number
  readonly headGetTags: number
  readonly tagListCount: number
  readonly listPageSize: number
  readonly catalogCount: number
  readonly mixedPushers: number
  /** Open-loop manifest GETs per second, on a clock whatever the answers take. */
  readonly mixedReadRate: number
  readonly mixedReadConnections: number
  readonly mixedSeconds: number
  readonly coldPullLayers: number
  /** Total layer bytes of one platform's image. */
  readonly coldPullPlatformBytes: number
  /** Concurrent layer downloads (docker's default max-concurrent-downloads). */
  readonly coldPullConcurrency: number
  readonly cacheBlobs: number
  readonly cacheMinBlobSize: number
  readonly cacheMaxBlobSize: number
  readonly cacheConcurrency: number
  readonly cacheImportsPerRound: number
  readonly scaleGetSmall: number
  readonly scaleTagsSmall: number
  readonly scaleMax: number
  readonly scaleGetConnections: number
  readonly scaleGetSeconds: number
  readonly scaleGetMaxRequests: number
  readonly fillConcurrency: number
  /** Upper bound of any single timed loop, ms. */
  readonly opTimeoutMs: number
  /** Upper bound of a scenario's setup or a phase's fill, ms. */
  readonly fillTimeoutMs: number
  /** A phase whose round takes longer than this is not repeated (both servers still run that round). */
  readonly slowRoundSeconds: number
}

const MiB = 1024 * 1024

export function makeConfig(options: { quick: boolean; rounds?: number; scaleMax?: number }): BenchConfig {
  const quick = options.quick
  return {
    quick,
    rounds: options.rounds ?? (quick ? 2 : 3),
    bigBlobSize: quick ? 32 * MiB : 256 * MiB,
    bigBlobCount: 4,
    pushConcurrency: 2,
    chunkedBlobCount: 2,
    chunkedConcurrency: 2,
    chunkSize: quick ? 4 * MiB : 16 * MiB,
    smallBlobCount: quick ? 300 : 2000,
    smallBlobSize: 4096,
    smallBlobConcurrency: 32,
    pullConcurrency: 4,
    manifestPutCount: quick ? 300 : 2000,
    manifestPutConcurrency: 16,
    headGetConnections: 64,
    headGetSeconds: quick ? 2 : 10,
    headGetTags: 100,
    tagListCount: quick ? 1500 : 10_000,
    listPageSize: 1000,
    catalogCount: quick ? 300 : 2000,
    mixedPushers: 16,
    mixedReadRate: 500,
    mixedReadConnections: 64,
    mixedSeconds: quick ? 3 : 15,
    coldPullLayers: 20,
    coldPullPlatformBytes: quick ? 24 * MiB : 100 * MiB,
    coldPullConcurrency: 3,
    cacheBlobs: 200,
    cacheMinBlobSize: 1024,
    cacheMaxBlobSize: 64 * 1024,
    cacheConcurrency: 16,
    cacheImportsPerRound: quick ? 3 : 10,
    scaleGetSmall: 100,
    scaleTagsSmall: 1000,
    scaleMax: options.scaleMax ?? (quick ? 3000 : 100_000),
    scaleGetConnections: 8,
    scaleGetSeconds: quick ? 1 : 3,
    scaleGetMaxRequests: 20_000,
    fillConcurrency: 32,
    opTimeoutMs: 15 * 60_000,
    fillTimeoutMs: 40 * 60_000,
    slowRoundSeconds: 60,
  }
}
