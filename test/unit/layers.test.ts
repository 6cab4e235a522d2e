/**
 * The layering of src/, one way: every import goes from a folder to itself or to a lower layer.
 * A violation (gc importing registry, metadata importing storage, Fastify outside http) fails here.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/** Top to bottom; folders on one line are peers and may not import each other. */
const LAYERS: ReadonlyArray<readonly string[]> = [
  ['cli'],
  ['config'],
  ['http'],
  // Server-rendered pages of the web UI: HTML from the registry's browse answers.
  ['ui'],
  ['metrics'],
  ['notifications'],
  ['auth'],
  // Image archives in and out (import, export), built on the registry's services.
  ['transfer'],
  ['registry'],
  ['gc'],
  ['events'],
  ['context'],
  ['access'],
  ['metadata', 'storage', 'upstream'],
  ['coordination'],
  ['oci'],
  ['errors', 'logging'],
]

/** Packages only some folders may use. */
const PACKAGE_OWNERS: Readonly<Record<string, readonly string[]>> = {
  fastify: ['http'],
  'prom-client': ['metrics'],
  // The HTTP client for upstream registries (the pull-through cache) and webhook receivers.
  undici: ['upstream', 'notifications'],
  '@fastify/multipart': ['http'],
  // Backends: the PostgreSQL metadata store and coordination, and the S3 blob store.
  pg: ['metadata', 'coordination'],
  '@aws-sdk/client-s3': ['storage'],
  '@aws-sdk/s3-request-presigner': ['storage'],
}

interface SourceFile {
  /** Relative to src/, with forward slashes: `gc/collector.ts`, `logging.ts`. */
  readonly path: string
  readonly text: string
}

/** The folder (or, for a file at the top of src/, the file's name) a module belongs to. */
function unitOf(file: string): string {
  const [first, ...rest] = file.split('/')
  return rest.length === 0 ? first!.replace(/\.ts$/, '') : first!
}

function importsOf(text: string): string[] {
  const found: string[] = []
  const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) found.push(match[1]!)
  return found
}

/** Every import that breaks the layering, as `file: reason`. */
export function layerViolations(files: readonly SourceFile[]): string[] {
  const rank = new Map<string, number>()
  LAYERS.forEach((units, i) => { for (const unit of units) rank.set(unit, i) })
  const violations: string[] = []
  for (const file of files) {
    const from = unitOf(file.path)
    const fromRank = rank.get(from)
    if (fromRank === undefined) { violations.push(`${file.path}: folder "${from}" has no layer`); continue }
    for (const specifier of importsOf(file.text)) {
      if (!specifier.startsWith('.')) {
        const pkg = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!
        const owners = PACKAGE_OWNERS[pkg]
        if (owners !== undefined && !owners.includes(from)) violations.push(`${file.path}: imports ${pkg}, reserved to ${owners.join(', ')}`)
        continue
      }
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file.path), specifier))
      if (target.startsWith('..')) { violations.push(`${file.path}: imports ${specifier} from outside src/`); continue }
      const to = unitOf(target.replace(/\.js$/, '.ts'))
      if (to === from) continue
      const toRank = rank.get(to)
      if (toRank === undefined) violations.push(`${file.path}: imports ${specifier} from "${to}", which has no layer`)
      else if (toRank <= fromRank) violations.push(`${file.path}: ${from} may not import ${to} (${specifier})`)
    }
  }
  return violations
}

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src')

function sourceFiles(): SourceFile[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => ({ path: name.split(path.sep).join('/'), text: readFileSync(path.join(SRC, name), 'utf8') }))
}

t.test('every import in src/ follows cli → config → http → registry → gc → events → context → metadata, storage → coordination → oci → errors', async (t) => {
  const files = sourceFiles()
  t.ok(files.length > 30, `found the sources (${files.length} files)`)
  t.ok(files.some((f) => f.path === 'gc/collector.ts'), 'gc/collector.ts is among them')
  t.same(layerViolations(files), [])
})

t.test('the checker catches violations', async (t) => {
  const violations = layerViolations([
    { path: 'gc/collector.ts', text: "import type { UploadService } from '../registry/uploads.js'\nimport { x } from './retention.js'" },
    { path: 'metadata/store.ts', text: "import { FilesystemBlobStore } from '../storage/fs-blob-store.js'" },
    { path: 'registry/blobs.ts', text: "import Fastify from 'fastify'\nimport { RegistryError } from '../errors/registry-error.js'" },
    { path: 'oci/digest.ts', text: "export { Thing } from '../metadata/metadata-store.js'" },
    { path: 'errors/e.ts', text: "const m = await import('../logging.js')" },
    { path: 'webhooks/send.ts', text: "import { x } from '../events/bus.js'" },
    { path: 'http/app.ts', text: "import Fastify from 'fastify'\nimport { Registry } from '../registry/registry.js'\nimport { x } from '../../x.js'" },
  ])
  t.same(violations, [
    'gc/collector.ts: gc may not import registry (../registry/uploads.js)',
    'metadata/store.ts: metadata may not import storage (../storage/fs-blob-store.js)',
    'registry/blobs.ts: imports fastify, reserved to http',
    'oci/digest.ts: oci may not import metadata (../metadata/metadata-store.js)',
    'errors/e.ts: errors may not import logging (../logging.js)',
    'webhooks/send.ts: folder "webhooks" has no layer',
    'http/app.ts: imports ../../x.js from outside src/',
  ])
})
