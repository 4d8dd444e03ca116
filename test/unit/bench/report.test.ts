import { describe, expect, it } from 'vitest'
import { median, quantile, summarize } from '../../../bench/stats.js'
import { ratio, renderTable } from '../../../bench/report.js'

describe('bench stats', () => {
  it('interpolates quantiles between order statistics, whatever the input order', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(quantile([10, 0], 0.99)).toBeCloseTo(9.9)
    expect(quantile([5], 0.99)).toBe(5)
    expect(quantile([1, 2, 3], 2)).toBe(3)
  })

  it('summarises samples, NaN when there are none', () => {
    const xs = Array.from({ length: 101 }, (_, i) => i)
    expect(summarize(xs)).toEqual({ n: 101, min: 0, p50: 50, p90: 90, p99: 99, max: 100, mean: 50 })
    const empty = summarize([])
    expect(empty.n).toBe(0)
    expect(empty.p50).toBeNaN()
  })
})

describe('bench report', () => {
  it('gives a ratio only when both figures exist and plain is not zero', () => {
    expect(ratio({ p2pd: 3, plain: 1.5 })).toBe(2)
    expect(ratio({ p2pd: 3, plain: null })).toBeNull()
    expect(ratio({ p2pd: 3, plain: 0 })).toBeNull()
    expect(ratio({ p2pd: NaN, plain: 1 })).toBeNull()
  })

  it('renders an aligned table with notes for missing or stand-in baselines', () => {
    const text = renderTable([
      { metric: 'throughput', unit: 'Mbit/s', p2pd: 600, plain: 8000, digits: 0 },
      { metric: 'RSS', unit: 'MiB', p2pd: 100.04, plain: null, plainNote: 'no process', digits: 1 },
      { metric: 'connect', unit: 'ms', p2pd: 250, plain: 0.25, plainNote: 'TCP connect() only' },
    ])
    const lines = text.split('\n')
    expect(lines[0]).toMatch(/^metric\s+p2pd\s+plain \(DNAT, no tunnel\)\s+p2pd\/plain$/)
    expect(lines[2]).toMatch(/^throughput \[Mbit\/s\]\s+600\s+8000\s+0\.07x$/)
    expect(lines[3]).toMatch(/^RSS \[MiB\]\s+100\.0\s+no process\s+-$/)
    expect(lines[4]).toMatch(/0\.25 \(TCP connect\(\) only\)\s+1000\.00x$/)
    expect(new Set(lines.slice(2).map((l) => l.length)).size).toBe(1)
  })
})
