/**
 * TEST-ONLY: `wharf serve` with the test stand-ins of the auth parts (test-parts.ts), for
 * startWharf({ cli }). Robots come from `<auth directory>/test-robots.json`; bearer tokens are
 * test-parts.ts's TestTokens.
 */
import path from 'node:path'
import { parseArgs } from '../../src/cli/args.js'
import { serve } from '../../src/cli/serve.js'
import { TestPasswordFile, TestRobotStore, TestThrottle, TestTokens } from './test-parts.js'

const [command, ...rest] = process.argv.slice(2)
if (command !== 'serve') throw new Error('only serve')
serve(parseArgs(rest), {
  authParts: (auth, directory) => ({
    passwordFile: new TestPasswordFile(auth.htpasswd),
    robots: new TestRobotStore(path.join(directory, 'test-robots.json')),
    throttle: new TestThrottle(auth.throttle.failures, auth.throttle.windowSeconds),
    tokens: new TestTokens(),
  }),
}).then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`wharf: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
