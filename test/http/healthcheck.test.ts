/**
 * The container image's HEALTHCHECK script (container/healthcheck.cjs) run as the image runs it,
 * against a real `wharf serve`: it reads the configuration the server reads (WHARF_CONFIG, WHARF_*
 * variables, --config/--host/--port) and is healthy over plain HTTP and over HTTPS (http.tls),
 * where it accepts only the certificate configured; read-only mode is still healthy; a server
 * that is gone, a wrong port or another certificate is unhealthy.
 */
import { execFile } from 'node:child_process'
import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { freePort, issueCertificate, makeCertificateAuthority, startWharf, tempDir, writeConfig } from '../support/index.js'

const HEALTHCHECK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../container/healthcheck.cjs')

interface Outcome { code: number | null; stderr: string }

/** Runs the script as Docker does (node healthcheck.cjs), with only the given WHARF_* variables. */
function healthcheck(env: Record<string, string>, args: readonly string[] = []): Promise<Outcome> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('WHARF_')))
  return new Promise((resolve) => {
    execFile(process.execPath, [HEALTHCHECK, ...args], { env: { ...clean, ...env }, timeout: 20_000 }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr })
    })
  })
}

const dir = await tempDir('healthcheck')
t.teardown(() => rm(dir, { recursive: true, force: true }))
await mkdir(path.join(dir, 'ca'))
const ca = await makeCertificateAuthority(path.join(dir, 'ca'), 'Healthcheck CA', 'ca')
const served = await issueCertificate(ca, { kind: 'server', name: 'registry.example', file: 'served', dns: ['registry.example'] })
const other = await issueCertificate(ca, { kind: 'server', name: 'registry.example', file: 'other', dns: ['registry.example'] })

t.test('plain HTTP: healthy on the port of the config file; unhealthy on another port and once the server is gone', async (t) => {
  const port = await freePort()
  const config = await writeConfig(dir, { http: { host: '0.0.0.0', port } })
  const wharf = await startWharf({ port, extraArgs: ['--config', config] })
  t.teardown(() => wharf.stop({ removeStorage: true }))
  const healthy = await healthcheck({ WHARF_CONFIG: config })
  t.equal(healthy.code, 0, healthy.stderr)
  const viaArgs = await healthcheck({}, ['--config', config, '--host', '127.0.0.1'])
  t.equal(viaArgs.code, 0, `--config and --host as serve takes them: ${viaArgs.stderr}`)
  const wrongPort = await healthcheck({ WHARF_CONFIG: config }, ['--port', String(await freePort())])
  t.equal(wrongPort.code, 1, 'nothing listens on the port given')
  t.match(wrongPort.stderr, /^readyz: .*ECONNREFUSED/)
  const overEnv = await healthcheck({ WHARF_CONFIG: config, WHARF_HTTP_PORT: String(await freePort()) })
  t.equal(overEnv.code, 1, 'WHARF_HTTP_PORT overrides the file, as for the server')
  await wharf.stop()
  const gone = await healthcheck({ WHARF_CONFIG: config })
  t.equal(gone.code, 1, 'the server is gone')
})

t.test('HTTPS: healthy when the server presents the configured certificate (read-only mode too); unhealthy with another one', async (t) => {
  const port = await freePort()
  const config = await writeConfig(dir, { http: { port, tls: { certificate: served.cert, key: served.key } }, maintenance: { readOnly: true } })
  const wharf = await startWharf({ port, extraArgs: ['--config', config] })
  t.teardown(() => wharf.stop({ removeStorage: true }))
  t.match(wharf.url, /^https:/)
  const healthy = await healthcheck({ WHARF_CONFIG: config })
  t.equal(healthy.code, 0, `over HTTPS, no CA needed: ${healthy.stderr}`)
  const mismatch = await healthcheck({ WHARF_CONFIG: config, WHARF_HTTP_TLS_CERTIFICATE: other.cert, WHARF_HTTP_TLS_KEY: other.key })
  t.equal(mismatch.code, 1, 'a server presenting another certificate is not taken for this one')
  t.match(mismatch.stderr, /not the configured .*other\.crt/)
  const plain = await healthcheck({ WHARF_HTTP_PORT: String(port) })
  t.equal(plain.code, 1, 'plain HTTP to the HTTPS port is refused')
})
