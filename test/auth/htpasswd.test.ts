// The htpasswd file: compatible both ways with Apache's `htpasswd -B` (Debian apache2-utils),
// bcrypt only, read again when it changes, atomic edits that keep other lines and the file's mode.
import { spawnSync } from 'node:child_process'
import { chmod, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t, { type Test } from 'tap'
import type { FileLogger } from '../../src/auth/auth-files.js'
import { HtpasswdFile, parseHtpasswd, removeHtpasswdUser, setHtpasswdPassword } from '../../src/auth/htpasswd.js'
import { runCli, tempDir } from '../support/index.js'

const dir = await tempDir('htpasswd')
t.teardown(() => rm(dir, { recursive: true, force: true }))
let files = 0
const newFile = (): string => path.join(dir, `htpasswd-${++files}`)

/** A clock the test moves. */
function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let now = start
  return { now: () => now, advance: (ms) => { now += ms } }
}

/** Log calls of level error, as [fields, message]. */
function recordingLogger(): { logger: FileLogger; errors: Array<[Record<string, unknown>, string]> } {
  const errors: Array<[Record<string, unknown>, string]> = []
  return { errors, logger: { error: (o, m) => { errors.push([o as Record<string, unknown>, m]) }, info: () => undefined } }
}

type Tap = Test
const HTPASSWD_PROBE = spawnSync('htpasswd', ['-h'], { encoding: 'utf8' }).error

/** Whether Debian's htpasswd is here; if not, the test fails under CI=true and is skipped elsewhere. */
async function haveHtpasswd(t: Tap): Promise<boolean> {
  if (HTPASSWD_PROBE === undefined) return true
  const reason = `htpasswd (Debian apache2-utils) is not installed: ${HTPASSWD_PROBE.message}`
  if (process.env.CI === 'true') t.fail(reason)
  else await t.test('with Apache htpasswd', { skip: reason }, async () => undefined)
  return false
}

/** Runs Debian's htpasswd. */
function htpasswd(args: string[]): { status: number | null; stderr: string } {
  const run = spawnSync('htpasswd', args, { encoding: 'utf8' })
  return { status: run.status, stderr: run.stderr }
}

t.test('a file made by htpasswd -B (cost 5) verifies with HtpasswdFile', async (t) => {
  if (!await haveHtpasswd(t)) return
  const file = newFile()
  t.equal(htpasswd(['-c', '-B', '-b', '-C', '5', file, 'alice', 's3cret pass']).status, 0)
  t.equal(htpasswd(['-B', '-b', '-C', '5', file, 'bob', 'b0b:with:colons']).status, 0)
  t.match(await readFile(file, 'utf8'), /^alice:\$2y\$05\$/, 'Apache writes $2y$ entries')
  const passwords = await HtpasswdFile.open(file)
  t.equal(await passwords.verify('alice', 's3cret pass'), true, 'the right password')
  t.equal(await passwords.verify('bob', 'b0b:with:colons'), true, 'a password with colons')
  t.equal(await passwords.verify('alice', 's3cret pas'), false, 'a wrong password')
  t.equal(await passwords.verify('alice', 'b0b:with:colons'), false, 'another user\'s password')
  t.equal(await passwords.has('alice'), true)
  t.equal(await passwords.has('carol'), false)
})

t.test('a file written by wharf user add and passwd verifies with htpasswd -v', async (t) => {
  if (!await haveHtpasswd(t)) return
  const file = newFile()
  const add = await runCli(['user', 'add', 'alice', '--htpasswd', file, '--password-stdin'], {}, { input: 'pässwörd 1\n', timeoutMs: 30_000 })
  t.equal(add.code, 0, add.stderr)
  t.match(await readFile(file, 'utf8'), /^alice:\$2y\$10\$[./A-Za-z0-9]{53}\n$/, '$2y$ prefix and cost 10, like Apache')
  const right = htpasswd(['-v', '-b', file, 'alice', 'pässwörd 1'])
  t.equal(right.status, 0, `htpasswd accepts the password: ${right.stderr}`)
  t.not(htpasswd(['-v', '-b', file, 'alice', 'pässwörd 1\n']).status, 0, 'the trailing newline of stdin was not part of it')
  t.not(htpasswd(['-v', '-b', file, 'alice', 'wrong']).status, 0, 'htpasswd refuses a wrong one')
  const passwd = await runCli(['user', 'passwd', 'alice', '--htpasswd', file, '--password-stdin'], {}, { input: 'second\r\n', timeoutMs: 30_000 })
  t.equal(passwd.code, 0, passwd.stderr)
  t.equal(htpasswd(['-v', '-b', file, 'alice', 'second']).status, 0, 'the new password, CRLF dropped')
  t.not(htpasswd(['-v', '-b', file, 'alice', 'pässwörd 1']).status, 0, 'the old one no longer')
  // Apache's tool then edits our file, and we read its edit.
  t.equal(htpasswd(['-B', '-b', '-C', '5', file, 'bob', 'bob-pw']).status, 0)
  const passwords = await HtpasswdFile.open(file)
  t.equal(await passwords.verify('alice', 'second'), true)
  t.equal(await passwords.verify('bob', 'bob-pw'), true)
})

t.test('hash kinds other than bcrypt are refused, naming the user and line; comments and blank lines ignored', async (t) => {
  if (!await haveHtpasswd(t)) return
  const file = newFile()
  t.equal(htpasswd(['-c', '-B', '-b', '-C', '5', file, 'good', 'pw']).status, 0)
  for (const [flag, user] of [['-m', 'md5user'], ['-s', 'shauser'], ['-d', 'cryptuser'], ['-p', 'plainuser']] as const) {
    t.equal(htpasswd([flag, '-b', file, user, 'pw']).status, 0, `htpasswd ${flag}`)
  }
  const text = await readFile(file, 'utf8')
  await writeFile(file, `# users of the team\n\n${text}   \nnot-an-entry\n`)
  const { logger, errors } = recordingLogger()
  const passwords = await HtpasswdFile.open(file, { logger })
  t.equal(await passwords.verify('good', 'pw'), true, 'the bcrypt user logs in')
  for (const [user, kind, line] of [['md5user', 'MD5 \\(apr1\\)', 4], ['shauser', 'SHA-1', 5], ['cryptuser', 'crypt \\(DES\\)', 6], ['plainuser', 'unknown \\(plain text\\?\\)', 7]] as const) {
    t.equal(await passwords.verify(user, 'pw'), false, `${user} cannot log in with the right password`)
    t.equal(await passwords.has(user), false, `${user} is not a user who can log in`)
    const logged = errors.find(([fields]) => fields.user === user)
    t.ok(logged, `an error is logged for ${user}`)
    t.equal(logged?.[0].line, line, `${user}: its line`)
    t.match(logged?.[1], new RegExp(`line ${line}: user "${user}" has a ${kind} hash; only bcrypt is accepted`), `${user}: what is wrong and what to do`)
  }
  t.ok(errors.some(([fields, message]) => fields.line === 9 && /not a "user:hash" line/.test(message)), 'a line without a colon is reported')
  t.equal(errors.length, 5, 'nothing about comments, blank lines or the bcrypt user')
  const parsed = parseHtpasswd(text)
  t.same(parsed.users.map((u) => [u.name, u.accepted]), [['good', true], ['md5user', false], ['shauser', false], ['cryptuser', false], ['plainuser', false]])
})

t.test('an unknown user costs a bcrypt comparison (no timing oracle)', async (t) => {
  const file = newFile()
  await setHtpasswdPassword(file, 'alice', 'alice-pw')
  const passwords = await HtpasswdFile.open(file)
  const md5File = newFile()
  await writeFile(md5File, 'md5user:$apr1$3BjKNJlX$X.Q5ew0erBXFlub.qlMta1\n')
  const md5Passwords = await HtpasswdFile.open(md5File)
  // The three kinds are timed in turns, round after round, so that load from other work on the
  // machine falls on all three alike; the medians are compared.
  const kinds = [() => passwords.verify('alice', 'wrong'), () => passwords.verify('nobody', 'wrong'), () => md5Passwords.verify('md5user', 'pw')]
  const times: number[][] = kinds.map(() => [])
  for (let round = 0; round < 9; round++) {
    for (const [i, verify] of kinds.entries()) {
      const started = process.hrtime.bigint()
      t.equal(await verify(), false)
      times[i]!.push(Number(process.hrtime.bigint() - started) / 1e6)
    }
  }
  const [wrongPassword, unknownUser, refusedHash] = times.map((series) => series.sort((a, b) => a - b)[4]!) as [number, number, number]
  t.ok(wrongPassword > 10, `a cost-10 comparison takes time (${wrongPassword.toFixed(1)} ms)`)
  t.ok(unknownUser > wrongPassword * 0.5, `an unknown user takes as long as a wrong password (${unknownUser.toFixed(1)} ms vs ${wrongPassword.toFixed(1)} ms)`)
  t.ok(refusedHash > wrongPassword * 0.5, `so does a user with a refused hash (${refusedHash.toFixed(1)} ms)`)
})

t.test('the file is read again when it changes, looked at no more than once a second', async (t) => {
  const file = newFile()
  await setHtpasswdPassword(file, 'alice', 'first', { cost: 4 })
  const clock = fakeClock()
  const passwords = await HtpasswdFile.open(file, { clock })
  t.equal(await passwords.verify('alice', 'first'), true)
  await setHtpasswdPassword(file, 'alice', 'second', { cost: 4 })
  await setHtpasswdPassword(file, 'bob', 'bob-pw', { cost: 4 })
  clock.advance(500)
  t.equal(await passwords.verify('alice', 'first'), true, 'within the second: the file is not looked at')
  t.equal(await passwords.has('bob'), false)
  clock.advance(500)
  t.equal(await passwords.verify('alice', 'second'), true, 'a second later: the new password')
  t.equal(await passwords.verify('alice', 'first'), false, 'and not the old one')
  t.equal(await passwords.has('bob'), true, 'a new user')
  // An edit in place (same inode, as some editors do) is seen too.
  await writeFile(file, (await readFile(file, 'utf8')).replace(/^bob:.*\n/m, ''))
  clock.advance(1000)
  t.equal(await passwords.has('bob'), false, 'a user removed by an edit in place')
  await rm(file)
  clock.advance(1000)
  t.equal(await passwords.verify('alice', 'second'), false, 'the file gone: nobody logs in')
  await setHtpasswdPassword(file, 'alice', 'third', { cost: 4 })
  clock.advance(1000)
  t.equal(await passwords.verify('alice', 'third'), true, 'back again')
})

t.test('an unreadable file: nobody logs in, reported once, read again once it can be', async (t) => {
  const file = newFile()
  await setHtpasswdPassword(file, 'alice', 'pw', { cost: 4 })
  const clock = fakeClock()
  const { logger, errors } = recordingLogger()
  const passwords = await HtpasswdFile.open(file, { clock, logger })
  t.equal(await passwords.verify('alice', 'pw'), true)
  // Root reads any file whatever its mode; a directory in its place cannot be read by anyone.
  await rm(file)
  await mkdir(file)
  for (let i = 0; i < 3; i++) {
    clock.advance(1000)
    t.equal(await passwords.verify('alice', 'pw'), false, `unreadable: refused (check ${i + 1})`)
  }
  t.equal(errors.length, 1, 'one error for as long as it stays so')
  t.match(errors[0]?.[1], /cannot read the htpasswd file: no user can log in/)
  t.match(errors[0]?.[0], { file, err: { code: 'EISDIR' } })
  await rm(file, { recursive: true })
  await setHtpasswdPassword(file, 'alice', 'pw', { cost: 4 })
  clock.advance(1000)
  t.equal(await passwords.verify('alice', 'pw'), true, 'readable again: alice logs in')
})

t.test('a path that cannot even be looked at (its directory became a file): refused, not an exception', async (t) => {
  const parent = newFile()
  const file = path.join(parent, 'htpasswd')
  await setHtpasswdPassword(file, 'alice', 'pw', { cost: 4 })
  const clock = fakeClock()
  const { logger, errors } = recordingLogger()
  const passwords = await HtpasswdFile.open(file, { clock, logger })
  await rm(parent, { recursive: true })
  await writeFile(parent, 'not a directory')
  clock.advance(1000)
  t.equal(await passwords.verify('alice', 'pw'), false, 'refused')
  t.equal(await passwords.has('alice'), false)
  t.match(errors, [[{ err: { code: 'ENOTDIR' } }, /cannot read the htpasswd file/]])
})

t.test('a missing file at start-up is an error naming it', async (t) => {
  const file = path.join(dir, 'no-such-htpasswd')
  await t.rejects(HtpasswdFile.open(file), { message: new RegExp(`auth\\.htpasswd: cannot read ${file}: no such file`) })
})

t.test('edits keep comments, other lines and the file\'s mode; new files are 0600; no temp files left', async (t) => {
  const file = newFile()
  await writeFile(file, '# managed by hand\nalice:$2y$05$pCyRe8QRty/EarlYljek4eiUdu5axs.8ua4GosiXRBjR5R/PrIqmq\n\n# ops\nbob:$apr1$3BjKNJlX$X.Q5ew0erBXFlub.qlMta1\n')
  await chmod(file, 0o640)
  t.equal(await setHtpasswdPassword(file, 'bob', 'new-bob', { cost: 4 }), 'changed')
  t.equal(await setHtpasswdPassword(file, 'carol', 'carol-pw', { cost: 4 }), 'added')
  const lines = (await readFile(file, 'utf8')).split('\n')
  t.equal(lines[0], '# managed by hand')
  t.equal(lines[1], 'alice:$2y$05$pCyRe8QRty/EarlYljek4eiUdu5axs.8ua4GosiXRBjR5R/PrIqmq', 'other users untouched')
  t.equal(lines[3], '# ops')
  t.match(lines[4], /^bob:\$2y\$04\$/, 'bob replaced where he was')
  t.match(lines[5], /^carol:\$2y\$04\$/, 'carol appended')
  t.equal(lines.length, 7, 'one newline at the end')
  t.equal((await stat(file)).mode & 0o777, 0o640, 'the mode is kept')
  t.equal(await removeHtpasswdUser(file, 'alice'), true)
  t.equal(await removeHtpasswdUser(file, 'alice'), false, 'removing again changes nothing')
  t.notMatch(await readFile(file, 'utf8'), /^alice:/m)
  t.match(await readFile(file, 'utf8'), /^# managed by hand\n\n# ops\nbob:/, 'comments stay')
  await t.rejects(setHtpasswdPassword(file, 'bob', 'x', { mode: 'add' }), /already exists/)
  await t.rejects(setHtpasswdPassword(file, 'zed', 'x', { mode: 'change' }), /no user "zed"/)
  await t.rejects(setHtpasswdPassword(file, 'a:b', 'x'), /contains ":"/)
  await t.rejects(setHtpasswdPassword(file, 'dan', ''), /empty/)
  await t.rejects(setHtpasswdPassword(file, 'dan', 'x'.repeat(73)), /longer than 72 bytes/)
  const fresh = newFile()
  await setHtpasswdPassword(fresh, 'alice', 'pw', { cost: 4 })
  t.equal((await stat(fresh)).mode & 0o777, 0o600, 'a new file is readable by its owner only')
  t.same((await readdir(dir)).filter((name) => name.endsWith('.tmp') || name.endsWith('.lock')), [], 'no temp or lock files left behind')
})

t.test('edits at the same time: none is lost (each writes over the version it read, else reads again)', async (t) => {
  const file = newFile()
  const names = Array.from({ length: 8 }, (_, i) => `user${i}`)
  await Promise.all(names.map((name) => setHtpasswdPassword(file, name, `${name}-pw`, { cost: 4 })))
  const passwords = await HtpasswdFile.open(file)
  for (const name of names) t.equal(await passwords.verify(name, `${name}-pw`), true, `${name} is there`)
  await Promise.all(names.slice(0, 4).map((name) => removeHtpasswdUser(file, name)))
  t.same(parseHtpasswd(await readFile(file, 'utf8')).users.map((u) => u.name).sort(), names.slice(4), 'and every removal happened')
})
