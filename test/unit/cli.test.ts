import { spawnSync } from 'node:child_process'
import t from 'tap'
import { WHARF_CLI } from '../support/index.js'

function wharf(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [WHARF_CLI, ...args], { encoding: 'utf8', timeout: 20_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

t.test('general help: wharf, --help, -h and help list the commands', async (t) => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    const run = wharf(...args)
    t.equal(run.status, 0, `wharf ${args.join(' ')} exits 0`)
    t.match(run.stdout, /Usage: wharf <command>/)
    for (const command of ['serve', 'gc', 'du', 'fsck', 'auth']) t.match(run.stdout, new RegExp(`^  ${command} `, 'm'))
    t.match(run.stdout, /wharf <command> --help/, 'and says how to get a command\'s help')
  }
  const bare = wharf()
  t.equal(bare.status, 2, 'no command at all is a usage error')
  t.match(bare.stdout, /Usage: wharf <command>/)
})

// Each command's help lists exactly its own options, and its examples use only those.
const OWN_OPTIONS: Record<string, string[]> = {
  serve: ['--host', '--port', '--workers'],
  gc: ['--grace', '--dry-run', '--json'],
  du: ['--tags', '--json'],
  fsck: ['--repair', '--json'],
  auth: ['--keep', '--older-than'],
}
const COMMON_OPTIONS = ['--config', '--storage', '--help']

t.test('wharf <command> --help, -h and wharf help <command> print that command\'s own options with examples', async (t) => {
  for (const [command, own] of Object.entries(OWN_OPTIONS)) {
    const runs = [wharf(command, '--help'), wharf(command, '-h'), wharf('help', command), wharf(command, '--storage', '/x', '--help')]
    for (const run of runs) {
      t.equal(run.status, 0, `${command} help exits 0`)
      t.equal(run.stdout, runs[0]!.stdout, 'every way of asking prints the same')
    }
    const help = runs[0]!.stdout
    t.match(help, new RegExp(`^Usage: wharf ${command} \\[options\\]`), `${command}: its own usage line`)
    t.notMatch(help, /Commands:/, `${command}: not the general usage`)
    const listed = [...help.matchAll(/^ {2}(?:-h, )?(--[a-z-]+)/gm)].map((m) => m[1])
    t.same(listed.sort(), [...own, ...COMMON_OPTIONS].sort(), `${command}: lists exactly its options`)
    const examples = help.slice(help.indexOf('Examples:'))
    t.ok(help.includes('Examples:'), `${command}: has examples`)
    const exampleLines = examples.split('\n').slice(1).filter((line) => line.trim() !== '')
    t.ok(exampleLines.length > 0 && exampleLines.every((line) => line.includes(`wharf ${command}`)), `${command}: examples run wharf ${command}`)
    for (const option of examples.match(/--[a-z-]+/g) ?? []) t.ok(listed.includes(option), `${command}: example option ${option} is listed`)
  }
})

t.test('mistakes are refused with exit 2 and a one-line reason', async (t) => {
  const unknownCommand = wharf('bogus')
  t.equal(unknownCommand.status, 2)
  t.match(unknownCommand.stderr, /unknown command "bogus"/)
  const unknownOption = wharf('du', '--storage', '/nonexistent-wharf-test', '--colour', 'always')
  t.equal(unknownOption.status, 2)
  t.match(unknownOption.stderr, /unknown option --colour/)
  const missingValue = wharf('serve', '--port')
  t.equal(missingValue.status, 2)
  t.match(missingValue.stderr, /option --port needs a value/)
})
