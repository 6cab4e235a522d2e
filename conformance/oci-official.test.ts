// The official OCI distribution-spec conformance suite (the ginkgo binary OCI publishes registry
// results from, built into ../shared/bin; see its README) against a Wharf started here. Every spec
// of the suite becomes one tap assertion named after it, and the run must end with 0 failures.
//
// Settings: pull, push, content discovery and content management, all enabled.
// OCI_AUTOMATIC_CROSSMOUNT=1 only: Wharf mounts a blob named by `mount` without `from` when the
// blob is already in the store (201), which is what the suite checks with =1; with =0 the suite
// expects 202 for that same request ("automatic content discovery disabled"), a registry that does
// not mount without `from`. The two settings describe two different registries; Wharf is the first.
// OCI_DELETE_MANIFEST_BEFORE_BLOBS=1: the teardown deletes manifests before the blobs they
// reference, the order a registry that protects referenced blobs needs.
//
// A second run logs in (OCI_USERNAME/OCI_PASSWORD: alice of helpers/auth-registry.ts, who may
// push, pull and delete team/**) to a Wharf with access control. The suite's client follows the
// Bearer challenge and asks the token endpoint for exactly the challenge's scope, so every spec
// passing here means every route names the scope it needs, including `repository:<from>:pull` for
// a mount with `from` (registry:2's challenge names it; without it the token cannot mount and the
// suite's cross-mount specs take their 202 branch). Same specs, same skips as the open run.
//
// The binary is <project root>/../shared/bin/oci-conformance.test (CI clones the project with
// ../shared beside it); WHARF_SHARED_DIR overrides the shared directory.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { isCI, sharedDir, uniqueSuffix, type Tap } from './helpers/env.js'
import { run, tempDir } from './helpers/proc.js'
import { startWharfTarget } from './helpers/target.js'
import { startAuthRegistry } from './helpers/auth-registry.js'

/** The number of specs of the suite at the commit bin/README.md names. */
const SUITE_SPECS = 79

/** Specs the suite itself skips under these settings, with why; any other skip is a failure. */
const EXPECTED_SKIPS: ReadonlyMap<string, string> = new Map([
  ['OCI Distribution Conformance Tests Pull Setup Get tag name from environment', 'the alternative to pushing test content (OCI_TAG_NAME unset)'],
  ['OCI Distribution Conformance Tests Content Discovery Setup Populate registry with test tags (no push)', 'the alternative to pushing test tags (push enabled)'],
  ['OCI Distribution Conformance Tests Push Cross-Repository Blob Mount Cross-mounting of nonexistent blob should yield session id', 'runs only when the mount with `from` before it answered 202; Wharf mounted the blob (201)'],
  ['OCI Distribution Conformance Tests Push Cross-Repository Blob Mount Cross-mounting without from, and automatic content discovery disabled should return a 202', 'OCI_AUTOMATIC_CROSSMOUNT=1'],
])

const suiteBinary = path.join(sharedDir, 'bin', 'oci-conformance.test')

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

interface SuiteTarget {
  readonly url: string
  logs(): string
  /** OCI_USERNAME, OCI_PASSWORD when the registry needs a login. */
  readonly env: Readonly<Record<string, string>>
  readonly namespace: string
  readonly expectedSkips: ReadonlyMap<string, string>
}

async function runSuite(t: Tap, wharf: SuiteTarget): Promise<void> {
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

if (!existsSync(suiteBinary)) {
  const reason = `${suiteBinary} not found (set WHARF_SHARED_DIR to the directory holding bin/oci-conformance.test)`
  if (isCI) await t.test('the official OCI conformance suite', async (t) => { t.fail(`${reason} (CI=true: it must be present)`) })
  else await t.test('the official OCI conformance suite', { skip: reason }, async () => {})
} else {
  await t.test('the official OCI conformance suite passes against Wharf (OCI_AUTOMATIC_CROSSMOUNT=1)', { timeout: 12 * 60_000 }, async (t) => {
    const wharf = await startWharfTarget()
    t.teardown(() => wharf.stop())
    await runSuite(t, { url: wharf.url, logs: () => wharf.logs(), env: {}, namespace: `conformance/official-${uniqueSuffix()}`, expectedSkips: EXPECTED_SKIPS })
  })
  await t.test('the official OCI conformance suite passes logged in to Wharf with access control (OCI_USERNAME, token flow)', { timeout: 12 * 60_000 }, async (t) => {
    const wharf = await startAuthRegistry({ tls: false })
    t.teardown(() => wharf.stop())
    const { alice } = wharf.users
    await runSuite(t, {
      url: wharf.url, logs: () => wharf.logs(), env: { OCI_USERNAME: alice.user, OCI_PASSWORD: alice.password },
      namespace: `team/official-${uniqueSuffix()}`, expectedSkips: EXPECTED_SKIPS,
    })
  })
}
