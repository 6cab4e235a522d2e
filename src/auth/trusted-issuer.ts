import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyOptions } from 'jose'
import { invalidToken, joseFailure } from './token-errors.js'

/**
 * An external token issuer Wharf trusts (`auth.trust`, as registry:2's `auth.token`): its tokens
 * are verified with its public keys, from a PEM file (keys or certificates) or a JWKS file.
 * Asymmetric algorithms only: `none` and HS* (which would take a public key as a shared secret)
 * are never accepted.
 */

/** What `auth.trust` configures (the same shape). */
export interface TrustSettings {
  readonly issuer: string
  readonly service: string
  readonly publicKey?: string
  readonly jwks?: string
}

const ASYMMETRIC = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519']

export interface TrustedIssuer {
  readonly issuer: string
  readonly service: string
  /** The verified payload; throws UNAUTHORIZED (invalid_token) otherwise. */
  verify(token: string, options: JWTVerifyOptions): Promise<JWTPayload>
}

/** The public keys of every PEM block of `text`: certificates, SPKI and PKCS#1 public keys. */
export function publicKeysFromPem(text: string): KeyObject[] {
  const keys: KeyObject[] = []
  for (const match of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g)) {
    const block = match[0]
    const label = match[1]!
    if (label === 'CERTIFICATE') keys.push(new X509Certificate(block).publicKey)
    else if (label.endsWith('PUBLIC KEY')) keys.push(createPublicKey(block))
  }
  return keys
}

/** Reads the issuer's keys; fails (at start-up) when the file holds none. */
export async function loadTrustedIssuer(settings: TrustSettings): Promise<TrustedIssuer> {
  if (settings.jwks !== undefined) {
    const jwks = JSON.parse(await readFile(settings.jwks, 'utf8')) as JSONWebKeySet
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error(`${settings.jwks}: no keys in the JWKS file`)
    const keySet = createLocalJWKSet(jwks)
    return {
      issuer: settings.issuer,
      service: settings.service,
      async verify(token, options) {
        try {
          return (await jwtVerify(token, keySet, { ...options, algorithms: ASYMMETRIC })).payload
        } catch (err) {
          throw joseFailure(err)
        }
      },
    }
  }
  if (settings.publicKey === undefined) throw new Error('auth.trust needs publicKey or jwks')
  const keys = publicKeysFromPem(await readFile(settings.publicKey, 'utf8'))
  if (keys.length === 0) throw new Error(`${settings.publicKey}: no public key or certificate in the PEM file`)
  return {
    issuer: settings.issuer,
    service: settings.service,
    async verify(token, options) {
      // A PEM file names no key ids: each key of the token's algorithm is tried (there are few).
      const alg = algorithmOf(token)
      let failure: Error = invalidToken(`no key for algorithm ${alg}`)
      for (const key of keys.filter((k) => suits(k, alg))) {
        try {
          return (await jwtVerify(token, key, { ...options, algorithms: ASYMMETRIC })).payload
        } catch (err) {
          failure = joseFailure(err)
          if (!isSignatureOrKeyMismatch(err)) throw failure
        }
      }
      throw failure
    },
  }
}

const CURVES: Readonly<Record<string, string>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }

/** Whether `key` can verify a signature of algorithm `alg`. */
function suits(key: KeyObject, alg: string): boolean {
  if (alg in CURVES) return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVES[alg]
  if (/^RS(256|384|512)$/.test(alg)) return key.asymmetricKeyType === 'rsa'
  if (/^PS(256|384|512)$/.test(alg)) return key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss'
  if (alg === 'EdDSA' || alg === 'Ed25519') return key.asymmetricKeyType === 'ed25519'
  return false
}

function algorithmOf(token: string): string {
  try {
    const alg = decodeProtectedHeader(token).alg
    return typeof alg === 'string' ? alg : 'none'
  } catch (err) {
    throw invalidToken('malformed', err)
  }
}

/** Another key may verify what this one did not; a claim failure is the same for every key. */
function isSignatureOrKeyMismatch(err: unknown): boolean {
  const code = (err as { code?: string }).code
  return err instanceof TypeError || err instanceof DOMException || code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' || code === 'ERR_JOSE_ALG_NOT_ALLOWED' || code === 'ERR_JOSE_NOT_SUPPORTED'
}
