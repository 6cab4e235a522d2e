import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import { ConfigError } from '../../src/config/config.js'

/** The `code` of what `fn` throws, 'none' when it returns. */
export function thrownCode(fn: () => unknown): string {
  try {
    fn()
    return 'none'
  } catch (err) {
    return String((err as { code?: unknown }).code ?? (err as Error).name)
  }
}

export const HEX64 = 'a'.repeat(32) + '0123456789abcdef'.repeat(2)
export const HEX128 = HEX64 + HEX64.split('').reverse().join('')
export const D256 = `sha256:${HEX64}`
export const D512 = `sha512:${HEX128}`

/** The message of the ConfigError `promise` rejects with; 'accepted' when it resolves. */
export async function configError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'accepted'
  } catch (err) {
    if (!(err instanceof ConfigError)) return `not a ConfigError: ${String(err)}`
    return err.message
  }
}

/** A writer of YAML config files into a temp directory that goes when `t` ends; resolves with each file's path. */
export function yamlFiles(t: Test): (text: string) => Promise<string> {
  let dir: Promise<string> | undefined
  let counter = 0
  return async (text) => {
    if (dir === undefined) {
      dir = mkdtemp(path.join(tmpdir(), 'wharf-config-'))
      const made = dir
      t.teardown(async () => rm(await made, { recursive: true, force: true }))
    }
    const file = path.join(await dir, `config-${++counter}.yaml`)
    await writeFile(file, text)
    return file
  }
}
