import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'

/**
 * Certificates made for a test with the openssl CLI (as an operator would make them): a CA, server
 * certificates for loopback addresses, client certificates. EC P-256 keys, valid for two days.
 */

const run = promisify(execFile)

export interface KeyPair {
  /** PEM files. */
  readonly cert: string
  readonly key: string
  /** The certificate's serial number, upper-case hex as node's X509Certificate gives it. */
  readonly serial: string
}

export interface CertificateAuthority extends KeyPair {
  readonly name: string
  readonly dir: string
}

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd })
}

function newSerial(): string {
  // Positive and without a leading zero byte, so that openssl and node print it the same way.
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) | 0x10
  return bytes.toString('hex').toUpperCase()
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** A self-signed CA `name` in `dir` (files `<file>.crt` and `<file>.key`). */
export async function makeCertificateAuthority(dir: string, name: string, file = name.replace(/\W+/g, '-')): Promise<CertificateAuthority> {
  const cert = path.join(dir, `${file}.crt`)
  const key = path.join(dir, `${file}.key`)
  const serial = newSerial()
  await openssl(['req', '-x509', ...EC_KEY, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-set_serial', `0x${serial}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir)
  return { name, dir, cert, key, serial }
}

/** An intermediate CA `name` signed by `ca` (files `<file>.crt` and `<file>.key` in the same directory). */
export async function issueIntermediate(ca: CertificateAuthority, name: string, file: string): Promise<CertificateAuthority> {
  const pair = await issueCertificate(ca, { kind: 'ca', name, file })
  return { ...pair, name, dir: ca.dir }
}

/**
 * A certificate signed by `ca`: for a server (`kind: 'server'`, subjectAltName the given IP
 * addresses and DNS names), a client (`kind: 'client'`, common name `name`) or a CA (issueIntermediate).
 */
export async function issueCertificate(ca: CertificateAuthority, options: {
  readonly kind: 'server' | 'client' | 'ca'
  readonly name: string
  readonly file: string
  readonly ips?: readonly string[]
  readonly dns?: readonly string[]
}): Promise<KeyPair> {
  const cert = path.join(ca.dir, `${options.file}.crt`)
  const key = path.join(ca.dir, `${options.file}.key`)
  const csr = path.join(ca.dir, `${options.file}.csr`)
  const extensions = path.join(ca.dir, `${options.file}.ext`)
  const serial = newSerial()
  const altNames = [...(options.ips ?? []).map((ip) => `IP:${ip}`), ...(options.dns ?? []).map((name) => `DNS:${name}`)]
  await writeFile(extensions, [
    ...(options.kind === 'ca'
      ? ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign,cRLSign']
      : ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', `extendedKeyUsage=${options.kind === 'server' ? 'serverAuth' : 'clientAuth'}`]),
    ...(altNames.length > 0 ? [`subjectAltName=${altNames.join(',')}`] : []),
    '',
  ].join('\n'))
  await openssl(['req', '-new', ...EC_KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${options.name}`], ca.dir)
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${serial}`, '-days', '2',
    '-extfile', extensions, '-out', cert], ca.dir)
  return { cert, key, serial }
}

/** The PEM text of a file (to hand to node's TLS options). */
export async function pem(file: string): Promise<string> {
  return readFile(file, 'utf8')
}
