import type { ResourceLimits } from 'node:worker_threads'

/**
 * The metadata threads' V8 heaps count in the server's RSS. Their young generation would grow as
 * large as the serving thread's (48 MiB) under load; what they allocate per message is small and
 * short-lived, so a small one costs few extra scavenges. The old generation is left alone (a
 * maintenance read over a large store may need it).
 */
export const METADATA_THREAD_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 6 }
