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
