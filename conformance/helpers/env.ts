// Where the suite runs: CI or a developer machine, which client binaries exist, and the one
// place that decides whether a scenario whose prerequisites are missing skips or fails.
import { accessSync, constants } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

export type Tap = Test

/** CI sets CI=true; there a missing client is a failure, never a skip. */
export const isCI = process.env.CI === 'true'

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
/** The shared directory beside the project (CI clones the project with ../shared beside it); WHARF_SHARED_DIR overrides it. */
export const sharedDir = process.env.WHARF_SHARED_DIR ?? path.join(projectRoot, '..', 'shared')
/** A tool of <shared>/bin (BuildKit, buildx, oras, crane; see its README.md). */
const sharedBin = (name: string): string => path.join(sharedDir, 'bin', name)

/** Binaries the scenarios drive. Paths are resolved on PATH unless absolute. */
export const Tools = {
  skopeo: 'skopeo',
  buildah: 'buildah',
  podman: 'podman',
  umoci: 'umoci',
  dockerd: 'dockerd',
  // Debian apache2-utils and openssl: the login scenarios' htpasswd file and test CA.
  htpasswd: 'htpasswd',
  openssl: 'openssl',
  // Debian's docker.io CLI, matching dockerd 20.10 (a newer CLI may sit earlier on PATH).
  docker: '/usr/bin/docker',
  containerd: 'containerd',
  ctr: 'ctr',
  registry: process.env.WHARF_REFERENCE_REGISTRY ?? '/usr/bin/docker-registry',
  busybox: process.env.WHARF_BUSYBOX_AMD64 ?? '/bin/busybox',
  // extracted from Debian's busybox-static:arm64 (see conformance/README.md)
  busyboxArm64: process.env.WHARF_BUSYBOX_ARM64 ?? '/opt/busybox-arm64/bin/busybox',
  runc: 'runc',
  // Debian's chromium, headless through playwright-core (test/support/browser.ts reads the same variable).
  chromium: process.env.WHARF_CHROMIUM ?? '/usr/bin/chromium',
  // Debian's debootstrap: the container image test's stand-in for the node:24-bookworm-slim base.
  debootstrap: process.env.WHARF_DEBOOTSTRAP ?? '/usr/sbin/debootstrap',
  // extracted from Debian's qemu-user-static by .ci/run; buildkitd runs it as buildkit-qemu-aarch64
  qemuAarch64: process.env.WHARF_QEMU_AARCH64 ?? '/opt/qemu-aarch64/qemu-aarch64-static',
  buildkitd: sharedBin('buildkitd'),
  buildctl: sharedBin('buildctl'),
  dockerBuildx: sharedBin('docker-buildx'),
  oras: sharedBin('oras'),
  crane: sharedBin('crane'),
} as const

export type ToolName = keyof typeof Tools

/** Absolute path of an executable, or undefined when it cannot be found. */
export function which(name: string): string | undefined {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '').split(':').filter(Boolean).map((dir) => path.join(dir, name))
  for (const candidate of candidates) {
    try { accessSync(candidate, constants.X_OK); return candidate } catch { /* keep looking */ }
  }
  return undefined
}

export function toolPath(name: ToolName): string {
  const found = which(Tools[name])
  if (found === undefined) throw new Error(`${name} (${Tools[name]}) not found`)
  return found
}

export interface Requirements {
  readonly tools?: readonly ToolName[]
  /** The scenario starts daemons or mounts (dockerd, containerd, buildah/podman storage). */
  readonly root?: boolean
}

/** Why a scenario cannot run here, or undefined when everything it needs is present. */
export function missingRequirements(req: Requirements): string | undefined {
  const missing = (req.tools ?? []).filter((tool) => which(Tools[tool]) === undefined)
  const reasons: string[] = []
  if (missing.length > 0) reasons.push(`missing ${missing.map((tool) => `${tool} (${Tools[tool]})`).join(', ')}`)
  if (req.root && process.getuid?.() !== 0) reasons.push('needs root')
  return reasons.length > 0 ? reasons.join('; ') : undefined
}

export interface ScenarioOptions extends Requirements {
  /** Per-scenario timeout; tap fails the scenario (and its teardowns still run) when it expires. */
  readonly timeout: number
}

/**
 * Declares one scenario. Missing prerequisites skip it with the reason on a developer machine
 * and fail it in CI (CI=true), so a CI image without a client cannot pass by skipping.
 */
export function scenario(t: Tap, name: string, options: ScenarioOptions, fn: (t: Tap) => Promise<void>): Promise<unknown> {
  const missing = missingRequirements(options)
  if (missing !== undefined) {
    if (isCI) {
      return t.test(name, async (tt) => { tt.fail(`${name}: ${missing} (CI=true: prerequisites must be installed)`) })
    }
    return t.test(name, { skip: `${missing}` }, async () => {})
  }
  return t.test(name, { timeout: options.timeout }, fn)
}

/** A short unique suffix for repository names, so runs never see each other's content. */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
}
