import { errors } from 'jose'
import { RegistryError } from '../errors/registry-error.js'

/** The RegistryError every refused token gets: UNAUTHORIZED, marked for `error="invalid_token"` in the challenge. */
export function invalidToken(reason: string, cause?: unknown): RegistryError {
  return new RegistryError('UNAUTHORIZED', { message: `invalid token: ${reason}`, detail: { invalidToken: true }, cause })
}

/** jose's verification errors become invalid_token; anything else (a bug) stays what it is. */
export function joseFailure(err: unknown): Error {
  if (err instanceof errors.JWTExpired) return invalidToken('expired', err)
  if (err instanceof errors.JWTClaimValidationFailed) return invalidToken(`${err.claim} claim check failed`, err)
  if (err instanceof errors.JOSEError) return invalidToken(err.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' ? 'bad signature' : err.message, err)
  // Key and algorithm mismatches (a token's alg against a key's type or curve) surface as
  // TypeError or WebCrypto's DOMException.
  if (err instanceof TypeError || err instanceof DOMException) return invalidToken('key and algorithm do not match', err)
  return err as Error
}
