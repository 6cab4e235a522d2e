// Robot tokens: a secret shown once and stored as its SHA-256, scopes with repository globs,
// expiry, revocation seen by a running reader within a second, atomic writes.
import { createHash } from 'node:crypto'
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { parseRobotScope, RobotTokenFile, ROBOTS_FILE } from '../../src/auth/robot-tokens.js'
import { tempDir } from '../support/index.js'

const root = await tempDir('robots')
t.teardown(() => rm(root, { recursive: true, force: true }))
let dirs = 0
const newDir = (): string => path.join(root, `auth-${++dirs}`)

function fakeClock(start = Date.parse('2026-06-01T00:00:00Z')): { now: () => number; advance: (ms: number) => void } {
  let now = start
  return { now: () => now, advance: (ms) => { now += ms } }
}

const DAY = 24 * 3600 * 1000

t.test('create: the secret is returned once, only its SHA-256 is stored, in a 0600 file', async (t) => {
  const dir = newDir()
  const clock = fakeClock()
  const robots = RobotTokenFile.inDirectory(dir, { clock })
  const { robot, secret } = await robots.create('ci', ['repository:team/*:pull,push', 'registry:catalog:*'], clock.now() + 30 * DAY)
  t.match(secret, /^wharf_[A-Za-z0-9_-]{43}$/, 'wharf_ and 32 random bytes in base64url')
  t.same(robot.scopes, [{ type: 'repository', name: 'team/*', actions: ['pull', 'push'] }, { type: 'registry', name: 'catalog', actions: ['*'] }])
  t.equal(robot.createdAt, clock.now())
  t.equal(robot.expiresAt, clock.now() + 30 * DAY)
  const file = path.join(dir, ROBOTS_FILE)
  const text = await readFile(file, 'utf8')
  t.notOk(text.includes(secret), 'the secret is not in the file')
  t.notOk(text.includes(secret.slice(6)), 'nor its random part')
  const stored = JSON.parse(text) as { robots: Array<Record<string, unknown>> }
  t.same(stored.robots, [{
    name: 'ci', scopes: ['repository:team/*:pull,push', 'registry:catalog:*'], createdAt: '2026-06-01T00:00:00.000Z',
    expiresAt: '2026-07-01T00:00:00.000Z', sha256: createHash('sha256').update(secret).digest('hex'),
  }])
  t.equal((await stat(file)).mode & 0o777, 0o600, 'readable by its owner only')
  t.same((await readdir(dir)).sort(), [ROBOTS_FILE], 'no temp files left')
  const other = await robots.create('mirror', ['repository:**:pull'], null)
  t.not(other.secret, secret, 'each robot has its own secret')
  t.same((await robots.list()).map((r) => r.name), ['ci', 'mirror'])
})

t.test('verify: the right name and secret, while current', async (t) => {
  const clock = fakeClock()
  const robots = RobotTokenFile.inDirectory(newDir(), { clock })
  const { secret } = await robots.create('ci', ['repository:team/*:pull'], clock.now() + DAY)
  const other = await robots.create('other', ['repository:x:pull'], null)
  t.equal((await robots.verify('ci', secret))?.name, 'ci', 'its secret logs it in')
  t.same((await robots.verify('ci', secret))?.scopes, [{ type: 'repository', name: 'team/*', actions: ['pull'] }], 'with its scopes')
  t.equal(await robots.verify('ci', `${secret}x`), undefined, 'a longer secret')
  t.equal(await robots.verify('ci', secret.slice(0, -1)), undefined, 'a shorter secret')
  t.equal(await robots.verify('ci', other.secret), undefined, 'another robot\'s secret')
  t.equal(await robots.verify('nobody', secret), undefined, 'an unknown name')
  t.equal(await robots.verify('CI', secret), undefined, 'names are exact')
  t.equal((await robots.get('ci'))?.name, 'ci')
  clock.advance(DAY)
  t.equal(await robots.verify('ci', secret), undefined, 'expired: refused')
  t.equal(await robots.get('ci'), undefined, 'and not current')
  t.equal((await robots.verify('other', other.secret))?.name, 'other', 'a robot without expiry stays')
  const listed = await robots.list()
  t.same(listed.map((r) => [r.name, r.expired]), [['ci', true], ['other', false]], 'list marks the expired one')
  for (const entry of listed) t.same(Object.keys(entry).sort(), ['createdAt', 'expired', 'expiresAt', 'name', 'scopes'], 'list has no hash or secret')
})

t.test('a revocation by another process is seen by a running reader within a second', async (t) => {
  const dir = newDir()
  const clock = fakeClock()
  const server = RobotTokenFile.inDirectory(dir, { clock })
  const cli = RobotTokenFile.inDirectory(dir)
  const { secret } = await cli.create('ci', ['repository:app:push'], null)
  t.equal((await server.verify('ci', secret))?.name, 'ci', 'the server sees a robot the CLI created')
  t.equal(await cli.revoke('ci'), true)
  t.equal(await cli.revoke('ci'), false, 'revoking again: nothing to revoke')
  t.equal((await server.verify('ci', secret))?.name, 'ci', 'within the second the file is not looked at')
  clock.advance(1000)
  t.equal(await server.verify('ci', secret), undefined, 'a second later the secret is refused')
  const again = await cli.create('ci', ['repository:app:push'], null)
  clock.advance(1000)
  t.equal(await server.verify('ci', secret), undefined, 'a new robot of the same name does not bring the old secret back')
  t.equal((await server.verify('ci', again.secret))?.name, 'ci')
})

t.test('scopes: repository globs and actions, registry catalog and admin; anything else refused', async (t) => {
  t.same(parseRobotScope('repository:team/**:pull,push,delete'), { type: 'repository', name: 'team/**', actions: ['pull', 'push', 'delete'] })
  t.same(parseRobotScope('repository:app-?:*'), { type: 'repository', name: 'app-?', actions: ['*'] })
  t.same(parseRobotScope('registry:admin:*'), { type: 'registry', name: 'admin', actions: ['*'] })
  t.same(parseRobotScope('repository:a:pull,pull'), { type: 'repository', name: 'a', actions: ['pull'] }, 'an action once')
  for (const bad of ['repository:team/*', 'repository:team/*:', 'repository:Team:pull', 'repository:a:admin', 'repository:a:write', 'registry:catalog:pull', 'registry:other:*', 'group:a:pull', 'nonsense']) {
    t.throws(() => parseRobotScope(bad), { message: new RegExp(`scope "${bad.replace(/[*?]/g, '\\$&')}"`) }, `refused: ${bad}`)
  }
  const robots = RobotTokenFile.inDirectory(newDir())
  await t.rejects(robots.create('ci', ['repository:a:pull', 'repository:b:fly'], null), /"fly" is not one of/)
  await t.rejects(robots.create('ci', [], null), /at least one scope/)
  await t.rejects(robots.create('bad name', ['repository:a:pull'], null), /robot name "bad name"/)
  await t.rejects(robots.create('a:b', ['repository:a:pull'], null), /robot name/)
  await t.rejects(robots.create('ci', ['repository:a:pull'], Date.now() - 1), /not in the future/)
  t.same(await robots.list(), [], 'nothing refused was written')
  await robots.create('ci', ['repository:a:pull'], null)
  await t.rejects(robots.create('ci', ['repository:b:pull'], null), /a robot named "ci" exists/, 'a name is taken until revoked')
  t.same((await robots.list())[0]?.scopes, [{ type: 'repository', name: 'a', actions: ['pull'] }], 'the first is unchanged')
})

t.test('a damaged file: no robot logs in, the problem is logged, edits are refused rather than losing robots', async (t) => {
  const dir = newDir()
  const clock = fakeClock()
  const errors: string[] = []
  const server = RobotTokenFile.inDirectory(dir, { clock, logger: { error: (_fields, message) => { errors.push(message) }, info: () => undefined } })
  const { secret } = await RobotTokenFile.inDirectory(dir).create('ci', ['repository:a:pull'], null)
  t.equal((await server.verify('ci', secret))?.name, 'ci')
  const file = path.join(dir, ROBOTS_FILE)
  const good = await readFile(file, 'utf8')
  await writeFile(file, good.slice(0, good.length / 2))
  clock.advance(1000)
  t.equal(await server.verify('ci', secret), undefined, 'refused while the file is damaged')
  t.match(errors, [/robot tokens file .* is damaged/])
  await t.rejects(RobotTokenFile.inDirectory(dir).create('new', ['repository:a:pull'], null), /is damaged \(not JSON/)
  await t.rejects(RobotTokenFile.inDirectory(dir).revoke('ci'), /is damaged/)
  t.equal(await readFile(file, 'utf8'), good.slice(0, good.length / 2), 'the file is as it was')
  await writeFile(file, good)
  clock.advance(1000)
  t.equal((await server.verify('ci', secret))?.name, 'ci', 'repaired: the robot logs in again')
})

t.test('no file yet: no robots, and nothing is created by reading', async (t) => {
  const dir = newDir()
  const robots = RobotTokenFile.inDirectory(dir)
  t.equal(await robots.verify('ci', 'wharf_x'), undefined)
  t.same(await robots.list(), [])
  t.equal(await robots.revoke('ci'), false)
  await t.rejects(stat(dir), { code: 'ENOENT' }, 'the directory was not created')
})

t.test('robots created and revoked at the same time: none is lost', async (t) => {
  const dir = newDir()
  const names = Array.from({ length: 8 }, (_, i) => `robot${i}`)
  const created = await Promise.all(names.map((name) => RobotTokenFile.inDirectory(dir).create(name, ['repository:a:pull'], null)))
  const robots = RobotTokenFile.inDirectory(dir)
  for (const [i, { secret }] of created.entries()) t.equal((await robots.verify(names[i]!, secret))?.name, names[i], `${names[i]} verifies`)
  await Promise.all(names.slice(0, 4).map((name) => RobotTokenFile.inDirectory(dir).revoke(name)))
  t.same((await robots.list()).map((r) => r.name), names.slice(4))
})
