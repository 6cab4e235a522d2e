/**
 * Regenerates the README's screenshots of the web UI (npm run screenshots):
 *
 *   node dist/bench/ui/screenshots.js [--out docs/screenshots] [--repositories 240] [--tags 1200]
 *
 * Starts Wharf on temp storage, seeds it (bench/ui/seed.ts), and captures each main page with
 * headless chromium at 1280x800 (and the big repository's tags at a phone's 390x844) into
 * OUT/<page>.png. Digests and times differ from run to run; the file names do not.
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { browserMissing, launchBrowser } from '../../test/support/browser.js'
import { startWharfServer } from '../servers.js'
import { seedRegistry } from './seed.js'

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

interface Shot {
  readonly file: string
  readonly path: string
  readonly viewport?: { readonly width: number; readonly height: number }
}

function parseArgs(argv: readonly string[]): { out: string; repositories: number; tags: number } {
  const options = { out: path.join(REPO_ROOT, 'docs', 'screenshots'), repositories: 240, tags: 1200 }
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]]
    if (flag === '--out' && value !== undefined) options.out = path.resolve(value)
    else if ((flag === '--repositories' || flag === '--tags') && Number.isSafeInteger(Number(value)) && Number(value) >= 1) options[flag === '--tags' ? 'tags' : 'repositories'] = Number(value)
    else {
      process.stderr.write('usage: node dist/bench/ui/screenshots.js [--out DIR] [--repositories N] [--tags N]\n')
      process.exit(2)
    }
  }
  return options
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const missing = browserMissing()
  if (missing !== undefined) throw new Error(missing)
  await mkdir(options.out, { recursive: true })
  const server = await startWharfServer()
  try {
    const seeded = await seedRegistry(server.url, { repositories: options.repositories, bigRepositoryTags: options.tags })
    const shots: Shot[] = [
      { file: 'repositories.png', path: '/' },
      { file: 'repository.png', path: `/repositories/${seeded.big!.repository}?sort=time` },
      { file: 'manifest.png', path: `/repositories/${seeded.index.repository}/manifests/${seeded.index.digest}` },
      { file: 'referrers.png', path: `/repositories/${seeded.signed.repository}/manifests/${seeded.signed.digest}` },
      { file: 'usage.png', path: '/usage' },
      { file: 'phone.png', path: `/repositories/${seeded.big!.repository}`, viewport: { width: 390, height: 844 } },
    ]
    const browser = await launchBrowser()
    try {
      for (const shot of shots) {
        const { context, page } = await browser.newPage({ viewport: shot.viewport ?? { width: 1280, height: 800 } })
        try {
          // Light scheme and no motion: the same look on every machine.
          await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'reduce' })
          const response = await page.goto(`${server.url}${shot.path}`, { waitUntil: 'load' })
          if (response?.status() !== 200) throw new Error(`GET ${shot.path}: ${response?.status() ?? 'no response'}`)
          const file = path.join(options.out, shot.file)
          await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' })
          process.stdout.write(`${path.relative(process.cwd(), file)}  ${shot.path}\n`)
        } finally {
          await context.close()
        }
      }
    } finally {
      await browser.close()
    }
  } finally {
    await server.stop()
  }
}

await main()
