import t from 'tap'
import { formatUploadRange, parseContentRange, parseRangeHeader } from '../../src/oci/range.js'

t.test('parseContentRange of upload chunks', async (t) => {
  const cases: Array<[string, { start: number; end: number } | undefined]> = [
    ['0-0', { start: 0, end: 0 }],
    ['0-99', { start: 0, end: 99 }],
    ['100-199', { start: 100, end: 199 }],
    ['bytes 0-99/100', { start: 0, end: 99 }],
    ['bytes 0-99/*', { start: 0, end: 99 }],
    ['bytes=5-9', { start: 5, end: 9 }],
    ['  5-10  ', { start: 5, end: 10 }],
    ['0-99/200', { start: 0, end: 99 }],
    ['999999999999999-999999999999999', { start: 999999999999999, end: 999999999999999 }],
    ['10-5', undefined],
    ['', undefined],
    ['abc', undefined],
    ['-5', undefined],
    ['5-', undefined],
    ['1-2-3', undefined],
    ['0-99/abc', undefined],
    ['bytes */100', undefined],
    ['items 0-5', undefined],
    ['1000000000000000-1000000000000001', undefined],
    ['0x10-0x20', undefined],
  ]
  for (const [header, expected] of cases) t.same(parseContentRange(header), expected, JSON.stringify(header))
})

t.test('parseRangeHeader per RFC 9110', async (t) => {
  const cases: Array<[string | undefined, number, unknown, string]> = [
    [undefined, 100, { kind: 'none' }, 'no header'],
    ['bytes=0-9', 100, { kind: 'range', range: { start: 0, end: 9 } }, 'first ten'],
    ['bytes=0-0', 100, { kind: 'range', range: { start: 0, end: 0 } }, 'first byte'],
    ['bytes=99-99', 100, { kind: 'range', range: { start: 99, end: 99 } }, 'last byte'],
    ['bytes=90-', 100, { kind: 'range', range: { start: 90, end: 99 } }, 'open-ended'],
    ['bytes=0-', 100, { kind: 'range', range: { start: 0, end: 99 } }, 'open-ended from 0'],
    ['bytes=-10', 100, { kind: 'range', range: { start: 90, end: 99 } }, 'suffix'],
    ['bytes=-100', 100, { kind: 'range', range: { start: 0, end: 99 } }, 'suffix of everything'],
    ['bytes=-200', 100, { kind: 'range', range: { start: 0, end: 99 } }, 'suffix longer than the body'],
    ['bytes=50-1000', 100, { kind: 'range', range: { start: 50, end: 99 } }, 'end clamped'],
    [' bytes=1-2 ', 100, { kind: 'range', range: { start: 1, end: 2 } }, 'surrounding spaces'],
    ['bytes=100-', 100, { kind: 'unsatisfiable' }, 'start at size'],
    ['bytes=150-160', 100, { kind: 'unsatisfiable' }, 'start past size'],
    ['bytes=-0', 100, { kind: 'unsatisfiable' }, 'empty suffix'],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }, 'any range of an empty body'],
    ['bytes=-5', 0, { kind: 'unsatisfiable' }, 'suffix of an empty body'],
    ['bytes=5-2', 100, { kind: 'none' }, 'reversed range is ignored'],
    ['bytes=0-1,5-6', 100, { kind: 'none' }, 'multiple ranges are ignored'],
    ['bytes=0-1, 5-6', 100, { kind: 'none' }, 'multiple ranges with a space'],
    ['items=0-5', 100, { kind: 'none' }, 'unknown unit'],
    ['bytes=-', 100, { kind: 'none' }, 'no numbers'],
    ['bytes=abc', 100, { kind: 'none' }, 'garbage'],
    ['bytes 0-5', 100, { kind: 'none' }, 'Content-Range syntax'],
    ['', 100, { kind: 'none' }, 'empty header'],
  ]
  for (const [header, size, expected, why] of cases) t.same(parseRangeHeader(header, size), expected, why)
})

t.test('formatUploadRange', async (t) => {
  t.equal(formatUploadRange(0), '0-0')
  t.equal(formatUploadRange(1), '0-0')
  t.equal(formatUploadRange(2), '0-1')
  t.equal(formatUploadRange(100), '0-99')
  t.equal(formatUploadRange(64 * 1024 * 1024), `0-${64 * 1024 * 1024 - 1}`)
})
