// HTTPS (http.tls): a real `wharf serve` with certificates made here by the openssl CLI serves the
// API over TLS 1.2+, replaces its certificate when the files are renamed into place (new
// connections get the new one, open ones keep working, a broken pair is refused and the old one
// kept), names the caller by a client certificate only when the client CA signed it, and refuses
// to start, with one line, on files it cannot serve.
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises'
import https from 'node:https'
import path from 'node:path'
import tls, { type TLSSocket } from 'node:tls'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { appOptionsFrom, compose } from '../../src/cli/composition.js'
import { DEFAULT_CONFIG, type Config } from '../../src/config/config.js'
import { buildApp } from '../../src/http/app.js'
import { certificateName, loadTlsMaterial } from '../../src/http/tls.js'
import {
  RegistryClient, digestOf, sleep, issueCertificate, issueIntermediate, makeCertificateAuthority, pem, request, runCli, startTestServer, tempDir, uniqueRepo, waitFor,
  writeConfig, type WharfProcess,
} from '../support/index.js'

const run = promisify(execFile)

const dir = await tempDir('tls')
t.teardown(() => rm(dir, { recursive: true, force: true }))

const ca = await makeCertificateAuthority(await mkdirIn('ca'), 'Wharf Test CA', 'ca')
const otherCa = await makeCertificateAuthority(await mkdirIn('other-ca'), 'Other CA', 'ca')
const first = await issueCertificate(ca, { kind: 'server', name: '127.0.0.1', file: 'server-1', ips: ['127.0.0.1'] })
const second = await issueCertificate(ca, { kind: 'server', name: '127.0.0.1', file: 'server-2', ips: ['127.0.0.1'] })
const third = await issueCertificate(ca, { kind: 'server', name: '127.0.0.1', file: 'server-3', ips: ['127.0.0.1'] })
const alice = await issueCertificate(ca, { kind: 'client', name: 'alice', file: 'alice' })
const mallory = await issueCertificate(otherCa, { kind: 'client', name: 'mallory', file: 'mallory' })
const caPem = await pem(ca.cert)

async function mkdirIn(name: string): Promise<string> {
  const sub = path.join(dir, name)
  await mkdir(sub, { recursive: true })
  return sub
}

// The served files live apart from where they were made, replaced by renaming as certbot does.
const served = await mkdirIn('served')
const servedCert = path.join(served, 'tls.crt')
const servedKey = path.join(served, 'tls.key')
await copyFile(first.cert, servedCert)
await copyFile(first.key, servedKey)

/** As a renewal does: the certificate renamed into place, then (half a second later, a slow tool) its key. */
async function replaceServed(pair: { cert: string; key: string }): Promise<void> {
  await copyFile(pair.cert, `${servedCert}.new`)
  await copyFile(pair.key, `${servedKey}.new`)
  await rename(`${servedCert}.new`, servedCert)
  await sleep(500)
  await rename(`${servedKey}.new`, servedKey)
}

const configFile = await writeConfig(dir, { log: { level: 'debug' }, http: { maxHeaderBytes: 8192, tls: { certificate: servedCert, key: servedKey, clientCA: ca.cert } } })
const { wharf } = await startTestServer(t, { extraArgs: ['--config', configFile] })
const port = Number(new URL(wharf.url).port)

function agent(options: https.AgentOptions = {}): https.Agent {
  const made = new https.Agent({ ca: caPem, keepAlive: true, maxSockets: 1, ...options })
  t.teardown(() => made.destroy())
  return made
}

/** The serial number of the certificate a new connection is served. */
async function servedSerial(): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: caPem })
  try {
    await once(socket, 'secureConnect')
    return socket.getPeerCertificate().serialNumber
  } finally {
    socket.destroy()
  }
}

interface Exchange { status: number; serial: string; reused: boolean; socket: TLSSocket }

/** GET through `via`, saying which certificate the connection carries and whether it was an open one. */
function get(via: https.Agent, pathname = '/v2/'): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: pathname, agent: via }, (res) => {
      const socket = res.socket as TLSSocket
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, serial: socket.getPeerCertificate().serialNumber, reused: req.reusedSocket, socket }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

function logEntries(server: WharfProcess): Array<Record<string, unknown>> {
  return server.logs.flatMap((line) => {
    try { return [JSON.parse(line) as Record<string, unknown>] } catch { return [] }
  })
}

t.test('/v2/ over HTTPS, trusted through the CA, TLS 1.2 at least', async (t) => {
  t.match(wharf.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the listening line gives an https URL')
  const res = await request(wharf.url, '/v2/', { agent: agent() })
  t.equal(res.status, 200, res.describe())
  t.equal(res.header('docker-distribution-api-version'), 'registry/2.0')
  t.same(res.json(), {})
  // 10 KB: under Node's default limit (16 KiB), over the configured 8 KiB.
  const large = await request(wharf.url, '/v2/', { agent: agent(), headers: { 'x-padding': 'a'.repeat(10_000) } })
  t.equal(large.status, 431, 'http.maxHeaderBytes applies over HTTPS too')
  t.equal(await servedSerial(), first.serial, 'the configured certificate is served')
  const started = logEntries(wharf).find((e) => e.msg === 'TLS certificate loaded')
  t.equal(started?.serial, first.serial, 'the start-up log names the certificate')
  t.equal(started?.subject, 'CN=127.0.0.1')
  t.ok(typeof started?.notAfter === 'string' && Date.parse(started.notAfter) > Date.now(), 'and its expiry')

  await t.rejects(request(wharf.url, '/v2/', { agent: new https.Agent({ keepAlive: false }) }), /self-signed|unable to verify|certificate/i,
    'a client that does not trust the CA refuses the server')
  // The client allows old versions (security level 0), so only the server can be the one refusing.
  const old = tls.connect({ host: '127.0.0.1', port, ca: caPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })
  await t.rejects(once(old, 'secureConnect'), 'TLS 1.1 is refused')
  old.destroy()
  const modern = tls.connect({ host: '127.0.0.1', port, ca: caPem, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })
  await once(modern, 'secureConnect')
  t.equal(modern.getProtocol(), 'TLSv1.2', 'TLS 1.2 is served')
  modern.destroy()
})

t.test('plain HTTP to the HTTPS port gets no HTTP answer', async (t) => {
  await t.rejects(request(wharf.url.replace('https:', 'http:'), '/v2/', { fresh: true, timeoutMs: 5000 }))
})

t.test('push and pull a blob and a manifest over HTTPS, digests verified', async (t) => {
  const client = new RegistryClient(wharf.url, { agent: agent({ maxSockets: 4 }) })
  const repo = uniqueRepo('tls')
  const { config, layers, manifest } = await client.pushImage(repo, { tag: '1.0', layerSize: 256 * 1024 })
  const pulled = await client.pullVerified(repo, '1.0')
  t.equal(pulled.digest, manifest.digest, 'the manifest read back by tag has the digest pushed')
  for (const blob of [config, ...layers]) {
    const body = pulled.blobs.get(blob.digest)
    t.ok(body !== undefined && digestOf(body) === blob.digest && body.equals(blob.data), `blob ${blob.digest} read back byte for byte`)
  }
})

// A real Go client. Without skopeo the test is skipped on a developer machine and fails in CI (CI=true).
const hasSkopeo = await run('skopeo', ['--version']).then(() => true, () => false)
t.test('skopeo trusts the registry through --cert-dir and presents a client certificate from it', hasSkopeo || process.env.CI === 'true' ? {} : { skip: 'skopeo is not installed' }, async (t) => {
  if (!hasSkopeo) {
    t.fail('skopeo is not installed (CI=true: prerequisites must be installed)')
    return
  }
  const client = new RegistryClient(wharf.url, { agent: agent() })
  const repo = uniqueRepo('tls-skopeo')
  const { manifest } = await client.pushImage(repo, { tag: 'v1' })
  const certDir = await mkdirIn('skopeo-certs')
  await copyFile(ca.cert, path.join(certDir, 'ca.crt'))
  const reference = `docker://127.0.0.1:${port}/${repo}:v1`
  const inspected = await run('skopeo', ['inspect', '--cert-dir', certDir, reference], { timeout: 60_000 })
  t.equal((JSON.parse(inspected.stdout) as { Digest: string }).Digest, manifest.digest, 'skopeo inspect reads the pushed image')

  const untrusting = await run('skopeo', ['inspect', '--cert-dir', await mkdirIn('skopeo-empty'), reference], { timeout: 60_000 }).then(() => '', (err: { stderr?: string }) => err.stderr ?? 'failed')
  t.match(untrusting, /certificate|x509/i, 'without the CA skopeo refuses the server')

  await copyFile(alice.cert, path.join(certDir, 'client.cert'))
  await copyFile(alice.key, path.join(certDir, 'client.key'))
  await run('skopeo', ['inspect', '--cert-dir', certDir, reference], { timeout: 60_000 })
  t.ok(logEntries(wharf).some((e) => e.msg === 'client certificate verified' && e.certificate === 'alice'), 'skopeo\'s client certificate named alice')
})

t.test('client certificates: one the client CA signed names the caller, any other is ignored', async (t) => {
  const aliceAgent = agent({ cert: await pem(alice.cert), key: await pem(alice.key) })
  t.equal((await get(aliceAgent)).status, 200)
  const verified = await waitFor('the certificate log line', async () => logEntries(wharf).find((e) => e.msg === 'client certificate verified' && e.certificate === 'alice'))
  t.equal(verified.level, 20, 'logged at debug')

  const malloryAgent = agent({ cert: await pem(mallory.cert), key: await pem(mallory.key) })
  t.equal((await get(malloryAgent)).status, 200, 'a certificate from another CA does not stop the client')
  const ignored = await waitFor('the ignored-certificate log line', async () => logEntries(wharf).find((e) => e.msg === 'client certificate ignored' && e.certificate === 'mallory'))
  t.equal(ignored.level, 20, 'logged at debug')
  t.match(String(ignored.reason), /^UNABLE_TO_/, 'the reason is the verification error')
  t.notOk(logEntries(wharf).some((e) => e.msg === 'client certificate verified' && e.certificate === 'mallory'), 'mallory is nobody')

  t.equal((await get(agent())).status, 200, 'a client without a certificate is served too')
})

/** Wharf built in this process with these TLS files, plus a route answering certificateName and the scheme. */
async function startInProcess(t: Test, files: { certificate: string; key: string; clientCA?: string }, reloadIntervalMs?: number): Promise<string> {
  const storage = await tempDir('tls-inprocess')
  const base: Config = { ...DEFAULT_CONFIG, storage: { ...DEFAULT_CONFIG.storage, path: storage }, log: { level: 'silent', requests: false } }
  const composed = await compose(base)
  const material = await loadTlsMaterial(files)
  const app = buildApp(composed.registry, {
    ...appOptionsFrom(base, composed.components.logger), tls: material, ...(reloadIntervalMs !== undefined ? { tlsReloadIntervalMs: reloadIntervalMs } : {}),
  })
  app.get('/whoami', async (request) => ({ name: certificateName(request) ?? null, protocol: request.protocol }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => {
    await app.close()
    await composed.close()
    await rm(storage, { recursive: true, force: true })
  })
  return `https://127.0.0.1:${(app.server.address() as { port: number }).port}`
}

async function whoami(url: string, options: https.AgentOptions): Promise<unknown> {
  return (await request(url, '/whoami', { agent: agent(options) })).json()
}

const aliceCertificate = { cert: await pem(alice.cert), key: await pem(alice.key) }
const malloryCertificate = { cert: await pem(mallory.cert), key: await pem(mallory.key) }

t.test('certificateName and the scheme, in process: what the request context gets', async (t) => {
  const url = await startInProcess(t, { certificate: first.cert, key: first.key, clientCA: ca.cert })
  t.same(await whoami(url, aliceCertificate), { name: 'alice', protocol: 'https' })
  t.same(await whoami(url, malloryCertificate), { name: null, protocol: 'https' }, 'another CA\'s certificate: nobody')
  t.same(await whoami(url, {}), { name: null, protocol: 'https' }, 'no certificate: nobody')
})

t.test('a changed client CA file applies to new connections', async (t) => {
  const clientCA = path.join(await mkdirIn('client-ca-reload'), 'clients.pem')
  await copyFile(ca.cert, clientCA)
  const url = await startInProcess(t, { certificate: first.cert, key: first.key, clientCA }, 100)
  t.same(await whoami(url, malloryCertificate), { name: null, protocol: 'https' })
  await writeFile(`${clientCA}.new`, `${caPem}${await pem(otherCa.cert)}`)
  await rename(`${clientCA}.new`, clientCA)
  await waitFor('mallory\'s CA to be trusted', async () => ((await whoami(url, malloryCertificate)) as { name: unknown }).name === 'mallory', 10_000, 100)
  t.same(await whoami(url, aliceCertificate), { name: 'alice', protocol: 'https' }, 'the first CA still counts')
})

t.test('a certificate file with its chain: clients that trust only the root are served the intermediate', async (t) => {
  const chainDir = await mkdirIn('chain')
  const root = await makeCertificateAuthority(chainDir, 'Chain Root CA', 'root')
  const intermediate = await issueIntermediate(root, 'Chain Intermediate CA', 'intermediate')
  const leaf = await issueCertificate(intermediate, { kind: 'server', name: '127.0.0.1', file: 'leaf', ips: ['127.0.0.1'] })
  const fullchain = path.join(chainDir, 'fullchain.pem')
  await writeFile(fullchain, `${await pem(leaf.cert)}${await pem(intermediate.cert)}`)
  const rootPem = await pem(root.cert)
  const url = await startInProcess(t, { certificate: fullchain, key: leaf.key })
  const res = await request(url, '/v2/', { agent: agent({ ca: rootPem }) })
  t.equal(res.status, 200)
  const leafOnly = await startInProcess(t, { certificate: leaf.cert, key: leaf.key })
  await t.rejects(request(leafOnly, '/v2/', { agent: agent({ ca: rootPem }) }), /issuer|verify|certificate/i, 'without the intermediate in the file, the chain is incomplete')
})

// Last of the tests on the shared server: they change its certificate.
t.test('replaced files: new connections get the new certificate, open ones keep working, a broken pair is refused', async (t) => {
  const keepAlive = agent()
  const before = await get(keepAlive)
  t.equal(before.serial, first.serial)

  await replaceServed(second)
  await waitFor('the new certificate on new connections', async () => (await servedSerial()) === second.serial, 10_000, 200)
  const reloaded = logEntries(wharf).find((e) => e.msg === 'TLS certificate reloaded')
  t.equal(reloaded?.serial, second.serial, 'the reload is logged with the new certificate')
  t.equal(reloaded?.subject, 'CN=127.0.0.1')
  t.notOk(logEntries(wharf).some((e) => e.level === 40), 'a renewal (certificate, then key renamed into place) logs no warning')

  const after = await get(keepAlive)
  t.ok(after.reused, 'the connection opened before the reload was used again')
  t.equal(after.socket, before.socket, 'the very same connection')
  t.equal(after.status, 200, 'and it still works')
  t.equal(after.serial, first.serial, 'with the certificate it was opened with')

  // A certificate whose key is not beside it: refused, the served one stays.
  await copyFile(third.cert, `${servedCert}.new`)
  await rename(`${servedCert}.new`, servedCert)
  const warning = await waitFor('the refusal to be logged', async () => logEntries(wharf).find((e) => e.level === 40), 10_000, 200)
  t.match(JSON.stringify(warning), /does not match/, `the warning says why: ${JSON.stringify(warning)}`)
  t.equal(await servedSerial(), second.serial, 'the served certificate stays')
  t.equal((await get(agent())).status, 200, 'new connections are served')
  await sleep(2500)
  t.equal(logEntries(wharf).filter((e) => e.level === 40).length, 1, 'the broken pair is reported once, not on every look')

  // Its key arrives: the pair is whole and served.
  await copyFile(third.key, `${servedKey}.new`)
  await rename(`${servedKey}.new`, servedKey)
  await waitFor('the repaired pair to be served', async () => (await servedSerial()) === third.serial, 10_000, 200)

  // Garbage in place of the certificate: refused too.
  await writeFile(`${servedCert}.new`, 'not a certificate\n')
  await rename(`${servedCert}.new`, servedCert)
  await waitFor('the second refusal', async () => logEntries(wharf).filter((e) => e.level === 40).length === 2, 10_000, 200)
  t.match(JSON.stringify(logEntries(wharf).filter((e) => e.level === 40)[1]), /not a PEM certificate/)
  t.equal(await servedSerial(), third.serial)
})

async function startFailure(t: Test, tlsSection: Record<string, string>, expected: RegExp): Promise<void> {
  const storage = await tempDir('tls-start')
  t.teardown(() => rm(storage, { recursive: true, force: true }))
  const file = await writeConfig(storage, { http: { tls: tlsSection } })
  const result = await runCli(['serve', '--config', file, '--host', '127.0.0.1', '--port', '0', '--storage', path.join(storage, 'data')], {}, { timeoutMs: 60_000 })
  t.equal(result.code, 1, `exit 1: ${result.stderr}`)
  const lines = result.stderr.trim().split('\n')
  t.equal(lines.length, 1, `one line: ${result.stderr}`)
  t.match(lines[0], /^wharf: cannot serve HTTPS: /)
  t.match(lines[0], expected)
  t.notMatch(result.stdout, /wharf listening/)
}

t.test('files that cannot be served stop the start: exit 1, one line', async (t) => {
  const missing = path.join(dir, 'nowhere.crt')
  await t.test('a missing certificate', (t) => startFailure(t, { certificate: missing, key: first.key }, /http\.tls\.certificate .*nowhere\.crt: no such file/))
  await t.test('a missing key', (t) => startFailure(t, { certificate: first.cert, key: path.join(dir, 'nowhere.key') }, /http\.tls\.key .*nowhere\.key: no such file/))
  await t.test('a key of another certificate', (t) => startFailure(t, { certificate: first.cert, key: second.key }, /http\.tls\.key .*server-2\.key does not match the certificate in .*server-1\.crt/))
  await t.test('a key in place of the certificate', (t) => startFailure(t, { certificate: first.key, key: first.key }, /not a PEM certificate/))
  await t.test('a missing client CA', (t) => startFailure(t, { certificate: first.cert, key: first.key, clientCA: missing }, /http\.tls\.clientCA .*: no such file/))
  await t.test('a client CA without certificates', (t) => startFailure(t, { certificate: first.cert, key: first.key, clientCA: first.key }, /http\.tls\.clientCA .*: no PEM certificate/))
})
