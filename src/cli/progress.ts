/** A one-line progress bar on a terminal: bytes so far of `total` (unknown: NaN), redrawn at most 10 times a second. */
export interface ProgressBar {
  update(bytes: number): void
  /** Draws the final state and ends the line. */
  done(): void
}

const WIDTH = 30

/** Sizes as people read them (1.5 MiB), for every command's output. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

export function progressBar(out: NodeJS.WriteStream, label: string, total: number): ProgressBar {
  let bytes = 0
  let drawnAt = 0
  let finished = false
  const draw = (): void => {
    drawnAt = Date.now()
    const known = Number.isFinite(total) && total > 0
    const fraction = known ? Math.min(1, bytes / total) : 0
    const filled = Math.round(fraction * WIDTH)
    const bar = known ? `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ` : ''
    out.write(`\r\x1b[2K${label} ${bar}${formatBytes(bytes)}${known ? ` / ${formatBytes(total)}` : ''}`)
  }
  return {
    update(value) {
      bytes = value
      if (Date.now() - drawnAt >= 100) draw()
    },
    done() {
      if (finished) return
      finished = true
      draw()
      out.write('\n')
    },
  }
}
