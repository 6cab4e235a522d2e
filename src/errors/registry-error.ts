/**
 * The distribution-spec error codes, each with the HTTP status it is answered with.
 * Services throw RegistryError; the HTTP layer is the only place that turns one into a response.
 */
export const ErrorCodes = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  UNKNOWN: { status: 500, message: 'unknown error' },
} as const satisfies Record<string, { readonly status: number; readonly message: string }>

export type ErrorCode = keyof typeof ErrorCodes

export interface RegistryErrorOptions {
  /** Client-visible message replacing the table's. */
  readonly message?: string
  /** Client-visible structured detail, e.g. { digest }. */
  readonly detail?: unknown
  /** Per-site status override, e.g. 404 for a PATCH to an unknown session. */
  readonly status?: number
  /** Internal cause: logged, never sent. */
  readonly cause?: unknown
}

export class RegistryError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly detail: unknown

  constructor(code: ErrorCode, options: RegistryErrorOptions = {}) {
    super(options.message ?? ErrorCodes[code].message, { cause: options.cause })
    this.name = 'RegistryError'
    this.code = code
    this.status = options.status ?? ErrorCodes[code].status
    this.detail = options.detail
  }
}

export function isRegistryError(err: unknown): err is RegistryError {
  return err instanceof RegistryError
}

export interface ErrorBody {
  errors: Array<{ code: ErrorCode; message: string; detail?: unknown }>
}

export function toErrorBody(err: RegistryError): ErrorBody {
  const entry: ErrorBody['errors'][number] = { code: err.code, message: err.message }
  if (err.detail !== undefined) entry.detail = err.detail
  return { errors: [entry] }
}
