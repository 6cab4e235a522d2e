/** The signing keys' directory: first key, file modes, ids, rotation timing, retirement, files that are no keys. */
import { createHash, generateKeyPairSync } from 'node:crypto'
import { readdir, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t, { type Test } from 'tap'
import { KEY_PUBLISH_MS, SigningKeys, addSigningKey, keyId, readSigningKeys, retireSigningKeys } from '../../src/auth/signing-keys.js'
import { tempDir } from '../support/index.js'

async function keysDir(t: Test): Promise<string> {
  const dir = await tempDir('keys')
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return path.join(dir, 'auth', 'keys')
}

t.test('the first open makes one key: owner-only files, a kid derived from the public key, nothing else left', async (t) => {
  const dir = await keysDir(t)
  const keys = await SigningKeys.open(dir)
  const [key] = keys.all()
  t.equal(keys.all().length, 1)
  t.equal((await stat(dir)).mode & 0o777, 0o700, 'the directory is the owner\'s only')
  t.equal((await stat(key!.file)).mode & 0o777, 0o600, 'the key file too')
  t.same(await readdir(dir), [path.basename(key!.file)], 'no temporary file is left')
  const spki = key!.publicKey.export({ type: 'spki', format: 'der' })
  t.equal(key!.kid, createHash('sha256').update(spki).digest('base64url').slice(0, 32), 'kid: base64url SHA-256 of the SPKI, truncated')
  t.equal((await readSigningKeys(dir))[0]!.kid, key!.kid, 'the same kid when read again (as another node would)')
  t.equal((await SigningKeys.open(dir)).all().length, 1, 'a second open makes no new key')
})

t.test('a new key signs only once it is old enough for other nodes to have seen it', async (t) => {
  const dir = await keysDir(t)
  let now = Date.now()
  const keys = await SigningKeys.open(dir, { now: () => now })
  const first = await keys.signing()
  t.equal(first.kid, keys.all()[0]!.kid, 'the first key signs at once (nothing older)')
  now += 10_000
  const second = await addSigningKey(dir, now)
  now += 1001
  t.equal((await keys.signing()).kid, first.kid, 'listed again, but the new key is too young to sign')
  t.ok(await keys.verifying(second.kid), 'yet it already verifies')
  now += KEY_PUBLISH_MS
  t.equal((await keys.signing()).kid, second.kid, 'then the new key signs')
})

t.test('a kid not seen yet makes the directory be listed again at once (rate-limited)', async (t) => {
  const dir = await keysDir(t)
  let now = Date.now()
  const keys = await SigningKeys.open(dir, { now: () => now })
  const other = await addSigningKey(dir, now)
  t.equal(await keys.verifying(other.kid), undefined, 'within the rate limit of the last listing: not seen')
  now += 150
  t.ok(await keys.verifying(other.kid), 'past it: found, long before the periodic listing')
  await rm(other.file)
  now += 500
  t.ok(await keys.verifying(other.kid), 'a removed key is still known until the next periodic listing')
  now += 1000
  t.equal(await keys.verifying(other.kid), undefined, 'and refused after it')
})

t.test('files that are no P-256 keys are skipped with a warning; a public key alone verifies but never signs', async (t) => {
  const dir = await keysDir(t)
  const keys = await SigningKeys.open(dir)
  const signer = keys.all()[0]!
  await writeFile(path.join(dir, 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  await writeFile(path.join(dir, 'garbage.pem'), 'not a key')
  const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
  await writeFile(path.join(dir, 'zz-public.pem'), pub.export({ type: 'spki', format: 'pem' }))
  const warnings: string[] = []
  const reread = await SigningKeys.open(dir, { warn: (m) => warnings.push(m) })
  t.equal(warnings.length, 2, 'two warnings')
  t.match(warnings.join('\n'), /rsa\.pem is not an EC P-256 key/)
  t.match(warnings.join('\n'), /garbage\.pem is not a readable PEM key/)
  t.ok(await reread.verifying(keyId(pub)), 'the public key verifies')
  t.equal((await reread.signing()).kid, signer.kid, 'the private key signs')
})

t.test('retiring keeps the newest keys and never the one that signs', async (t) => {
  const dir = await keysDir(t)
  const start = Date.now() - 3_600_000
  const made = []
  for (let i = 0; i < 4; i++) made.push(await addSigningKey(dir, start + i * 600_000))
  const byAge = await retireSigningKeys(dir, { olderThanMs: start + 1_000_000 })
  t.same(byAge.map((k) => k.kid), [made[0]!.kid, made[1]!.kid], '--older-than: the keys made before')
  const byCount = await retireSigningKeys(dir, { keep: 1 })
  t.same(byCount.map((k) => k.kid), [made[2]!.kid], '--keep 1: all but the newest')
  t.same((await retireSigningKeys(dir, { keep: 1, olderThanMs: Date.now() })).map((k) => k.kid), [], 'the newest key stays, however old')
  t.same((await readSigningKeys(dir)).map((k) => k.kid), [made[3]!.kid])
})
