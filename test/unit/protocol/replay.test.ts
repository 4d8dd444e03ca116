import { describe, expect, it } from 'vitest'
import { ReplayGuard } from '../../../protocol/replay.js'

const key = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const nonce = (n: number): Uint8Array => {
  const b = new Uint8Array(16)
  new DataView(b.buffer).setUint32(0, n)
  return b
}
const T0 = 1_700_000_000_000

describe('ReplayGuard', () => {
  it('accepts a fresh message once and refuses the same (key, nonce) again', () => {
    const g = new ReplayGuard()
    expect(g.check(key(1), nonce(1), T0, T0)).toBe('ok')
    expect(g.check(key(1), nonce(1), T0, T0 + 10)).toBe('replayed')
    // Same nonce under another key is another message.
    expect(g.check(key(2), nonce(1), T0, T0 + 10)).toBe('ok')
  })

  it('refuses timestamps outside ±windowMs and accepts the edges', () => {
    const g = new ReplayGuard({ windowMs: 60_000 })
    expect(g.check(key(1), nonce(1), T0 - 60_001, T0)).toBe('stale')
    expect(g.check(key(1), nonce(2), T0 + 60_001, T0)).toBe('stale')
    expect(g.check(key(1), nonce(3), T0 - 60_000, T0)).toBe('ok')
    expect(g.check(key(1), nonce(4), T0 + 60_000, T0)).toBe('ok')
    expect(g.check(key(1), nonce(5), Number.NaN, T0)).toBe('stale')
  })

  it('forgets pairs once they fall out of the window, where the timestamp check refuses them', () => {
    const g = new ReplayGuard({ windowMs: 1000 })
    expect(g.check(key(1), nonce(1), T0, T0)).toBe('ok')
    expect(g.size).toBe(1)
    expect(g.check(key(1), nonce(2), T0 + 1500, T0 + 1500)).toBe('ok')
    expect(g.size).toBe(1) // nonce(1) was pruned
    expect(g.check(key(1), nonce(1), T0, T0 + 1500)).toBe('stale')
  })

  it('tells an identical retry (same tag) from a different message reusing the nonce', () => {
    const g = new ReplayGuard()
    const sigA = new Uint8Array(64).fill(0xaa)
    const sigB = new Uint8Array(64).fill(0xbb)
    expect(g.check(key(1), nonce(1), T0, T0, sigA)).toBe('ok')
    expect(g.check(key(1), nonce(1), T0, T0 + 5, sigA)).toBe('retry')
    expect(g.check(key(1), nonce(1), T0, T0 + 5, sigB)).toBe('replayed')
    // Without a tag there is no way to tell, so it is refused.
    expect(g.check(key(1), nonce(1), T0, T0 + 5)).toBe('replayed')
  })

  it('keeps its cap, evicting the oldest, and still refuses an evicted pair inside the window', () => {
    const g = new ReplayGuard({ maxEntries: 3 })
    for (let i = 0; i < 5; i++) expect(g.check(key(1), nonce(i), T0 + i, T0 + i)).toBe('ok')
    expect(g.size).toBe(3)
    // nonce(0) and nonce(1) were evicted; replaying them must not succeed.
    expect(g.check(key(1), nonce(0), T0, T0 + 10)).toBe('replayed')
    expect(g.check(key(1), nonce(1), T0 + 1, T0 + 10)).toBe('replayed')
    // A newer message is still fine.
    expect(g.check(key(1), nonce(9), T0 + 10, T0 + 10)).toBe('ok')
  })

  it('does not let future-dated entries lock out current clocks after eviction', () => {
    const g = new ReplayGuard({ maxEntries: 2 })
    expect(g.check(key(1), nonce(1), T0 + 50_000, T0)).toBe('ok')
    expect(g.check(key(1), nonce(2), T0 + 50_000, T0)).toBe('ok')
    expect(g.check(key(1), nonce(3), T0 + 50_000, T0)).toBe('ok') // evicts nonce(1)
    expect(g.check(key(2), nonce(1), T0 + 1, T0 + 1)).toBe('ok')
  })

  it('rejects nonsense options', () => {
    expect(() => new ReplayGuard({ windowMs: 0 })).toThrow(RangeError)
    expect(() => new ReplayGuard({ maxEntries: 0 })).toThrow(RangeError)
  })
})
