import { describe, expect, it } from 'vitest'
import { RateLimiter } from '../../../protocol/rate-limit.js'

const T0 = 1_000_000

describe('RateLimiter', () => {
  it('allows a burst, then refuses until tokens refill at the rate', () => {
    const r = new RateLimiter({ ratePerS: 10, burst: 5 })
    for (let i = 0; i < 5; i++) expect(r.take('a', T0)).toBe(true)
    expect(r.take('a', T0)).toBe(false)
    expect(r.take('a', T0 + 99)).toBe(false) // 0.99 token
    expect(r.take('a', T0 + 100)).toBe(true) // one token per 100 ms
    expect(r.take('a', T0 + 100)).toBe(false)
    // Never more than the burst, however long the pause.
    let n = 0
    while (r.take('a', T0 + 3_600_000)) n++
    expect(n).toBe(5)
  })

  it('keeps keys independent', () => {
    const r = new RateLimiter({ ratePerS: 1, burst: 1 })
    expect(r.take('a', T0)).toBe(true)
    expect(r.take('a', T0)).toBe(false)
    expect(r.take('b', T0)).toBe(true)
  })

  it('charges the cost', () => {
    const r = new RateLimiter({ ratePerS: 1, burst: 10 })
    expect(r.take('a', T0, 7)).toBe(true)
    expect(r.take('a', T0, 4)).toBe(false)
    expect(r.take('a', T0, 3)).toBe(true)
  })

  it('does not mint tokens when the clock steps back', () => {
    const r = new RateLimiter({ ratePerS: 10, burst: 1 })
    expect(r.take('a', T0)).toBe(true)
    expect(r.take('a', T0 - 10_000)).toBe(false)
    expect(r.take('a', T0 + 50)).toBe(false)
    expect(r.take('a', T0 + 100)).toBe(true)
  })

  it('stays within maxKeys, dropping idle buckets before busy ones', () => {
    const r = new RateLimiter({ ratePerS: 1, burst: 2, maxKeys: 3 })
    expect(r.take('busy', T0, 2)).toBe(true) // empty bucket: must not be forgotten cheaply
    expect(r.take('idle1', T0 - 10_000)).toBe(true)
    expect(r.take('x', T0)).toBe(true)
    expect(r.size).toBe(3)
    // idle1 has refilled since T0-10s: it goes, although busy is older.
    expect(r.take('y', T0)).toBe(true)
    expect(r.size).toBe(3)
    // 'busy' (least recently used, not refilled) survived only if an idle bucket went first.
    expect(r.take('busy', T0)).toBe(false)
    for (let i = 0; i < 100; i++) r.take(`k${i}`, T0)
    expect(r.size).toBe(3)
  })
})
