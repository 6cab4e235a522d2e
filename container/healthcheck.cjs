// The image's HEALTHCHECK (slim images have no curl): GET /readyz over loopback; healthy on 200 only.
//
// Where the server listens and whether it speaks HTTPS come from the configuration the server
// reads, through its own loader (WHARF_CONFIG and the WHARF_* variables; --config, --host and
// --port given here override them, as they do for `wharf serve`). Over HTTPS the connection is
// accepted only when the server presents exactly the certificate configured in http.tls: no CA is
// needed (a private CA's root need not be in the image) and nothing else passes for the server.
'use strict'
const { X509Certificate } = require('node:crypto')
const { existsSync, readFileSync } = require('node:fs')
const http = require('node:http')
const https = require('node:https')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

const TIMEOUT_MS = 4000

/** The server's compiled config loader: beside this file in the image (/app), one level up in the repository (container/). */
function configModule() {
  const candidates = [path.join(__dirname, 'dist/src/config/config.js'), path.join(__dirname, '../dist/src/config/config.js')]
  const found = candidates.find((file) => existsSync(file))
  if (found === undefined) throw new Error(`no compiled config loader at ${candidates.join(' or ')}`)
  return pathToFileURL(found).href
}

/** --config, --host and --port, as `wharf serve` takes them. */
function options(argv) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const match = /^--(config|host|port)(?:=(.*))?$/.exec(argv[i])
    if (match === null) throw new Error(`unknown argument ${argv[i]} (takes --config, --host, --port)`)
    out[match[1]] = match[2] !== undefined ? match[2] : argv[++i]
  }
  return out
}

/** A wildcard listen address is reached over loopback. */
function connectHost(host) {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1'
  return host
}

/** The first certificate of a PEM file (the leaf; intermediates follow it). */
function leafOf(file) {
  return new X509Certificate(readFileSync(file))
}

async function main() {
  const args = options(process.argv.slice(2))
  const { loadConfig } = await import(configModule())
  const file = args.config !== undefined ? args.config : process.env.WHARF_CONFIG
  const config = await loadConfig({
    ...(file !== undefined ? { file } : {}),
    env: process.env,
    overrides: { http: { ...(args.host !== undefined ? { host: args.host } : {}), ...(args.port !== undefined ? { port: args.port } : {}) } },
  })
  const host = connectHost(config.http.host)
  const tls = config.http.tls
  const expected = tls !== null ? leafOf(tls.certificate) : undefined
  const status = await new Promise((resolve, reject) => {
    const target = { host, port: config.http.port, path: '/readyz', timeout: TIMEOUT_MS }
    // The certificate is checked below against the configured one instead of against a CA.
    const req = expected === undefined ? http.get(target, answer) : https.get({ ...target, rejectUnauthorized: false }, answer)
    function answer(res) {
      if (expected !== undefined) {
        const served = res.socket.getPeerCertificate()
        if (served === null || served.raw === undefined || !served.raw.equals(expected.raw)) {
          res.destroy()
          reject(new Error(`the server presents certificate ${served && served.fingerprint256}, not the configured ${tls.certificate} (${expected.fingerprint256})`))
          return
        }
      }
      res.resume()
      res.on('end', () => resolve(res.statusCode))
      res.on('error', reject)
    }
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)))
    req.on('error', reject)
  })
  if (status !== 200) throw new Error(`/readyz answered ${status}`)
}

main().then(() => process.exit(0), (err) => {
  console.error(`readyz: ${err.message}`)
  process.exit(1)
})
