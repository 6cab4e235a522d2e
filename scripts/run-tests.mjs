#!/usr/bin/env node
// Runs the whole suite with tap on the compiled tests and ends with the plain
// "N passed, M failed" line CI reads. Counts are test blocks (t.test) of every
// file; a file that fails outside any block counts as one failure of its own.
// Extra arguments narrow the run to those compiled files or folders.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'

const require = createRequire(import.meta.url)
const { Parser } = require('tap-parser')

const targets = process.argv.slice(2)
/** Test files are the compiled *.test.js under the targets; helpers and contract suites beside them are not. */
function testFiles(target) {
  if (!statSync(target, { throwIfNoEntry: false })?.isDirectory()) return [target]
  return readdirSync(target, { recursive: true })
    .filter((name) => name.endsWith('.test.js'))
    .map((name) => path.join(target, name))
    .sort()
}
const files = (targets.length > 0 ? targets : ['dist/test', 'dist/conformance']).flatMap(testFiles)
const tapPackage = require.resolve('tap/package.json')
const tapBin = path.join(path.dirname(tapPackage), require(tapPackage).bin.tap)
const child = spawn(process.execPath, [tapBin, '--disable-coverage', '--reporter=tap', '--jobs=2',
  '--timeout=900', ...files], { stdio: ['ignore', 'pipe', 'inherit'] })

let passed = 0
let failed = 0
let skipped = 0
const failures = []
const parser = new Parser()
parser.on('child', (file) => {
  let fileFailedInside = 0
  file.on('assert', (point) => {
    if (point.skip || point.todo) skipped++
    else if (point.ok) passed++
    else { failed++; fileFailedInside++; failures.push(`${file.name} > ${point.name}`) }
  })
  file.on('complete', (results) => {
    if (!results.ok && fileFailedInside === 0) { failed++; failures.push(`${file.name} (outside any test)`) }
  })
})
child.stdout.pipe(process.stdout)
child.stdout.pipe(parser)
child.on('close', (code) => {
  parser.end()
  setImmediate(() => {
    if (failures.length > 0) {
      console.log('\nFailed:')
      for (const f of failures) console.log(`  - ${f}`)
    }
    if (passed + failed === 0) failed = 1
    console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
    process.exit(code === 0 && failed === 0 ? 0 : 1)
  })
})
