import { count, mapping, only, text, type Fail } from './fields.js'

/** Where blobs live: files under storage.path, or objects in an S3 bucket. */
export type StorageDriver = 'filesystem' | 's3'

export const STORAGE_DRIVERS: readonly StorageDriver[] = ['filesystem', 's3']

/** `storage.s3`: the bucket blobs and uploads are kept in (metadata stays in storage.path). */
export interface S3StorageConfig {
  readonly endpoint: string
  readonly bucket: string
  readonly region: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  /** The bucket in the URL's path rather than its host name (radosgw, MinIO). */
  readonly forcePathStyle: boolean
  /** Prepended to every key, so several registries can share a bucket. */
  readonly prefix: string
  /** Blob GETs (without Range) are answered with a 307 to a presigned URL of the object. */
  readonly redirect: boolean
  /** How long a redirect's presigned URL stays valid. */
  readonly redirectExpirySeconds: number
  /** Bytes per upload part object (at least 5 MiB, S3's smallest multipart part). */
  readonly partSize: number
}

const MiB = 1024 * 1024
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600

const DEFAULTS = { region: 'us-east-1', forcePathStyle: false, prefix: '', redirect: false, redirectExpirySeconds: 1200, partSize: 8 * MiB }
const REQUIRED = ['endpoint', 'bucket', 'accessKeyId', 'secretAccessKey'] as const
const OPTIONS = [...REQUIRED, ...Object.keys(DEFAULTS)]

function flag(value: unknown, where: string, fail: Fail): boolean {
  if (value === true || value === 'true') return true
  if (value === false || value === 'false') return false
  return fail(`${where} must be true or false`)
}

/**
 * `storage.s3` from the file, each option overridden by WHARF_STORAGE_S3_<OPTION upper-cased>
 * (e.g. WHARF_STORAGE_S3_SECRETACCESSKEY, so that secrets need not be in the file). Null when the
 * driver is not s3; with s3, endpoint, bucket and both keys are required.
 */
export function parseS3Storage(driver: StorageDriver, value: unknown, env: Readonly<Record<string, string | undefined>>, fail: Fail): S3StorageConfig | null {
  const file = value === undefined || value === null ? {} : mapping(value, 'storage.s3', fail)
  only(file, OPTIONS, 'storage.s3', fail)
  const given: Record<string, unknown> = { ...file }
  for (const key of OPTIONS) {
    const fromEnv = env[`WHARF_STORAGE_S3_${key.toUpperCase()}`]
    if (fromEnv !== undefined) given[key] = fromEnv
  }
  if (driver !== 's3') {
    if (value !== undefined && value !== null) fail('storage.s3 is set but storage.driver is not s3 (set storage.driver: s3, or remove storage.s3)')
    return null
  }
  if (Object.keys(given).length === 0) fail('storage.driver is s3 but there is no storage.s3 section (endpoint, bucket, accessKeyId, secretAccessKey)')
  const missing = REQUIRED.filter((key) => given[key] === undefined || given[key] === null)
  if (missing.length > 0) fail(`storage.s3 needs ${missing.join(', ')} (in the file or as WHARF_STORAGE_S3_${missing[0]!.toUpperCase()})`)
  const endpoint = text(given.endpoint, 'storage.s3.endpoint', fail)
  if (!/^https?:\/\/[^/]/.test(endpoint)) fail('storage.s3.endpoint must be an http:// or https:// URL')
  const prefix = given.prefix ?? DEFAULTS.prefix
  if (typeof prefix !== 'string') fail('storage.s3.prefix must be a string')
  const partSize = count(given.partSize, DEFAULTS.partSize, 'storage.s3.partSize', fail)
  if (partSize < 5 * MiB) fail('storage.s3.partSize must be at least 5242880 (5 MiB, the smallest S3 multipart part)')
  const redirectExpirySeconds = count(given.redirectExpirySeconds, DEFAULTS.redirectExpirySeconds, 'storage.s3.redirectExpirySeconds', fail)
  if (redirectExpirySeconds > MAX_PRESIGN_SECONDS) fail(`storage.s3.redirectExpirySeconds must be at most ${MAX_PRESIGN_SECONDS} (7 days, the longest a SigV4 presigned URL lasts)`)
  return {
    endpoint,
    bucket: text(given.bucket, 'storage.s3.bucket', fail),
    region: given.region === undefined ? DEFAULTS.region : text(given.region, 'storage.s3.region', fail),
    accessKeyId: text(given.accessKeyId, 'storage.s3.accessKeyId', fail),
    secretAccessKey: text(given.secretAccessKey, 'storage.s3.secretAccessKey', fail),
    forcePathStyle: given.forcePathStyle === undefined ? DEFAULTS.forcePathStyle : flag(given.forcePathStyle, 'storage.s3.forcePathStyle', fail),
    prefix: prefix as string,
    redirect: given.redirect === undefined ? DEFAULTS.redirect : flag(given.redirect, 'storage.s3.redirect', fail),
    redirectExpirySeconds,
    partSize,
  }
}

/** Where blobs live, for logs: never the keys, nor credentials written into the endpoint URL. */
export function describeBlobStorage(storage: { readonly path: string; readonly s3: S3StorageConfig | null }): string {
  if (storage.s3 === null) return storage.path
  let origin: string
  try { origin = new URL(storage.s3.endpoint).origin } catch { origin = 'an invalid endpoint' }
  return `s3://${storage.s3.bucket}/${storage.s3.prefix} at ${origin}`
}
