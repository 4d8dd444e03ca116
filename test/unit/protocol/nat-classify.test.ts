// NAT classification from broker observations: mapping behaviour and allocation pattern.
import { describe, expect, it } from 'vitest'
import { classifyNat, type NatObservation } from '../../../protocol/nat-classify.js'

const s1 = { host: '203.0.113.1', port: 7000 }
const s2 = { host: '198.51.100.1', port: 7001 }
const wan = '203.0.113.10'
const obs = (server: { host: string; port: number }, port: number, at: number, localPort = 40000, host = wan): NatObservation => ({ server, localPort, observed: { host, port }, at })

describe('NAT classification', () => {
  it('knows nothing without observations, and only the allocation of a kept port from one', () => {
    expect(classifyNat([], [])).toEqual({ mapping: 'unknown', allocation: 'unknown' })
    expect(classifyNat([obs(s1, 40000, 1)], ['10.0.1.2'])).toEqual({ mapping: 'unknown', allocation: 'port-preserving' })
    expect(classifyNat([obs(s1, 51234, 1)], ['10.0.1.2'])).toEqual({ mapping: 'unknown', allocation: 'unknown' })
  })

  it('an observed address that is one of ours means no NAT', () => {
    expect(classifyNat([obs(s1, 40000, 1, 40000, '203.0.113.50'), obs(s2, 40000, 2, 40000, '203.0.113.50')], ['203.0.113.50'])).toEqual({ mapping: 'none', allocation: 'none' })
    expect(classifyNat([obs(s1, 40000, 1, 40000, '127.0.0.1')], [])).toEqual({ mapping: 'none', allocation: 'none' })
  })

  it('the same mapping toward two broker addresses is endpoint-independent; the kept local port is port-preserving', () => {
    expect(classifyNat([obs(s1, 40000, 1), obs(s2, 40000, 2)], ['10.0.1.2'])).toEqual({ mapping: 'endpoint-independent', allocation: 'port-preserving' })
    expect(classifyNat([obs(s1, 61000, 1), obs(s2, 61000, 2)], ['10.0.1.2'])).toEqual({ mapping: 'endpoint-independent', allocation: 'unknown' })
  })

  it('a new port per destination is endpoint-dependent: small steps up in creation order are sequential, others random', () => {
    expect(classifyNat([obs(s2, 40003, 20), obs(s1, 40002, 10)], [])).toEqual({ mapping: 'endpoint-dependent', allocation: 'sequential' })
    expect(classifyNat([obs(s1, 33017, 1), obs(s2, 58412, 2)], [])).toEqual({ mapping: 'endpoint-dependent', allocation: 'random' })
    // Downwards, or a jump, is not a counter.
    expect(classifyNat([obs(s1, 40003, 1), obs(s2, 40002, 2)], []).allocation).toBe('random')
    expect(classifyNat([obs(s1, 40000, 1), obs(s2, 40100, 2)], []).allocation).toBe('random')
  })

  it('uses the newest mapping each broker address reported (a NAT that re-mapped)', () => {
    const o = [obs(s1, 40000, 1), obs(s2, 40000, 2), obs(s1, 22222, 3)]
    expect(classifyNat(o, []).mapping).toBe('endpoint-dependent')
  })
})
