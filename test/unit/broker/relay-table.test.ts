// Relay allocations and quotas on a fake clock: no sockets, no timers.
import { describe, expect, it } from 'vitest'
import { RelayTable, type RelayLimits } from '../../../broker/relay-table.js'

const limits: RelayLimits = { rateBytesPerS: 1_000_000, lifetimeS: 100, idleS: 10, maxTotal: 3, maxPerKey: 2 }
const A = { host: '203.0.113.10', port: 4000 }
const B = { host: '203.0.113.11', port: 5000 }

function bound(t = new RelayTable(limits), id = 'n1'): RelayTable {
  expect(t.reserve(id, 'ka', 'kb', 0, 0)).toMatchObject({ ok: true, fresh: true })
  expect(t.bind(id, 'ka', A, 0)).toEqual({ ok: true, peerBound: false })
  expect(t.bind(id, 'kb', B, 0)).toEqual({ ok: true, peerBound: true })
  return t
}

describe('relay table', () => {
  it('makes one allocation per punch nonce: the second side gets the same one, in either key order', () => {
    const t = new RelayTable(limits)
    const first = t.reserve('n1', 'ka', 'kb', 1, 0)
    const second = t.reserve('n1', 'kb', 'ka', 0, 5)
    expect(first.ok && second.ok && first.alloc === second.alloc).toBe(true)
    expect(second).toMatchObject({ ok: true, fresh: false })
    expect(t.size).toBe(1)
    expect(t.reserve('n1', 'ka', 'kc', 0, 5)).toEqual({ ok: false, reason: expect.stringContaining('other peers') })
  })

  it('forwards only between the two bound addresses, and only once both are bound', () => {
    const t = new RelayTable(limits)
    t.reserve('n1', 'ka', 'kb', 0, 0)
    expect(t.route('n1', A, 100, 1)).toEqual({ drop: 'UNBOUND_SOURCE' })
    t.bind('n1', 'ka', A, 1)
    expect(t.route('n1', A, 100, 2)).toEqual({ drop: 'PEER_UNBOUND' })
    t.bind('n1', 'kb', B, 2)
    expect(t.route('n1', A, 100, 3)).toEqual({ to: B })
    expect(t.route('n1', B, 100, 3)).toEqual({ to: A })
    expect(t.route('n1', { host: A.host, port: 4001 }, 100, 3)).toEqual({ drop: 'UNBOUND_SOURCE' })
    expect(t.route('n1', { host: '198.51.100.9', port: 4000 }, 100, 3)).toEqual({ drop: 'UNBOUND_SOURCE' })
    expect(t.route('nope', A, 100, 3)).toEqual({ drop: 'EXPIRED' })
    expect(t.get('n1')).toMatchObject({ bytes: 200, packets: 2 })
  })

  it('a new bind moves a side (its NAT mapping changed); keys outside the pair cannot bind', () => {
    const t = bound()
    const moved = { host: '203.0.113.10', port: 4444 }
    expect(t.bind('n1', 'ka', moved, 1)).toEqual({ ok: true, peerBound: true })
    expect(t.route('n1', A, 10, 1)).toEqual({ drop: 'UNBOUND_SOURCE' })
    expect(t.route('n1', B, 10, 1)).toEqual({ to: moved })
    expect(t.bind('n1', 'kx', A, 1)).toEqual({ ok: false, reason: expect.stringContaining('not part') })
    expect(t.bind('n2', 'ka', A, 1)).toMatchObject({ ok: false })
  })

  it('caps each direction at the byte rate, with a second of burst, refilling with time', () => {
    const t = bound()
    // 1 000 000 bytes of burst at 1 MB/s.
    let sent = 0
    while ('to' in t.route('n1', A, 1000, 0)) sent += 1000
    expect(sent).toBe(1_000_000)
    expect(t.route('n1', A, 1000, 0)).toEqual({ drop: 'OVER_RATE' })
    // The other direction has its own bucket.
    expect(t.route('n1', B, 1000, 0)).toEqual({ to: A })
    // 10 ms later: 10 000 bytes more.
    let later = 0
    while ('to' in t.route('n1', A, 1000, 10)) later += 1000
    expect(later).toBe(10_000)
    // A clock stepping back mints nothing.
    expect(t.route('n1', A, 1000, 5)).toEqual({ drop: 'OVER_RATE' })
  })

  it('rate 0 means no cap', () => {
    const t = bound(new RelayTable({ ...limits, rateBytesPerS: 0 }))
    for (let i = 0; i < 10_000; i++) expect(t.route('n1', A, 1400, 0)).toEqual({ to: B })
  })

  it('ends an allocation at its lifetime, or when idle, whichever comes first; traffic keeps it from idling', () => {
    const t = bound()
    for (let now = 5_000; now < 100_000; now += 5_000) {
      expect(t.route('n1', A, 1, now)).toEqual({ to: B })
      expect(t.sweep(now)).toEqual([])
    }
    expect(t.sweep(100_000).map((a) => a.id)).toEqual(['n1'])
    expect(t.size).toBe(0)
    const idle = bound()
    expect(idle.sweep(9_999)).toEqual([])
    expect(idle.sweep(10_000).map((a) => a.id)).toEqual(['n1'])
    // Past the lifetime, nothing is forwarded even before the sweep runs.
    const late = bound()
    expect(late.route('n1', A, 1, 100_000)).toEqual({ drop: 'EXPIRED' })
    expect(late.reserve('n1', 'ka', 'kb', 0, 100_000)).toMatchObject({ ok: false })
  })

  it('caps allocations per key and in total, and frees the quota when an allocation ends', () => {
    const t = new RelayTable(limits)
    expect(t.reserve('n1', 'ka', 'kb', 0, 0).ok).toBe(true)
    expect(t.reserve('n2', 'ka', 'kc', 0, 0).ok).toBe(true)
    expect(t.reserve('n3', 'ka', 'kd', 0, 0)).toEqual({ ok: false, reason: expect.stringContaining('already has 2') })
    expect(t.reserve('n3', 'kd', 'ka', 0, 0)).toMatchObject({ ok: false })
    expect(t.reserve('n3', 'ke', 'kf', 0, 0).ok).toBe(true)
    expect(t.reserve('n4', 'kg', 'kh', 0, 0)).toEqual({ ok: false, reason: expect.stringContaining('full (3') })
    t.remove('n1')
    expect(t.reserve('n4', 'ka', 'kd', 0, 1).ok).toBe(true)
    t.remove('nope')
    expect(t.size).toBe(3)
  })
})
