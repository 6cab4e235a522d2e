/** Scraping a server's /metrics in tests: Prometheus' text format parsed into series. */
import type { Test } from 'tap'
import { request } from './http.js'

/** A scrape, parsed: `name{labels}` (labels as the server wrote them) → value. */
export class Scrape {
  constructor(readonly text: string, readonly values: ReadonlyMap<string, number>) {}

  /** The value of the series `name{a="x",...}`; labels in any order; 0 when the series is absent. */
  get(name: string, labels: Readonly<Record<string, string>> = {}): number {
    const wanted = Object.entries(labels)
    for (const [key, value] of this.values) {
      const brace = key.indexOf('{')
      if ((brace === -1 ? key : key.slice(0, brace)) !== name) continue
      const have = brace === -1 ? [] : key.slice(brace + 1, -1).split(/,(?=[a-z_]+=")/).map((pair) => pair.split('='))
      if (have.length !== wanted.length) continue
      if (wanted.every(([k, v]) => have.some(([hk, hv]) => hk === k && hv === JSON.stringify(v)))) return value
    }
    return 0
  }
}

export async function scrape(t: Test, base: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await request(base, '/metrics', { headers })
  t.equal(res.status, 200, res.describe())
  const values = new Map<string, number>()
  for (const line of res.text().split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    values.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return new Scrape(res.text(), values)
}
