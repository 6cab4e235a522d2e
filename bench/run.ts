/**
 * Wharf benchmark runner: every scenario on the reference registry and on Wharf, alternating.
 *
 *   node dist/bench/run.js [--quick] [--rounds N] [--scenario a,b] [--servers reference,wharf]
 *                          [--scale-max N] [--no-machine] [--wait-quiet SECONDS] [--write | --no-write] [--out FILE]
 *                          [--backend filesystem|s3] [--metadata sqlite|postgres] [--nodes N]
 *
 * With `--backend s3` both servers keep blobs in one real Ceph radosgw started for the run, a bucket
 * each; `--metadata postgres` (with s3) puts Wharf's metadata in a real PostgreSQL. `--nodes N`
 * (with s3 and postgres) runs N nodes of each server behind nginx, on that server's bucket.
 */
import { execFileSync } from 'node:child_process'
import { cpus, totalmem, release } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { FILESYSTEM, startS3Backend, type Backend } from './backend.js'
import { makeConfig, type BenchConfig } from './config.js'
import { measureMachine } from './machine.js'
import { LoadClient } from './load-client.js'
import {
  evaluateTargets, formatDuration, prependToBenchmarks, renderRun,
  type PhaseRecord, type RunRecord, type ScenarioRecord, type ServerPhaseRecord,
} from './report.js'
import { buildScenarios, type Ctx, type Scenario } from './scenarios.js'
import { machineBusySeconds, sampleOtherCpu, waitForQuiet } from './system-load.js'
import { startClusterServer, type ClusterBenchServer } from './cluster-server.js'
import { REFERENCE_BIN, startReferenceServer, startWharfServer, wharfAvailable, type BenchServer, type ServerKind } from './servers.js'

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

interface Options {
  quick: boolean
  rounds?: number
  scenarios?: string[]
  servers: ServerKind[]
  scaleMax?: number
  machine: boolean
  write?: boolean
  out: string
  waitQuietSeconds: number
  backend: 'filesystem' | 's3'
  metadata: 'sqlite' | 'postgres'
  /** Nodes of each server behind nginx; undefined: one server, no balancer. */
  nodes?: number
}

function usage(): never {
  process.stderr.write(`usage: node dist/bench/run.js [--quick] [--rounds N] [--scenario a,b,...] [--servers reference,wharf]
       [--scale-max N] [--no-machine] [--wait-quiet SECONDS] [--write|--no-write] [--out FILE] [--list]
       [--backend filesystem|s3] [--metadata sqlite|postgres]   (postgres needs --backend s3)
       [--nodes N]   (N nodes of each server behind nginx, 1 included; needs --backend s3 --metadata postgres)
`)
  process.exit(2)
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { quick: false, servers: ['reference', 'wharf'], machine: true, out: path.join(REPO_ROOT, 'BENCHMARKS.md'), waitQuietSeconds: 0,
    backend: 'filesystem', metadata: 'sqlite' }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = (): string => { const v = argv[++i]; if (v === undefined) usage(); return v }
    switch (arg) {
      case '--quick': options.quick = true; break
      case '--rounds': options.rounds = Number(value()); if (!(options.rounds >= 1)) usage(); break
      case '--scenario': case '--scenarios': options.scenarios = [...(options.scenarios ?? []), ...value().split(',').filter(Boolean)]; break
      case '--servers': {
        const list = value().split(',').map((s) => s === 'ref' ? 'reference' : s)
        if (list.some((s) => s !== 'reference' && s !== 'wharf')) usage()
        options.servers = list as ServerKind[]
        break
      }
      case '--scale-max': options.scaleMax = Number(value()); if (!(options.scaleMax >= 1000)) usage(); break
      case '--no-machine': options.machine = false; break
      case '--wait-quiet': options.waitQuietSeconds = Number(value()); if (!(options.waitQuietSeconds >= 0)) usage(); break
      case '--write': options.write = true; break
      case '--no-write': options.write = false; break
      case '--out': options.out = path.resolve(value()); break
      case '--backend': { const v = value(); if (v !== 'filesystem' && v !== 's3') usage(); options.backend = v; break }
      case '--metadata': { const v = value(); if (v !== 'sqlite' && v !== 'postgres') usage(); options.metadata = v; break }
      case '--nodes': { const n = Number(value()); if (!(Number.isInteger(n) && n >= 1)) usage(); options.nodes = n; break }
      case '--list': {
        for (const s of buildScenarios(makeConfig({ quick: false }))) {
          process.stdout.write(`${s.id}\t${s.title}\n${s.phases.map((p) => `  ${p.id}\t${p.title}\n`).join('')}`)
        }
        process.exit(0)
      }
      // falls through (unreachable)
      default: usage()
    }
  }
  if (options.metadata === 'postgres' && options.backend !== 's3') usage()
  if (options.nodes !== undefined && options.metadata !== 'postgres') usage()
  return options
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return dirty ? `${commit} (src modified)` : commit
  } catch {
    return 'none (no commit yet)'
  }
}

function referenceVersion(): string {
  try {
    return execFileSync(REFERENCE_BIN, ['--version'], { encoding: 'utf8' }).trim()
  } catch { return REFERENCE_BIN }
}

function machineDescription(): string {
  const cpu = cpus()
  return `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Linux ${release()}`
}

async function startServer(kind: ServerKind, backend: Backend, nodes: number | undefined): Promise<BenchServer> {
  if (nodes !== undefined) return startClusterServer(kind, nodes, backend)
  if (kind === 'reference') {
    const storage = await backend.referenceConfig()
    return startReferenceServer(storage ? { storage } : {})
  }
  const configFile = await backend.wharfConfig()
  return startWharfServer(configFile !== undefined ? { configFile } : {})
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms / 1000} s`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

function message(error: unknown): string {
  return error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error)
}

const running = new Set<BenchServer>()
let backend: Backend = FILESYSTEM
/** The backend being started, so that a signal during its start still stops what it started. */
let backendStarting: Promise<Backend> = Promise.resolve(FILESYSTEM)

async function stopAllAndExit(signal: string): Promise<void> {
  log(`${signal}: stopping the servers`)
  await Promise.allSettled([...running].map((server) => server.stop()))
  await (await backendStarting.catch(() => FILESYSTEM)).stop()
  process.exit(130)
}

async function runScenario(scenario: Scenario<any>, config: BenchConfig, kinds: readonly ServerKind[], run: RunRecord, waitQuietSeconds: number): Promise<void> {
  log(`scenario ${scenario.id}: ${scenario.title}`)
  const record: ScenarioRecord = { id: scenario.id, title: scenario.title, peakRssBytes: {}, errors: {} }
  run.scenarios.push(record)
  const live = new Map<ServerKind, { server: BenchServer; ctx: Ctx; state: unknown }>()
  try {
    for (const kind of kinds) {
      try {
        const server = await startServer(kind, backend, run.nodes)
        running.add(server)
        const client = new LoadClient(server.url, scenario.connections(config))
        const ctx: Ctx = { server, client, config, log: (m) => log(`[${kind}] ${m}`) }
        live.set(kind, { server, ctx, state: undefined })
        const entry = live.get(kind)!
        entry.state = await withTimeout(scenario.init(ctx), config.fillTimeoutMs, `${scenario.id} init`)
      } catch (error) {
        record.errors[kind] = `setup: ${message(error)}`
        log(`[${kind}] ${scenario.id} setup FAILED: ${message(error)}`)
        const entry = live.get(kind)
        if (entry) { entry.ctx.client.close(); record.peakRssBytes[kind] = safePeak(entry.server); await entry.server.stop(); running.delete(entry.server) }
        live.delete(kind)
      }
    }
    for (const phase of scenario.phases) {
      const phaseRecord: PhaseRecord = {
        scenarioId: scenario.id, phaseId: phase.id, title: phase.title, opLabel: phase.opLabel, metrics: phase.metrics, servers: {},
      }
      run.phases.push(phaseRecord)
      for (const kind of kinds) {
        const serverRecord: ServerPhaseRecord = { rounds: [] }
        phaseRecord.servers[kind] = serverRecord
        const entry = live.get(kind)
        if (entry === undefined) { serverRecord.error = record.errors[kind] ?? 'server not running'; continue }
        if (phase.prepare) {
          const start = performance.now()
          try {
            await withTimeout(phase.prepare(entry.ctx, entry.state), config.fillTimeoutMs, `${phase.id} prepare`)
            serverRecord.prepareSeconds = (performance.now() - start) / 1000
          } catch (error) {
            serverRecord.error = `prepare: ${message(error)}`
            log(`[${kind}] ${phase.id} prepare FAILED: ${message(error)}`)
          }
        }
      }
      let slow = false
      for (let round = 1; round <= config.rounds && !slow; round++) {
        for (const kind of kinds) {
          const entry = live.get(kind)
          const serverRecord = phaseRecord.servers[kind]!
          if (entry === undefined || serverRecord.error !== undefined) continue
          const { server, ctx } = entry
          // with --wait-quiet, a round starts only once other processes leave the machine alone (bounded wait)
          if (waitQuietSeconds > 0) await waitForQuiet(25, Math.min(waitQuietSeconds, 300) * 1000, log, 1000)
          const cpu0 = server.cpuSeconds()
          const bench0 = process.cpuUsage()
          const busy0 = machineBusySeconds()
          const t0 = performance.now()
          try {
            const result = await withTimeout(phase.measure(ctx, entry.state, round), config.opTimeoutMs, `${phase.id} round ${round}`)
            const seconds = (performance.now() - t0) / 1000
            // a round that takes minutes (e.g. the reference's catalog at 100,000 repositories) is not repeated
            if (seconds > config.slowRoundSeconds && round < config.rounds) {
              slow = true
              log(`[${kind}] ${phase.id}: round took ${seconds.toFixed(0)} s > ${config.slowRoundSeconds} s; this phase ends after round ${round}`)
            }
            const benchCpu = process.cpuUsage(bench0)
            const cpu = server.cpuSeconds() - cpu0
            const others = machineBusySeconds() - busy0 - cpu - (benchCpu.user + benchCpu.system) / 1e6
            serverRecord.rounds.push({
              otherCpuPct: Math.max(0, others) * 100 / seconds,
              metrics: result.metrics,
              cpuPerOpMs: result.ops > 0 ? cpu * 1000 / result.ops : Number.NaN,
              benchCpuPct: (benchCpu.user + benchCpu.system) / 1e4 / seconds,
              seconds,
            })
            const summary = phase.metrics.map((m) => `${m.label} ${formatMetric(result.metrics[m.key])} ${m.unit}`).join(', ')
            log(`[${kind}] ${phase.id} round ${round}: ${summary}; server CPU ${cpu.toFixed(2)} s`)
            if (result.failures && result.failures.length > 0) {
              serverRecord.error = result.failures.join('; ')
              log(`[${kind}] ${phase.id} round ${round} CHECK FAILED: ${serverRecord.error}`)
            }
          } catch (error) {
            serverRecord.error = `round ${round}: ${message(error)}`
            log(`[${kind}] ${phase.id} round ${round} FAILED: ${message(error)}`)
          }
          if (!server.alive()) {
            serverRecord.error ??= 'server exited'
            record.errors[kind] = 'server exited during the scenario'
          }
        }
      }
    }
  } finally {
    for (const [kind, entry] of live) {
      record.peakRssBytes[kind] = safePeak(entry.server)
      if ('balancerCpuSeconds' in entry.server) {
        const balancer = run.balancerCpuSeconds ??= {}
        balancer[kind] = (balancer[kind] ?? 0) + (entry.server as ClusterBenchServer).balancerCpuSeconds()
      }
      entry.ctx.client.close()
      await entry.server.stop()
      running.delete(entry.server)
    }
  }
}

function safePeak(server: BenchServer): number {
  try { return server.peakRssBytes() } catch { return Number.NaN }
}

function formatMetric(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a'
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2)
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  process.once('SIGINT', () => { void stopAllAndExit('SIGINT') })
  process.once('SIGTERM', () => { void stopAllAndExit('SIGTERM') })
  const started = performance.now()
  const config = makeConfig({ quick: options.quick, rounds: options.rounds, scaleMax: options.scaleMax })
  let kinds = options.servers
  if (kinds.includes('wharf') && !wharfAvailable()) {
    log('Wharf is not built (dist/src/cli/index.js missing): running the reference registry only')
    kinds = kinds.filter((k) => k !== 'wharf')
  }
  if (kinds.length === 0) { log('no server to benchmark'); process.exit(2) }
  const all = buildScenarios(config)
  const selected = options.scenarios ? all.filter((s) => options.scenarios!.includes(s.id)) : all
  if (options.scenarios && selected.length !== options.scenarios.length) {
    log(`unknown scenario in ${options.scenarios.join(',')}; known: ${all.map((s) => s.id).join(', ')}`)
    process.exit(2)
  }
  const run: RunRecord = {
    date: new Date(), commit: gitCommit(), machine: machineDescription(), referenceVersion: referenceVersion(),
    nodeVersion: process.version, rounds: config.rounds, quick: config.quick, args: process.argv.slice(2).join(' '),
    servers: kinds, wallSeconds: 0, phases: [], scenarios: [], backend: FILESYSTEM.name, referenceStorage: FILESYSTEM.referenceStorage,
    ...(options.nodes !== undefined ? { nodes: options.nodes } : {}),
  }
  const quiet = options.waitQuietSeconds > 0
    ? await waitForQuiet(15, options.waitQuietSeconds * 1000, log)
    : await sampleOtherCpu(2000)
  run.otherCpuAtStartPct = quiet
  if (quiet > 15) log(`WARNING: other processes use ${quiet.toFixed(0)}% of a core; results will be distorted`)
  if (options.machine) {
    log('measuring machine limits')
    run.limits = await measureMachine(config.quick)
    log(`machine: SHA-256 ${run.limits.sha256MBps.toFixed(0)} MB/s, loopback down ${run.limits.loopbackDownloadMBps.toFixed(0)} / up ${run.limits.loopbackUploadMBps.toFixed(0)} MB/s, `
      + `write+fsync ${run.limits.diskWriteFsyncMBps.toFixed(0)} MB/s, 4K fdatasync ${run.limits.smallFsyncPerSec.toFixed(0)}/s`)
  }
  if (options.backend === 's3') {
    log(`backend: starting radosgw${options.metadata === 'postgres' ? ' and PostgreSQL' : ''} (on this machine's cores, beside the servers)`)
    backendStarting = startS3Backend(options.metadata === 'postgres', log)
    backend = await backendStarting
    run.backend = backend.name
    run.referenceStorage = backend.referenceStorage
  }
  log(`backend: ${run.backend}`)
  try {
    for (const scenario of selected) await runScenario(scenario, config, kinds, run, options.waitQuietSeconds)
  } finally {
    await backend.stop()
  }
  run.wallSeconds = (performance.now() - started) / 1000
  const section = renderRun(run)
  process.stdout.write(`\n${section}\n`)
  const write = options.write ?? (!options.quick && !options.scenarios && options.rounds === undefined ? true : false)
  if (write) {
    prependToBenchmarks(options.out, section)
    log(`results prepended to ${options.out}`)
  } else {
    log('results not written to BENCHMARKS.md (partial or quick run; pass --write to write them)')
  }
  log(`wall time ${formatDuration(run.wallSeconds)}`)
  const failed = run.phases.some((p) => Object.values(p.servers).some((s) => s?.error !== undefined))
    || run.scenarios.some((s) => Object.keys(s.errors).length > 0)
  if (kinds.includes('wharf')) {
    const missed = evaluateTargets(run).filter((t) => t.met === false).map((t) => t.label)
    log(missed.length === 0 ? 'all targets met' : `targets missed: ${missed.join('; ')}`)
  }
  process.exitCode = failed ? 1 : 0
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
