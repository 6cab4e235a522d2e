/** Checks of configuration values: each names the option (`where`) in the error it raises through `fail`. */

export type Fail = (message: string) => never

export function mapping(value: unknown, where: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${where} must be a mapping`)
  return value as Record<string, unknown>
}

export function only(values: Record<string, unknown>, keys: readonly string[], where: string, fail: Fail): void {
  for (const key of Object.keys(values)) if (!keys.includes(key)) fail(`unknown config option "${where}.${key}"`)
}

export function text(value: unknown, where: string, fail: Fail): string {
  if (typeof value !== 'string' || value === '') fail(`${where} must be a non-empty string`)
  return value as string
}

export function optionalText(value: unknown, where: string, fail: Fail): string | undefined {
  return value === undefined || value === null ? undefined : text(value, where, fail)
}

export function count(value: unknown, fallback: number, where: string, fail: Fail): number {
  if (value === undefined) return fallback
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 1) fail(`${where} must be a positive integer`)
  return number as number
}

export function names(value: unknown, where: string, fail: Fail): string[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) fail(`${where} must be a list of names`)
  return value as string[]
}

export function list(value: unknown, where: string, fail: Fail): unknown[] {
  if (!Array.isArray(value)) fail(`${where} must be a list`)
  return value as unknown[]
}
