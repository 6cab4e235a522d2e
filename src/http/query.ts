import { RegistryError } from '../errors/registry-error.js'

/** Decoded query parameters; a parameter may repeat (?tag=a&tag=b). */
export class Query {
  private readonly params: URLSearchParams

  constructor(raw: string) {
    this.params = new URLSearchParams(raw)
  }

  one(name: string): string | undefined {
    return this.params.get(name) ?? undefined
  }

  all(name: string): string[] {
    return this.params.getAll(name)
  }

  /**
   * The page size `n`: a non-negative integer of any size (the listing clamps it to its page limit
   * and pages on with Link), else PAGINATION_NUMBER_INVALID.
   */
  pageSize(): number | undefined {
    const n = this.one('n')
    if (n === undefined) return undefined
    if (!/^\d+$/.test(n)) throw new RegistryError('PAGINATION_NUMBER_INVALID', { detail: { n: n.slice(0, 20) } })
    // Beyond 15 digits a Number loses precision; any such n is far above every page limit anyway.
    return n.length > 15 ? Number.MAX_SAFE_INTEGER : Number(n)
  }
}
