import { availableParallelism } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { configError, yamlFiles } from './helpers.js'
import { DEFAULT_CONFIG, loadConfig } from '../../src/config/config.js'

const yamlFile = yamlFiles(t)

t.test('defaults', async (t) => {
  const config = await loadConfig()
  t.same(config, DEFAULT_CONFIG)
  t.match(config, {
    http: { host: '127.0.0.1', port: 5000 },
    storage: { path: './storage' },
    limits: { manifestMaxBytes: 4 * 1024 * 1024, pageMaxEntries: 10_000 },
    log: { level: 'info', requests: false },
  })
  t.same(await loadConfig({ env: {} }), DEFAULT_CONFIG, 'an empty environment')
  t.same(await loadConfig({ env: { HOME: '/root', WHARF_CONFIG: 'x', WHARF_NOT_AN_OPTION: '1' } }), DEFAULT_CONFIG, 'unrelated variables are ignored')
})

t.test('a YAML file sets options, the rest keep their defaults', async (t) => {
  const file = await yamlFile(`
http:
  host: 0.0.0.0
  port: 6000
storage:
  path: /var/lib/wharf
limits:
  manifestMaxBytes: 1048576
log:
  level: debug
  requests: true
`)
  const config = await loadConfig({ file })
  t.match(config, {
    http: { host: '0.0.0.0', port: 6000 },
    storage: { path: '/var/lib/wharf' },
    limits: { manifestMaxBytes: 1048576, pageMaxEntries: DEFAULT_CONFIG.limits.pageMaxEntries },
    log: { level: 'debug', requests: true },
  })
  t.same(await loadConfig({ file: await yamlFile('') }), DEFAULT_CONFIG, 'an empty file')
  t.same(await loadConfig({ file: await yamlFile('# only a comment\n') }), DEFAULT_CONFIG, 'a file of comments')
})

t.test('environment variables WHARF_<SECTION>_<OPTION> override the file', async (t) => {
  const file = await yamlFile('http:\n  port: 6000\n  host: 10.0.0.1\nlog:\n  requests: false\n')
  const config = await loadConfig({
    file,
    env: { WHARF_HTTP_PORT: '7000', WHARF_STORAGE_PATH: '/data', WHARF_LOG_REQUESTS: 'true', WHARF_LIMITS_MANIFESTMAXBYTES: '2048', WHARF_LOG_LEVEL: 'warn' },
  })
  t.match(config, {
    http: { host: '10.0.0.1', port: 7000 },
    storage: { path: '/data' },
    limits: { manifestMaxBytes: 2048 },
    log: { level: 'warn', requests: true },
  })
  t.equal((await loadConfig({ env: { WHARF_HTTP_PORT: ' 8080 ' } })).http.port, 8080, 'whitespace around a number')
  t.equal((await loadConfig({ env: { WHARF_LOG_REQUESTS: 'false' } })).log.requests, false)
})

t.test('explicit overrides (command-line flags) win over everything', async (t) => {
  const file = await yamlFile('http:\n  port: 6000\n')
  const config = await loadConfig({
    file,
    env: { WHARF_HTTP_PORT: '7000', WHARF_STORAGE_PATH: '/env' },
    overrides: { http: { port: '9000' as unknown as number }, storage: { path: '/flag' } },
  })
  t.equal(config.http.port, 9000)
  t.equal(config.storage.path, '/flag')
  t.equal((await loadConfig({ overrides: { http: { port: 0 } } })).http.port, 0, 'port 0 picks a free port')
  t.equal((await loadConfig({ env: { WHARF_HTTP_PORT: '7000' }, overrides: { http: {} } })).http.port, 7000, 'an empty override section changes nothing')
})

t.test('unknown sections and options are rejected', async (t) => {
  t.match(await configError(loadConfig({ file: await yamlFile('htp:\n  port: 1\n') })), /unknown config section "htp"/)
  t.match(await configError(loadConfig({ file: await yamlFile('http:\n  prot: 1\n') })), /unknown config option "http\.prot"/)
  t.match(await configError(loadConfig({ file: await yamlFile('log:\n  level: info\n  colour: true\n') })), /unknown config option "log\.colour"/)
})

t.test('bad types and values are rejected', async (t) => {
  const bad: Array<[string, RegExp, string]> = [
    ['http:\n  port: "6000"\n', /http\.port must be a non-negative integer/, 'a quoted number in YAML'],
    ['http:\n  port: -1\n', /http\.port/, 'negative port'],
    ['http:\n  port: 1.5\n', /http\.port/, 'fractional port'],
    ['http:\n  port: 70000\n', /http\.port must be at most 65535/, 'port out of range'],
    ['http:\n  host: ""\n', /http\.host must be a non-empty string/, 'empty host'],
    ['http:\n  host: 127\n', /http\.host must be a non-empty string/, 'numeric host'],
    ['storage:\n  path: [a, b]\n', /storage\.path/, 'a list as a path'],
    ['log:\n  requests: "yes"\n', /log\.requests must be true or false/, 'string boolean in YAML'],
    ['log:\n  level: loud\n', /log\.level must be one of/, 'unknown log level'],
    ['limits:\n  pageMaxEntries: 0\n', /pageMaxEntries must be at least 1/, 'zero page size'],
    ['http: 5000\n', /http must be a mapping/, 'a section that is not a mapping'],
    ['http:\n  - port\n', /http must be a mapping/, 'a section that is a list'],
    ['- a\n- b\n', /must be a YAML mapping/, 'a list document'],
    ['just a string\n', /must be a YAML mapping/, 'a scalar document'],
    ['http:\n  port: [1\n', /cannot read config file/, 'broken YAML'],
  ]
  for (const [text, reason, why] of bad) t.match(await configError(loadConfig({ file: await yamlFile(text) })), reason, why)
  const badEnv: Array<[Record<string, string>, RegExp, string]> = [
    [{ WHARF_HTTP_PORT: 'abc' }, /WHARF_HTTP_PORT must be a non-negative integer/, 'not a number'],
    [{ WHARF_HTTP_PORT: '' }, /WHARF_HTTP_PORT/, 'empty'],
    [{ WHARF_HTTP_PORT: '-5' }, /WHARF_HTTP_PORT/, 'negative'],
    [{ WHARF_HTTP_PORT: '80.5' }, /WHARF_HTTP_PORT/, 'fractional'],
    [{ WHARF_HTTP_PORT: '99999' }, /at most 65535/, 'out of range'],
    [{ WHARF_LOG_REQUESTS: 'yes' }, /WHARF_LOG_REQUESTS must be true or false/, 'yes is not a boolean'],
    [{ WHARF_LOG_REQUESTS: '1' }, /WHARF_LOG_REQUESTS/, '1 is not a boolean'],
    [{ WHARF_STORAGE_PATH: '' }, /WHARF_STORAGE_PATH must be a non-empty string/, 'empty path'],
    [{ WHARF_LOG_LEVEL: 'verbose' }, /log\.level/, 'unknown level'],
  ]
  for (const [env, reason, why] of badEnv) t.match(await configError(loadConfig({ env })), reason, `env: ${why}`)
  t.match(await configError(loadConfig({ overrides: { http: { port: 'x' as unknown as number } } })), /--port must be a non-negative integer/, 'a bad flag names the flag')
})

t.test('http.workers: 1 by default, a number or auto (one per core) from the file, WHARF_HTTP_WORKERS or --workers', async (t) => {
  t.equal((await loadConfig()).http.workers, 1, 'one process by default')
  t.equal((await loadConfig({ file: await yamlFile('http:\n  workers: 4\n') })).http.workers, 4, 'a number in the file')
  t.equal((await loadConfig({ file: await yamlFile('http:\n  workers: auto\n') })).http.workers, availableParallelism(), 'auto in the file: one per core')
  t.equal((await loadConfig({ env: { WHARF_HTTP_WORKERS: '3' } })).http.workers, 3, 'from the environment')
  t.equal((await loadConfig({ env: { WHARF_HTTP_WORKERS: 'auto' } })).http.workers, availableParallelism(), 'auto from the environment')
  t.equal((await loadConfig({ env: { WHARF_HTTP_WORKERS: '3' }, overrides: { http: { workers: '2' as unknown as number } } })).http.workers, 2, 'the flag wins')
  const bad: Array<[string, string]> = [['http:\n  workers: 0\n', 'zero'], ['http:\n  workers: "2"\n', 'a quoted number'], ['http:\n  workers: 1.5\n', 'a fraction'], ['http:\n  workers: many\n', 'a word'], ['http:\n  workers: 257\n', 'too many']]
  for (const [text, why] of bad) {
    t.match(await configError(loadConfig({ file: await yamlFile(text) })), /http\.workers must be auto or a whole number from 1 to 256/, why)
  }
  t.match(await configError(loadConfig({ env: { WHARF_HTTP_WORKERS: '-1' } })), /WHARF_HTTP_WORKERS must be auto or a whole number/, 'negative in the environment')
  t.match(await configError(loadConfig({ overrides: { http: { workers: 'all' as unknown as number } } })), /--workers must be auto or a whole number/, 'a bad flag names the flag')
})

t.test('a missing config file is a ConfigError naming it', async (t) => {
  const file = `${path.dirname(await yamlFile(''))}/does-not-exist.yaml`
  t.match(await configError(loadConfig({ file })), new RegExp(`cannot read config file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
})

t.test('auth: absent means open; htpasswd turns it on; rules, anonymous, token, trust and throttle parsed', async (t) => {
  t.equal((await loadConfig()).auth, null, 'no auth section: open')
  t.equal((await loadConfig({ file: await yamlFile('http:\n  port: 5001\n') })).auth, null)
  const fromEnv = await loadConfig({ env: { WHARF_AUTH_HTPASSWD: '/etc/wharf/htpasswd' } })
  t.match(fromEnv.auth, { htpasswd: '/etc/wharf/htpasswd', rules: [], anonymous: [], groups: {}, token: { service: 'wharf', issuer: 'wharf', expiresSeconds: 300 }, throttle: { failures: 10, windowSeconds: 300 } })
  const config = await loadConfig({
    file: await yamlFile([
      'auth:',
      '  htpasswd: ./htpasswd',
      '  groups:',
      '    devs: [bob, carol]',
      '  rules:',
      '    - repositories: "team/**"',
      '      groups: [devs]',
      '      actions: [pull, push]',
      '    - users: [alice]',
      '      actions: [admin]',
      '  anonymous:',
      '    - repositories: "public/**"',
      '      actions: [pull]',
      '  token:',
      '    realm: https://registry.example/token',
      '    expiresSeconds: 600',
      '  trust:',
      '    issuer: corp-auth',
      '    service: registry.example',
      '    realm: https://auth.example/token',
      '    jwks: ./jwks.json',
      '  throttle:',
      '    failures: 5',
    ].join('\n')),
  })
  t.same(config.auth, {
    htpasswd: './htpasswd',
    groups: { devs: ['bob', 'carol'] },
    rules: [
      { repositories: 'team/**', users: [], groups: ['devs'], actions: ['pull', 'push'] },
      { repositories: '**', users: ['alice'], groups: [], actions: ['admin'] },
    ],
    anonymous: [{ repositories: 'public/**', actions: ['pull'] }],
    token: { realm: 'https://registry.example/token', service: 'wharf', issuer: 'wharf', expiresSeconds: 600, refreshExpiresSeconds: 30 * 24 * 3600 },
    trust: { issuer: 'corp-auth', service: 'registry.example', realm: 'https://auth.example/token', jwks: './jwks.json' },
    throttle: { failures: 5, windowSeconds: 300 },
  })
  t.equal((await loadConfig({ file: await yamlFile('auth:\n  htpasswd: ./a\n'), env: { WHARF_AUTH_HTPASSWD: './b' } })).auth?.htpasswd, './b', 'the environment wins')
})

t.test('auth: mistakes are refused with the option named', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['auth:\n  rules: []\n', /auth needs htpasswd/],
    ['auth:\n  htpasswd: x\n  rule: []\n', /unknown config option "auth.rule"/],
    ['auth:\n  htpasswd: x\n  rules:\n    - repositories: a\n      actions: [pull]\n', /must name users or groups/],
    ['auth:\n  htpasswd: x\n  rules:\n    - repositories: a\n      users: [u]\n      actions: [pull, write]\n', /"write" is not one of pull, push, delete, admin/],
    ['auth:\n  htpasswd: x\n  rules:\n    - repositories: a\n      groups: [nobody]\n      actions: [pull]\n', /"nobody" is not defined under auth.groups/],
    ['auth:\n  htpasswd: x\n  rules:\n    - users: [u]\n      actions: [pull]\n', /auth.rules\[0\].repositories must be a non-empty string/],
    ['auth:\n  htpasswd: x\n  anonymous:\n    - repositories: a\n      actions: [admin]\n', /"admin" is not one of pull, push, delete/],
    ['auth:\n  htpasswd: x\n  token:\n    expiresSeconds: 0\n', /auth.token.expiresSeconds must be a positive integer/],
    ['auth:\n  htpasswd: x\n  trust:\n    issuer: i\n    service: s\n    realm: r\n', /exactly one of publicKey and jwks/],
    ['http:\n  tls:\n    certificate: c.pem\n', /http.tls needs both certificate and key/],
    ['http:\n  tls:\n    certificate: c.pem\n    key: k.pem\n    ca: x\n', /unknown config option "http.tls.ca"/],
  ]
  for (const [yaml, expected] of cases) t.match(await configError(loadConfig({ file: await yamlFile(yaml) })), expected, yaml)
})

t.test('http.tls from the file or the environment', async (t) => {
  t.equal((await loadConfig()).http.tls, null)
  t.same((await loadConfig({ file: await yamlFile('http:\n  tls:\n    certificate: c.pem\n    key: k.pem\n') })).http.tls, { certificate: 'c.pem', key: 'k.pem' })
  t.same((await loadConfig({ env: { WHARF_HTTP_TLS_CERTIFICATE: 'c', WHARF_HTTP_TLS_KEY: 'k', WHARF_HTTP_TLS_CLIENTCA: 'ca' } })).http.tls, { certificate: 'c', key: 'k', clientCA: 'ca' })
})

t.test('metadata: SQLite by default; PostgreSQL from the file or the environment', async (t) => {
  t.same((await loadConfig()).metadata, { driver: 'sqlite', postgres: null })
  const file = await yamlFile('metadata:\n  driver: postgres\n  postgres:\n    url: postgres://wharf:pw@db:5432/wharf\n    poolSize: 4\n')
  t.same((await loadConfig({ file })).metadata, { driver: 'postgres', postgres: { url: 'postgres://wharf:pw@db:5432/wharf', poolSize: 4 } })
  const env = { WHARF_METADATA_DRIVER: 'postgres', WHARF_METADATA_POSTGRES_URL: 'postgresql://wharf:other@db2/wharf' }
  t.same((await loadConfig({ env })).metadata, { driver: 'postgres', postgres: { url: 'postgresql://wharf:other@db2/wharf', poolSize: 10 } }, 'the URL (and its password) can stay out of the file')
  t.same((await loadConfig({ file, env: { WHARF_METADATA_POSTGRES_URL: 'postgres://x@y/z' } })).metadata.postgres?.url, 'postgres://x@y/z', 'the environment wins')
})

t.test('metadata: mistakes are refused with the option named', async (t) => {
  t.equal(await configError(loadConfig({ file: await yamlFile('metadata:\n  driver: mysql\n') })), 'metadata.driver must be one of sqlite, postgres')
  t.equal(await configError(loadConfig({ file: await yamlFile('metadata:\n  driver: postgres\n') })), 'metadata.driver postgres needs metadata.postgres.url (or WHARF_METADATA_POSTGRES_URL)')
  t.equal(await configError(loadConfig({ file: await yamlFile('metadata:\n  driver: postgres\n  postgres:\n    url: mysql://x\n') })), 'metadata.postgres.url must be a postgres:// URL')
  t.equal(await configError(loadConfig({ file: await yamlFile('metadata:\n  postgres:\n    url: postgres://x@y/z\n') })), 'metadata.postgres is set but metadata.driver is not postgres')
  t.equal(await configError(loadConfig({ file: await yamlFile('metadata:\n  driver: postgres\n  postgres:\n    url: postgres://x@y/z\n    pool: 3\n') })), 'unknown config option "metadata.postgres.pool"')
  t.equal(await configError(loadConfig({ file: await yamlFile('metadata:\n  path: x\n') })), 'unknown config option "metadata.path"')
  t.equal(await configError(loadConfig({ file: await yamlFile('metadata:\n  driver: postgres\n  postgres:\n    url: postgres://x@y/z\n    poolSize: 0\n') })), 'metadata.postgres.poolSize must be a positive integer')
})
