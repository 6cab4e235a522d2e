import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { createSecureContext, TLSSocket, type SecureContextOptions, type TlsOptions } from 'node:tls'
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'

/**
 * HTTPS: the certificate, key and client CA files, loaded and checked as a whole, served with TLS
 * 1.2 at least, and reloaded when they change on disk (certbot and cert-manager replace them by
 * renaming new files into place) without touching established connections.
 */

/** Where the PEM files are (`http.tls`). */
export interface TlsFiles {
  readonly certificate: string
  readonly key: string
  /** CA bundle that client certificates are verified against; absent: no client certificates asked for. */
  readonly clientCA?: string
}

/** The files' contents, checked: a certificate (chain), its own private key, the client CAs. */
export interface TlsMaterial {
  readonly files: TlsFiles
  readonly cert: Buffer
  readonly key: Buffer
  readonly ca?: Buffer
  /** The served (first) certificate of `cert`. */
  readonly leaf: X509Certificate
  /** What the files looked like on disk when read (inode, size, mtime of each): a change means a reload. */
  readonly signature: string
}

/** A TLS file set that cannot be served; the message is one line naming the file and the reason. */
export class TlsFilesError extends Error {
  override readonly name = 'TlsFilesError'
}

const MIN_VERSION = 'TLSv1.2'

/** How often the files are looked at for a change (a stat of each). */
export const TLS_RELOAD_INTERVAL_MS = 1000

function describeError(err: unknown): string {
  const code = (err as { code?: string }).code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EACCES') return 'permission denied'
  if (code === 'EISDIR') return 'is a directory'
  return `${(err as Error).message ?? String(err)}${code !== undefined ? ` (${code})` : ''}`
}

async function signatureOf(files: TlsFiles): Promise<string> {
  const parts = await Promise.all([files.certificate, files.key, files.clientCA].map(async (file) => {
    if (file === undefined) return '-'
    try {
      const s = await stat(file)
      return `${s.ino}:${s.size}:${s.mtimeMs}`
    } catch (err) {
      return `missing:${(err as { code?: string }).code ?? ''}`
    }
  }))
  return parts.join('|')
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

/** Reads and checks the files: each parses, the key is the certificate's, OpenSSL accepts the whole. */
export async function loadTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  const signature = await signatureOf(files)
  const read = async (file: string, option: string): Promise<Buffer> => {
    try {
      return await readFile(file)
    } catch (err) {
      throw new TlsFilesError(`${option} ${file}: ${describeError(err)}`)
    }
  }
  const cert = await read(files.certificate, 'http.tls.certificate')
  const key = await read(files.key, 'http.tls.key')
  const ca = files.clientCA !== undefined ? await read(files.clientCA, 'http.tls.clientCA') : undefined

  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(cert)
  } catch {
    throw new TlsFilesError(`http.tls.certificate ${files.certificate}: not a PEM certificate`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(key)
  } catch (err) {
    const encrypted = /passphrase/i.test((err as Error).message)
    throw new TlsFilesError(`http.tls.key ${files.key}: ${encrypted ? 'an encrypted key (a key without a passphrase is needed)' : 'not a PEM private key'}`)
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsFilesError(`http.tls.key ${files.key} does not match the certificate in ${files.certificate}`)
  }
  if (ca !== undefined && files.clientCA !== undefined) {
    const blocks = ca.toString('latin1').match(PEM_CERTIFICATE) ?? []
    if (blocks.length === 0) throw new TlsFilesError(`http.tls.clientCA ${files.clientCA}: no PEM certificate in it`)
    for (const block of blocks) {
      try {
        new X509Certificate(block)
      } catch {
        throw new TlsFilesError(`http.tls.clientCA ${files.clientCA}: a certificate in it does not parse`)
      }
    }
  }
  const material: TlsMaterial = { files, cert, key, ...(ca !== undefined ? { ca } : {}), leaf, signature }
  try {
    createSecureContext(secureContextOptions(material))
  } catch (err) {
    throw new TlsFilesError(`http.tls ${files.certificate}: ${(err as Error).message}`)
  }
  return material
}

/** What setSecureContext takes: the parts of the context that come from the files. */
function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return { cert: material.cert, key: material.key, ...(material.ca !== undefined ? { ca: material.ca } : {}), minVersion: MIN_VERSION }
}

/**
 * Options of the HTTPS server. With a client CA, a client certificate is asked for but not required
 * (`rejectUnauthorized: false`): a client without one, or with one the CA did not sign, still
 * connects and may log in otherwise; only a verified certificate names anyone (certificateName).
 */
export function httpsServerOptions(material: TlsMaterial): TlsOptions {
  return {
    ...secureContextOptions(material),
    ...(material.ca !== undefined ? { requestCert: true, rejectUnauthorized: false } : {}),
  }
}

/** What the logs say about a served certificate. */
export function describeCertificate(leaf: X509Certificate): Record<string, string> {
  return {
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    notAfter: new Date(leaf.validTo).toISOString(),
    serial: leaf.serialNumber,
    fingerprint: leaf.fingerprint256,
  }
}

/** The server whose context a reload replaces (an https.Server is one). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void
}

export interface TlsWatcher {
  /** The material served now. */
  readonly current: TlsMaterial
  close(): void
}

/**
 * Looks at the files every `intervalMs` and, once a change has settled (the same on two looks in a
 * row, so that a certificate and key replaced one after the other are read together), loads them:
 * a good pair replaces the server's context for new connections (established ones keep theirs); a
 * broken one is logged once and the served one kept.
 */
export function watchTlsFiles(server: SecureContextTarget, initial: TlsMaterial, log: Logger, intervalMs = TLS_RELOAD_INTERVAL_MS): TlsWatcher {
  let current = initial
  let seen = initial.signature
  let refused: string | undefined
  let busy = false
  const look = async (): Promise<void> => {
    const signature = await signatureOf(current.files)
    if (signature === current.signature || signature === refused) { seen = signature; return }
    if (signature !== seen) { seen = signature; return }
    try {
      const material = await loadTlsMaterial(current.files)
      server.setSecureContext(secureContextOptions(material))
      current = material
      refused = undefined
      log.info(describeCertificate(material.leaf), 'TLS certificate reloaded')
    } catch (err) {
      refused = signature
      log.warn({ err: { message: (err as Error).message } }, 'TLS files changed but cannot be served; the current certificate stays')
    }
  }
  const timer = setInterval(() => {
    if (busy) return
    busy = true
    look().catch((err: unknown) => log.error({ err }, 'failed to check the TLS files')).finally(() => { busy = false })
  }, intervalMs)
  timer.unref()
  return {
    get current() { return current },
    close: () => clearInterval(timer),
  }
}

/**
 * The common name of the client certificate the TLS layer verified against `http.tls.clientCA`, or
 * undefined: plain HTTP, no certificate, one the CA did not sign (ignored, as registry:2 does with
 * `VerifyClientCertIfGiven`), or a subject without exactly one common name.
 */
export function certificateName(request: FastifyRequest): string | undefined {
  const socket = request.raw.socket
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined
  const name = socket.getPeerCertificate().subject?.CN
  return typeof name === 'string' && name !== '' ? name : undefined
}

/**
 * Logs (debug) once per connection what its client certificate amounts to: the verified name, or
 * why a presented certificate was ignored.
 */
export function logClientCertificate(request: FastifyRequest, logged: WeakSet<object>): void {
  const socket = request.raw.socket
  if (!(socket instanceof TLSSocket) || logged.has(socket)) return
  logged.add(socket)
  const name = certificateName(request)
  if (name !== undefined) {
    request.log.debug({ certificate: name }, 'client certificate verified')
    return
  }
  const presented = socket.getPeerCertificate()
  if (presented === null || Object.keys(presented).length === 0) return
  const subject = presented.subject?.CN
  const reason = socket.authorized ? 'no single common name in its subject' : String(socket.authorizationError)
  request.log.debug({ certificate: typeof subject === 'string' ? subject : undefined, reason }, 'client certificate ignored')
}
