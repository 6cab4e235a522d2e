import type { Platform } from '../registry/browse-types.js'

/** How numbers, times and digests read on the pages (one place, so every page says them alike). */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes))} B`
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${UNITS[unit]}`
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}

/** ISO time (UTC, to the second): what a <time datetime> carries and what is shown without JS. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** `2026-12-01 10:43 UTC`: short, unambiguous, the same for every reader. */
export function formatTime(ms: number): string {
  const iso = new Date(ms).toISOString()
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`
}

/** `sha256:0123456789ab` — the algorithm and 12 hex digits, as `docker images` shows ids. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':')
  return colon === -1 ? digest.slice(0, 12) : digest.slice(0, colon + 13)
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((part) => part !== undefined && part !== '').join('/') + (p.osVersion !== undefined ? ` (${p.osVersion})` : '')
}

const KIND_LABELS: Readonly<Record<string, string>> = {
  image: 'image', index: 'index', artifact: 'artifact', 'buildkit-cache': 'BuildKit cache', attestation: 'attestation',
  signature: 'signature', sbom: 'SBOM', unknown: 'unknown',
}

export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind
}

/** `1 tag`, `2 tags`, `10,000 tags`: a count and its noun, plural unless exactly one. */
export function plural(n: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${formatCount(n)} ${n === 1 ? noun : pluralNoun}`
}
