// `wharf user` and `wharf token`, run as the real CLI: passwords from standard input or a prompt
// without echo (never from an argument), secrets printed once, files' modes, one-line errors.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t, { type Test } from 'tap'
import { HtpasswdFile } from '../../src/auth/htpasswd.js'
import { RobotTokenFile } from '../../src/auth/robot-tokens.js'
import { runCli, tempDir, WHARF_CLI, writeConfig, type CliResult } from '../support/index.js'

const dir = await tempDir('identities-cli')
t.teardown(() => rm(dir, { recursive: true, force: true }))
let files = 0
const newPath = (name: string): string => path.join(dir, `${name}-${++files}`)
const wharf = (args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> =>
  runCli(args, options.env ?? {}, { timeoutMs: 30_000, ...(options.input !== undefined ? { input: options.input } : {}) })

/** One line on standard error, nothing on standard output: how every command fails. */
function oneLineFailure(t: Tap, run: CliResult, code: number, message: RegExp): void {
  t.equal(run.code, code, `exit ${code}`)
  t.equal(run.stdout, '', 'nothing on standard output')
  t.match(run.stderr, message)
  t.match(run.stderr, /^wharf: [^\n]+\n$/, `one line: ${run.stderr}`)
}
type Tap = Test

t.test('user add, passwd, rm and list with --password-stdin', async (t) => {
  const file = newPath('htpasswd')
  const add = await wharf(['user', 'add', 'alice', '--htpasswd', file, '--password-stdin'], { input: 'alice secret\n' })
  t.equal(add.code, 0, add.stderr)
  t.equal(add.stdout, `added user alice to ${file}\n`)
  t.notMatch(add.stdout + add.stderr, /alice secret/, 'the password is never printed')
  t.equal((await stat(file)).mode & 0o777, 0o600, 'a new htpasswd file is 0600')
  t.equal(await (await HtpasswdFile.open(file)).verify('alice', 'alice secret'), true, 'the password, without the trailing newline')

  oneLineFailure(t, await wharf(['user', 'add', 'alice', '--htpasswd', file, '--password-stdin'], { input: 'other\n' }), 1, /user "alice" already exists/)
  oneLineFailure(t, await wharf(['user', 'passwd', 'bob', '--htpasswd', file, '--password-stdin'], { input: 'other\n' }), 1, /no user "bob"/)
  oneLineFailure(t, await wharf(['user', 'add', 'bob', '--htpasswd', file, '--password-stdin'], { input: '\n' }), 1, /the password is empty/)
  oneLineFailure(t, await wharf(['user', 'add', 'b:ob', '--htpasswd', file, '--password-stdin'], { input: 'x\n' }), 2, /contains ":"/)
  oneLineFailure(t, await wharf(['user', 'add', '--htpasswd', file, '--password-stdin'], { input: 'x\n' }), 2, /missing NAME/)
  oneLineFailure(t, await wharf(['user', 'fly', 'bob', '--htpasswd', file]), 2, /unknown action "fly"/)

  t.equal((await wharf(['user', 'add', 'bob', '--htpasswd', file, '--password-stdin'], { input: 'bob-1' })).code, 0, 'no newline at all is fine')
  const passwd = await wharf(['user', 'passwd', 'alice', '--htpasswd', file, '--password-stdin'], { input: 'alice new\n' })
  t.equal(passwd.code, 0, passwd.stderr)
  const passwords = await HtpasswdFile.open(file)
  t.equal(await passwords.verify('alice', 'alice new'), true, 'the new password')
  t.equal(await passwords.verify('alice', 'alice secret'), false, 'not the old one')
  t.equal(await passwords.verify('bob', 'bob-1'), true)

  await writeFile(file, `${await readFile(file, 'utf8')}old:$apr1$3BjKNJlX$X.Q5ew0erBXFlub.qlMta1\n`)
  const list = await wharf(['user', 'list', '--htpasswd', file])
  t.equal(list.code, 0, list.stderr)
  t.equal(list.stdout, 'alice\nbob\nold  (cannot log in: MD5 (apr1) hash on line 3; set a bcrypt password with "wharf user passwd old")\n')
  t.equal(list.stderr, '', 'no warnings for a file without other problems')
  const withDuplicate = newPath('htpasswd')
  await writeFile(withDuplicate, `${await readFile(file, 'utf8')}alice:$apr1$3BjKNJlX$X.Q5ew0erBXFlub.qlMta1\ngarbage\n`)
  const warned = await wharf(['user', 'list', '--htpasswd', withDuplicate])
  t.equal(warned.code, 0)
  t.equal(warned.stderr, `warning: ${withDuplicate} line 4: user "alice" appears again (first on line 1); this line is ignored\n` +
    `warning: ${withDuplicate} line 5: not a "user:hash" line; ignored\n`, 'other problems of the file are warned about')
  const json = await wharf(['user', 'list', '--json', '--htpasswd', file])
  t.same(JSON.parse(json.stdout), [
    { name: 'alice', line: 1, hashKind: 'bcrypt', canLogIn: true },
    { name: 'bob', line: 2, hashKind: 'bcrypt', canLogIn: true },
    { name: 'old', line: 3, hashKind: 'MD5 (apr1)', canLogIn: false },
  ])
  t.notMatch(list.stdout + json.stdout, /\$2y\$|\$apr1\$/, 'list never shows hashes')

  const removed = await wharf(['user', 'rm', 'bob', '--htpasswd', file])
  t.equal(removed.code, 0, removed.stderr)
  oneLineFailure(t, await wharf(['user', 'rm', 'bob', '--htpasswd', file]), 1, /no user "bob"/)
  t.match((await wharf(['user', 'list', '--htpasswd', file])).stdout, /^alice\nold {2}\(cannot log in/, 'bob is gone, the others stay')
  oneLineFailure(t, await wharf(['user', 'list', '--htpasswd', path.join(dir, 'nothing-here')]), 1, /no htpasswd file at/)
  // File-system errors are one line too, not a stack.
  oneLineFailure(t, await wharf(['user', 'list', '--htpasswd', dir]), 1, /EISDIR/)
  oneLineFailure(t, await wharf(['user', 'add', 'zed', '--htpasswd', path.join(file, 'below-a-file'), '--password-stdin'], { input: 'pw\n' }), 1, /ENOTDIR|EEXIST/)
})

t.test('a password as an argument is refused and nothing is written', async (t) => {
  const file = newPath('htpasswd')
  for (const args of [['--password', 'hunter2'], ['--password=hunter2'], ['--password'], ['--passwd', 'hunter2']]) {
    const run = await wharf(['user', 'add', 'alice', '--htpasswd', file, ...args])
    oneLineFailure(t, run, 2, /passwords are never taken from the command line.*--password-stdin/)
    t.notMatch(run.stderr, /hunter2/, 'and not repeated back')
  }
  oneLineFailure(t, await wharf(['user', 'passwd', 'alice', '--password', 'hunter2', '--htpasswd', file]), 2, /never taken from the command line/)
  await t.rejects(stat(file), { code: 'ENOENT' }, 'no file was created')
  oneLineFailure(t, await wharf(['user', 'add', 'alice', '--htpasswd', file]), 1, /no terminal to ask for the password on: .*--password-stdin/)
  await t.rejects(stat(file), { code: 'ENOENT' }, 'still none without a terminal to prompt on')
})

t.test('the htpasswd file comes from --htpasswd, the configuration or WHARF_AUTH_HTPASSWD', async (t) => {
  const fromConfig = newPath('htpasswd-config')
  const config = await writeConfig(dir, { auth: { htpasswd: fromConfig } })
  t.equal((await wharf(['user', 'add', 'carol', '--config', config, '--password-stdin'], { input: 'pw\n' })).code, 0)
  t.equal(await (await HtpasswdFile.open(fromConfig)).verify('carol', 'pw'), true, 'auth.htpasswd of --config')
  const fromEnv = newPath('htpasswd-env')
  t.equal((await wharf(['user', 'add', 'dave', '--password-stdin'], { input: 'pw\n', env: { WHARF_AUTH_HTPASSWD: fromEnv } })).code, 0)
  t.equal(await (await HtpasswdFile.open(fromEnv)).has('dave'), true, 'WHARF_AUTH_HTPASSWD')
  const fromFlag = newPath('htpasswd-flag')
  t.equal((await wharf(['user', 'add', 'erin', '--config', config, '--htpasswd', fromFlag, '--password-stdin'], { input: 'pw\n' })).code, 0)
  t.equal(await (await HtpasswdFile.open(fromFlag)).has('erin'), true, '--htpasswd wins over the configuration')
  t.equal(await (await HtpasswdFile.open(fromConfig)).has('erin'), false)
  oneLineFailure(t, await wharf(['user', 'list']), 2, /no htpasswd file: give --htpasswd PATH/)
})

function quote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`
}

/**
 * Runs `wharf <args>` under a pseudo-terminal (util-linux `script`) and types each answer once
 * its prompt has been printed (typed earlier, the terminal would still echo it).
 */
async function underTerminal(args: string[], dialogue: ReadonlyArray<[prompt: string, answer: string]>): Promise<{ code: number | null; output: string }> {
  const child = spawn('script', ['--quiet', '--return', '--flush', '--command', [process.execPath, WHARF_CLI, ...args].map(quote).join(' '), '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SHELL: '/bin/sh' },
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  let output = ''
  let step = 0
  let answered = 0
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
    while (step < dialogue.length && output.indexOf(dialogue[step]![0], answered) !== -1) {
      answered = output.indexOf(dialogue[step]![0], answered) + dialogue[step]![0].length
      child.stdin!.write(`${dialogue[step]![1]}\r`)
      step++
    }
  })
  const [code] = await once(child, 'close') as [number | null]
  clearTimeout(timer)
  return { code, output: output.replace(/\r/g, '') }
}

t.test('the prompt: asked twice without echo; a mismatch changes nothing', async (t) => {
  const probe = spawnSync('script', ['--version'], { encoding: 'utf8' })
  if (probe.status !== 0) {
    const reason = `util-linux script is not installed: ${probe.error?.message ?? probe.stderr}`
    if (process.env.CI === 'true') t.fail(reason)
    else await t.test('prompt', { skip: reason }, async () => undefined)
    return
  }
  const file = newPath('htpasswd')
  const added = await underTerminal(['user', 'add', 'alice', '--htpasswd', file], [['New password for alice: ', 'typed-secret'], ['Again: ', 'typed-secret']])
  t.equal(added.code, 0, added.output)
  t.match(added.output, /New password for alice: \nAgain: \nadded user alice/, 'two prompts')
  t.notMatch(added.output, /typed-secret/, 'what was typed is not echoed')
  t.equal(await (await HtpasswdFile.open(file)).verify('alice', 'typed-secret'), true)
  const before = await readFile(file, 'utf8')
  const mismatch = await underTerminal(['user', 'passwd', 'alice', '--htpasswd', file], [['New password for alice: ', 'one'], ['Again: ', 'two']])
  t.equal(mismatch.code, 1)
  t.match(mismatch.output, /wharf: the passwords do not match; nothing changed\n$/)
  t.equal(await readFile(file, 'utf8'), before, 'the file is unchanged')
  const changed = await underTerminal(['user', 'passwd', 'alice', '--htpasswd', file], [['New password for alice: ', 'next one'], ['Again: ', 'next one']])
  t.equal(changed.code, 0, changed.output)
  t.equal(await (await HtpasswdFile.open(file)).verify('alice', 'next one'), true)
  const interrupted = await underTerminal(['user', 'add', 'bob', '--htpasswd', file], [['New password for bob: ', '\u0003']])
  t.equal(interrupted.code, 1)
  t.match(interrupted.output, /interrupted; nothing changed/)
  t.equal(await (await HtpasswdFile.open(file)).has('bob'), false)
})

t.test('token create prints the secret once, alone on stdout; list and revoke never show it', async (t) => {
  const storage = newPath('storage')
  const created = await wharf(['token', 'create', '--name', 'ci', '--scope', 'repository:team/*:pull,push', '--scope', 'registry:catalog:*', '--expires', '30d', '--storage', storage])
  t.equal(created.code, 0, created.stderr)
  const secret = created.stdout.trim()
  t.match(created.stdout, /^wharf_[A-Za-z0-9_-]{43}\n$/, 'stdout is the secret alone')
  t.notMatch(created.stderr, new RegExp(secret), 'stderr does not repeat it')
  t.match(created.stderr, /created robot token "ci": repository:team\/\*:pull,push registry:catalog:\*; expires 20\d\d-/)
  t.match(created.stderr, /shown only this once/)
  t.match(created.stderr, /docker login -u ci --password-stdin/, 'and how to log in with it')
  t.match(created.stderr, /no auth section/, 'a note that the registry does not ask for credentials yet')

  const file = path.join(storage, 'auth', 'robots.json')
  t.equal((await stat(file)).mode & 0o777, 0o600, 'robots.json is 0600')
  t.notMatch(await readFile(file, 'utf8'), new RegExp(secret.slice(6)), 'the file holds no secret')
  const robot = await RobotTokenFile.inDirectory(path.join(storage, 'auth')).verify('ci', secret)
  t.equal(robot?.name, 'ci', 'the secret verifies')
  const days = ((robot?.expiresAt ?? 0) - Date.now()) / (24 * 3600 * 1000)
  t.ok(days > 29.9 && days <= 30, `expires in 30 days (${days})`)

  t.equal((await wharf(['token', 'create', '--name', 'mirror', '--scope', 'repository:**:pull', '--storage', storage])).code, 0)
  const list = await wharf(['token', 'list', '--storage', storage])
  t.equal(list.code, 0, list.stderr)
  const lines = list.stdout.trimEnd().split('\n')
  t.match(lines[0], /^NAME\s+CREATED\s+EXPIRES\s+SCOPES$/)
  t.match(lines[1], /^ci\s+20\d\d-\S+\s+20\d\d-\S+\s+repository:team\/\*:pull,push registry:catalog:\*$/)
  t.match(lines[2], /^mirror\s+20\d\d-\S+\s+never\s+repository:\*\*:pull$/)
  const json = await wharf(['token', 'list', '--json', '--storage', storage])
  const listed = JSON.parse(json.stdout) as Array<Record<string, unknown>>
  t.same(listed.map((r) => [r.name, r.scopes, r.expired]), [['ci', ['repository:team/*:pull,push', 'registry:catalog:*'], false], ['mirror', ['repository:**:pull'], false]])
  t.same(Object.keys(listed[0]!).sort(), ['createdAt', 'expired', 'expiresAt', 'name', 'scopes'])
  t.notMatch(list.stdout + json.stdout + list.stderr + json.stderr, new RegExp(`${secret.slice(6)}|sha256`), 'no secret or hash in any listing')

  oneLineFailure(t, await wharf(['token', 'create', '--name', 'ci', '--scope', 'repository:a:pull', '--storage', storage]), 1, /a robot named "ci" exists/)
  const revoked = await wharf(['token', 'revoke', 'ci', '--storage', storage])
  t.equal(revoked.code, 0, revoked.stderr)
  t.equal(await RobotTokenFile.inDirectory(path.join(storage, 'auth')).verify('ci', secret), undefined, 'revoked: the secret no longer verifies')
  oneLineFailure(t, await wharf(['token', 'revoke', 'ci', '--storage', storage]), 1, /no robot token "ci"/)
  t.same((JSON.parse((await wharf(['token', 'list', '--json', '--storage', storage])).stdout) as Array<{ name: string }>).map((r) => r.name), ['mirror'])
})

t.test('token create --json; auth.directory of the configuration; names of users refused', async (t) => {
  const authDir = newPath('auth-dir')
  const htpasswd = newPath('htpasswd')
  const config = await writeConfig(dir, { storage: { path: newPath('storage') }, auth: { htpasswd, directory: authDir } })
  t.equal((await wharf(['user', 'add', 'alice', '--config', config, '--password-stdin'], { input: 'pw\n' })).code, 0)
  const created = await wharf(['token', 'create', '--name', 'deploy', '--scope', 'repository:prod/app:pull', '--expires', '2099-01-31', '--json', '--config', config])
  t.equal(created.code, 0, created.stderr)
  const body = JSON.parse(created.stdout) as Record<string, unknown>
  t.match(body, { name: 'deploy', scopes: ['repository:prod/app:pull'], expiresAt: '2099-01-31T00:00:00.000Z', expired: false, secret: /^wharf_/ })
  t.equal(created.stderr, '', 'JSON alone')
  t.equal((await RobotTokenFile.inDirectory(authDir).verify('deploy', body.secret as string))?.name, 'deploy', 'stored in auth.directory')
  oneLineFailure(t, await wharf(['token', 'create', '--name', 'alice', '--scope', 'repository:a:pull', '--config', config]), 1, /"alice" is a user in/)
  oneLineFailure(t, await wharf(['user', 'add', 'deploy', '--config', config, '--password-stdin'], { input: 'pw\n' }), 1, /"deploy" is the name of a robot token/)
})

t.test('token mistakes: one line, nothing written', async (t) => {
  const storage = newPath('storage')
  const cases: Array<[string[], number, RegExp]> = [
    [['token', 'create', '--scope', 'repository:a:pull'], 2, /--name is needed/],
    [['token', 'create', '--name', 'ci'], 2, /--scope is needed/],
    [['token', 'create', '--name', 'ci', '--scope', 'repository:a:fly'], 1, /scope "repository:a:fly": "fly" is not one of pull, push, delete/],
    [['token', 'create', '--name', 'ci', '--scope', 'repo'], 1, /scope "repo": not TYPE:NAME:ACTIONS/],
    [['token', 'create', '--name', 'c i', '--scope', 'repository:a:pull'], 1, /robot name "c i"/],
    [['token', 'create', '--name', 'ci', '--scope', 'repository:a:pull', '--expires', 'soon'], 2, /--expires: "soon" is not a duration/],
    [['token', 'create', '--name', 'ci', '--scope', 'repository:a:pull', '--expires', '2001-01-01'], 1, /not in the future/],
    [['token', 'revoke'], 2, /usage: wharf token revoke NAME/],
    [['token', 'list', '--name', 'x'], 2, /unknown option --name/],
    [['token'], 2, /missing action/],
  ]
  for (const [args, code, message] of cases) oneLineFailure(t, await wharf([...args, '--storage', storage]), code, message)
  await t.rejects(stat(path.join(storage, 'auth', 'robots.json')), { code: 'ENOENT' }, 'no robots.json was written')
})

t.test('help: wharf user and wharf token have their own, the general usage lists them', async (t) => {
  const general = await wharf(['--help'])
  t.match(general.stdout, /^ {2}user +users of the htpasswd file/m)
  t.match(general.stdout, /^ {2}token +robot tokens/m)
  for (const [command, options] of [['user', ['--htpasswd', '--password-stdin', '--json']], ['token', ['--name', '--scope', '--expires', '--json']]] as const) {
    const help = await wharf([command, '--help'])
    t.equal(help.code, 0)
    t.equal((await wharf(['help', command])).stdout, help.stdout, 'wharf help COMMAND prints the same')
    t.match(help.stdout, new RegExp(`^Usage: wharf ${command} `))
    const listed = [...help.stdout.matchAll(/^ {2}(?:-h, )?(--[a-z-]+)/gm)].map((m) => m[1])
    t.same(listed.sort(), [...options, '--config', '--storage', '--help'].sort(), `${command}: lists its options`)
    const examples = help.stdout.slice(help.stdout.indexOf('Examples:'))
    for (const option of examples.match(/--[a-z-]+/g) ?? []) t.ok(listed.includes(option), `${command}: example option ${option} is listed`)
    t.notMatch(examples, /--password(?!-stdin)/, 'no example puts a password on the command line')
  }
})
