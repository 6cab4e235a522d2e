import { spawnSync } from 'node:child_process'
import t from 'tap'
import { WHARF_CLI } from '../support/index.js'

function wharf(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [WHARF_CLI, ...args], { encoding: 'utf8', timeout: 20_000 })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

t.test('help is printed for the command and for a subcommand, with exit 0', async (t) => {
  for (const args of [['--help'], ['serve', '--help'], ['gc', '-h']]) {
    const run = wharf(...args)
    t.equal(run.status, 0, `wharf ${args.join(' ')} exits 0`)
    t.match(run.stdout, /Usage: wharf <command>/)
    t.match(run.stdout, /serve/)
    t.match(run.stdout, /fsck/)
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
