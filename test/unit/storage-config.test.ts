/** storage.driver and storage.s3: defaults, environment overrides (secrets outside the file) and clear errors. */
import t from 'tap'
import { configError, yamlFiles } from './helpers.js'
import { DEFAULT_CONFIG, loadConfig } from '../../src/config/config.js'
import { describeBlobStorage } from '../../src/config/storage-config.js'

const yamlFile = yamlFiles(t)

const MINIMAL = `
storage:
  driver: s3
  s3:
    endpoint: http://127.0.0.1:7480
    bucket: images
    accessKeyId: AKIAEXAMPLE
    secretAccessKey: file-secret
`

t.test('the filesystem driver is the default, with no s3 section', async (t) => {
  const config = await loadConfig()
  t.same(config.storage, { path: './storage', driver: 'filesystem', s3: null })
  t.same(DEFAULT_CONFIG.storage, config.storage)
})

t.test('a minimal s3 section gets every default', async (t) => {
  const config = await loadConfig({ file: await yamlFile(MINIMAL) })
  t.same(config.storage, {
    path: './storage',
    driver: 's3',
    s3: {
      endpoint: 'http://127.0.0.1:7480', bucket: 'images', region: 'us-east-1', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'file-secret',
      forcePathStyle: false, prefix: '', redirect: false, redirectExpirySeconds: 1200, partSize: 8 * 1024 * 1024,
    },
  })
})

t.test('every option from the file, then WHARF_STORAGE_S3_* over them', async (t) => {
  const file = await yamlFile(`${MINIMAL}    region: eu-west-1
    forcePathStyle: true
    prefix: wharf/
    redirect: true
    redirectExpirySeconds: 600
    partSize: 16777216
`)
  t.match((await loadConfig({ file })).storage.s3, { region: 'eu-west-1', forcePathStyle: true, prefix: 'wharf/', redirect: true, redirectExpirySeconds: 600, partSize: 16 * 1024 * 1024 })
  const env = {
    WHARF_STORAGE_S3_SECRETACCESSKEY: 'env-secret', WHARF_STORAGE_S3_ACCESSKEYID: 'ENVKEY', WHARF_STORAGE_S3_REDIRECT: 'false',
    WHARF_STORAGE_S3_PARTSIZE: '6291456', WHARF_STORAGE_S3_FORCEPATHSTYLE: 'false', WHARF_STORAGE_S3_REDIRECTEXPIRYSECONDS: '60',
  }
  t.match((await loadConfig({ file, env })).storage.s3, { accessKeyId: 'ENVKEY', secretAccessKey: 'env-secret', redirect: false, partSize: 6 * 1024 * 1024, forcePathStyle: false, redirectExpirySeconds: 60, region: 'eu-west-1' })
})

t.test('the driver and the whole section can come from the environment alone', async (t) => {
  const config = await loadConfig({
    env: {
      WHARF_STORAGE_DRIVER: 's3', WHARF_STORAGE_S3_ENDPOINT: 'https://s3.example.net', WHARF_STORAGE_S3_BUCKET: 'b',
      WHARF_STORAGE_S3_ACCESSKEYID: 'k', WHARF_STORAGE_S3_SECRETACCESSKEY: 's', WHARF_STORAGE_S3_REGION: 'auto',
    },
  })
  t.match(config.storage, { driver: 's3', s3: { endpoint: 'https://s3.example.net', bucket: 'b', accessKeyId: 'k', secretAccessKey: 's', region: 'auto' } })
  // Secrets in the environment of a filesystem server are not an error: they are unused.
  t.equal((await loadConfig({ env: { WHARF_STORAGE_S3_SECRETACCESSKEY: 's' } })).storage.s3, null)
})

t.test('mistakes are ConfigErrors that name the option', async (t) => {
  const bad: Array<[string, RegExp, string]> = [
    ['storage:\n  driver: gcs\n', /storage\.driver must be one of filesystem, s3/, 'an unknown driver'],
    ['storage:\n  driver: s3\n', /storage\.driver is s3 but there is no storage\.s3 section/, 's3 without a section'],
    ['storage:\n  driver: s3\n  s3:\n    endpoint: http://h\n    bucket: b\n', /storage\.s3 needs accessKeyId, secretAccessKey \(in the file or as WHARF_STORAGE_S3_ACCESSKEYID\)/, 'no keys'],
    ['storage:\n  driver: s3\n  s3:\n    bucket: b\n    accessKeyId: k\n    secretAccessKey: s\n', /storage\.s3 needs endpoint/, 'no endpoint'],
    ['storage:\n  driver: s3\n  s3:\n    endpoint: http://h\n    accessKeyId: k\n    secretAccessKey: s\n', /storage\.s3 needs bucket/, 'no bucket'],
    [`${MINIMAL}    secretKey: x\n`, /unknown config option "storage\.s3\.secretKey"/, 'an unknown option'],
    [`${MINIMAL}    redirect: "yes"\n`, /storage\.s3\.redirect must be true or false/, 'a string flag'],
    [`${MINIMAL}    partSize: 1048576\n`, /storage\.s3\.partSize must be at least 5242880/, 'a part below S3\'s minimum'],
    [`${MINIMAL}    redirectExpirySeconds: 0\n`, /storage\.s3\.redirectExpirySeconds must be a positive integer/, 'a zero expiry'],
    [`${MINIMAL}    redirectExpirySeconds: 604801\n`, /at most 604800/, 'longer than SigV4 allows'],
    [`${MINIMAL.replace('http://127.0.0.1:7480', '127.0.0.1:7480')}`, /storage\.s3\.endpoint must be an http:\/\/ or https:\/\/ URL/, 'an endpoint without a scheme'],
    ['storage:\n  driver: s3\n  s3: [a]\n', /storage\.s3 must be a mapping/, 'a list as the section'],
    ['storage:\n  s3:\n    bucket: b\n', /storage\.s3 is set but storage\.driver is not s3/, 'a section the filesystem driver would ignore'],
  ]
  for (const [text, reason, why] of bad) {
    const message = await configError(loadConfig({ file: await yamlFile(text) }))
    t.match(message, reason, why)
    t.notMatch(message, /file-secret/, `${why}: the secret is not in the message`)
  }
})

t.test('the description for logs names the bucket and endpoint, never keys or URL credentials', async (t) => {
  const config = await loadConfig({ file: await yamlFile(MINIMAL.replace('http://127.0.0.1:7480', 'http://user:urlpass@127.0.0.1:7480/')) })
  const described = describeBlobStorage(config.storage)
  t.equal(described, 's3://images/ at http://127.0.0.1:7480')
  t.equal(describeBlobStorage(DEFAULT_CONFIG.storage), './storage')
})
