// Path probes reach a session's monitor only with one of its nonces and its peer's signature;
// everything else is dropped and counted, within a verification budget.
import { describe, expect, it } from 'vitest'
import type { UDXSocket } from 'udx-native'
import { decodeMessage, encodeSigned, type Probe, type ProbeAck } from '../../../protocol/wire.js'
import { keyPairFromSeed, keyToHex } from '../../../protocol/identity.js'
import { Counters } from '../../../daemon/counters.js'
import { PathRoutes } from '../../../daemon/path-routes.js'
import type { PathMonitor } from '../../../daemon/path-monitor.js'

const peer = keyPairFromSeed(new Uint8Array(32).fill(1))
const stranger = keyPairFromSeed(new Uint8Array(32).fill(2))
const nonce = new Uint8Array(32).fill(7)
const from = { host: '203.0.113.9', port: 4000 }
const socket = {} as UDXSocket

function probe(signer = peer, punchNonce = nonce, type: 'probe' | 'probeAck' = 'probe'): { msg: Probe | ProbeAck; raw: Uint8Array } {
  const raw = encodeSigned({ type, punchNonce, key: signer.publicKey, streamId: 0, seq: 5, addr: { host: '198.51.100.2', port: 5000, family: 4 }, sig: new Uint8Array(64) }, signer.secretKey)
  return { msg: decodeMessage(raw) as Probe | ProbeAck, raw }
}

function setup(): { routes: PathRoutes; counters: Counters; got: { use: 'probe' | number; type: string }[]; monitor: PathMonitor } {
  const counters = new Counters()
  const routes = new PathRoutes({ counters })
  const got: { use: 'probe' | number; type: string }[] = []
  const monitor = { peerKey: peer.publicKey, onProbe: (use: 'probe' | number, msg: Probe | ProbeAck) => got.push({ use, type: msg.type }) } as unknown as PathMonitor
  routes.set(keyToHex(nonce), monitor, 3)
  return { routes, counters, got, monitor }
}

describe('path probe routing', () => {
  it('delivers a probe signed by the session\'s peer, with its nonce\'s use', () => {
    const { routes, got, counters } = setup()
    const p = probe()
    expect(routes.claim(p.msg, p.raw, from, socket)).toBe(true)
    const a = probe(peer, nonce, 'probeAck')
    expect(routes.claim(a.msg, a.raw, from, socket)).toBe(true)
    expect(got).toEqual([{ use: 3, type: 'probe' }, { use: 3, type: 'probeAck' }])
    expect(counters.get('path_probes_received')).toBe(1)
    expect(counters.get('path_probe_acks_received')).toBe(1)
  })

  it('leaves other nonces to the punch, and drops forged or tampered probes', () => {
    const { routes, got, counters } = setup()
    const other = probe(peer, new Uint8Array(32).fill(8))
    expect(routes.claim(other.msg, other.raw, from, socket)).toBe(false)
    const forged = probe(stranger)
    expect(routes.claim(forged.msg, forged.raw, from, socket)).toBe(true)
    const tampered = probe()
    tampered.raw[tampered.raw.length - 70]! ^= 1
    expect(routes.claim(tampered.msg, tampered.raw, from, socket)).toBe(true)
    expect(got).toEqual([])
    expect(counters.get('path_probes_dropped_bad_signature')).toBe(2)
  })

  it('a forgotten nonce no longer routes, and only its own monitor can forget it', () => {
    const { routes, monitor } = setup()
    const p = probe()
    routes.delete(keyToHex(nonce), {} as PathMonitor)
    expect(routes.claim(p.msg, p.raw, from, socket)).toBe(true)
    routes.delete(keyToHex(nonce), monitor)
    expect(routes.claim(p.msg, p.raw, from, socket)).toBe(false)
  })

  it('verifies within a budget: a flood with a seen nonce is dropped before any verification', () => {
    const { routes, counters } = setup()
    const forged = probe(stranger)
    for (let i = 0; i < 2_000; i++) routes.claim(forged.msg, forged.raw, from, socket)
    expect(counters.get('path_probes_dropped_rate_limited')).toBeGreaterThan(1_000)
    expect(counters.get('path_probes_dropped_bad_signature')).toBeLessThan(1_000)
  })
})
