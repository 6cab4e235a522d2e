// Runs the official OCI distribution-spec conformance suite (the ginkgo binary OCI publishes registry
// results from, built into ../shared/bin; see its README) against a registry URL: every spec of the
// suite becomes one tap assertion named after it, and the run must end with 0 failures. Used by
// oci-official.test.ts (one Wharf, open and with access control) and cluster-official.test.ts
// (three nodes behind nginx).
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { sharedDir, type Tap } from './env.js'
import { run, tempDir } from './proc.js'

/** The number of specs of the suite at the commit bin/README.md names. */
const SUITE_SPECS = 79

/** Specs the suite itself skips under these settings, with why; any other skip is a failure. */
export const EXPECTED_SKIPS: ReadonlyMap<string, string> = new Map([
  ['OCI Distribution Conformance Tests Pull Setup Get tag name from environment', 'the alternative to pushing test content (OCI_TAG_NAME unset)'],
  ['OCI Distribution Conformance Tests Content Discovery Setup Populate registry with test tags (no push)', 'the alternative to pushing test tags (push enabled)'],
  ['OCI Distribution Conformance Tests Push Cross-Repository Blob Mount Cross-mounting of nonexistent blob should yield session id', 'runs only when the mount with `from` before it answered 202; Wharf mounted the blob (201)'],
  ['OCI Distribution Conformance Tests Push Cross-Repository Blob Mount Cross-mounting without from, and automatic content discovery disabled should return a 202', 'OCI_AUTOMATIC_CROSSMOUNT=1'],
])

export const suiteBinary = path.join(sharedDir, 'bin', 'oci-conformance.test')

interface SpecResult {
  readonly name: string
  readonly status: string
  /** The failure message of a failed spec. */
  readonly failure?: string
}

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (_all, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16))
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10))
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[entity]!
  })
}

/** The specs of a ginkgo junit.xml report (its report entries, like "html custom reporter", left out). */
export function parseJunit(xml: string): SpecResult[] {
  const specs: SpecResult[] = []
  for (const match of xml.matchAll(/<testcase\b([^>]*)>([\s\S]*?)<\/testcase>/g)) {
    const attributes = new Map([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((a) => [a[1]!, unescapeXml(a[2]!)]))
    const name = attributes.get('name') ?? ''
    if (!name.startsWith('OCI Distribution Conformance Tests')) continue
    const failure = /<failure\b[^>]*message="([^"]*)"/.exec(match[2]!)
    specs.push({ name, status: attributes.get('status') ?? 'unknown', ...(failure ? { failure: unescapeXml(failure[1]!) } : {}) })
  }
  return specs
}

export interface SuiteTarget {
  readonly url: string
  logs(): string
  /** OCI_USERNAME, OCI_PASSWORD when the registry needs a login. */
  readonly env: Readonly<Record<string, string>>
  readonly namespace: string
  readonly expectedSkips: ReadonlyMap<string, string>
}

export async function runSuite(t: Tap, wharf: SuiteTarget): Promise<void> {
  const scratch = await tempDir('oci-official')
  t.teardown(() => scratch.remove())
  const namespace = wharf.namespace
  const EXPECTED_SKIPS = wharf.expectedSkips
  const result = await run(suiteBinary, ['-test.timeout', '10m', '-ginkgo.no-color', '-ginkgo.v'], {
    cwd: scratch.path,
    timeoutMs: 11 * 60_000,
    allowFailure: true,
    env: {
      OCI_ROOT_URL: wharf.url,
      OCI_NAMESPACE: namespace,
      OCI_CROSSMOUNT_NAMESPACE: `${namespace}-mount`,
      OCI_TEST_PULL: '1',
      OCI_TEST_PUSH: '1',
      OCI_TEST_CONTENT_DISCOVERY: '1',
      OCI_TEST_CONTENT_MANAGEMENT: '1',
      OCI_AUTOMATIC_CROSSMOUNT: '1',
      OCI_DELETE_MANIFEST_BEFORE_BLOBS: '1',
      OCI_REPORT_DIR: scratch.path,
      OCI_DEBUG: '0',
      ...wharf.env,
    },
  })
  const report = path.join(scratch.path, 'junit.xml')
  if (!existsSync(report)) {
    t.fail(`the suite wrote no junit.xml (exit ${result.code ?? result.signal})`, { stdout: result.stdout.slice(-4000), stderr: result.stderr.slice(-4000) })
    return
  }
  const specs = parseJunit(await readFile(report, 'utf8'))
  t.equal(specs.length, SUITE_SPECS, `the suite reports ${SUITE_SPECS} specs`)
  const failed = specs.filter((spec) => spec.status === 'failed')
  for (const [i, spec] of specs.entries()) {
    const skipReason = EXPECTED_SKIPS.get(spec.name)
    const expected = skipReason === undefined ? 'passed' : 'skipped'
    t.equal(spec.status, expected, `[${i + 1}] ${spec.name}${skipReason !== undefined ? ` (skipped by the suite: ${skipReason})` : ''}`,
      spec.failure !== undefined ? { failure: spec.failure } : {})
  }
  t.same(failed.map((spec) => spec.name), [], '0 failures')
  t.equal(result.code, 0, 'the suite exits 0')
  if (failed.length > 0 || result.code !== 0) t.comment(`suite output (tail):\n${result.stdout.slice(-6000)}\n--- wharf ---\n${wharf.logs().slice(-4000)}`)
}

