import { describe, expect, it } from 'vitest'
import { Counters } from '../../../broker/counters.js'
import { Registry, type Send, type Source } from '../../../broker/registry.js'
import { keyPairFromSeed, keyToHex, type KeyPair } from '../../../protocol/identity.js'
import { BrokerErrorCode, decodeMessage, encodeMessage, encodeSigned, type Introduce, type NatMapping, type WireMessage } from '../../../protocol/wire.js'

const T0 = 1_700_000_000_000
const alice = keyPairFromSeed(new Uint8Array(32).fill(1))
const bob = keyPairFromSeed(new Uint8Array(32).fill(2))
const carol = keyPairFromSeed(new Uint8Array(32).fill(3))
const A: Source = { listener: 0, host: '198.51.100.1', port: 40001 }
const B: Source = { listener: 1, host: '::ffff:203.0.113.7', port: 50002 }
const STRANGER: Source = { listener: 0, host: '192.0.2.99', port: 9999 }

let nonceCounter = 0
function nonce(): Uint8Array {
  const n = new Uint8Array(16)
  new DataView(n.buffer).setUint32(0, ++nonceCounter)
  return n
}

function register(kp: KeyPair, name: string, at: number, opts: { reqId?: number; nonce?: Uint8Array; hosts?: { host: string; port: number }[]; nat?: NatMapping } = {}): Uint8Array {
  const hosts = (opts.hosts ?? [{ host: '10.0.0.5', port: 4000 }]).map((h) => ({ ...h, family: 4 as const }))
  return encodeSigned({ type: 'register', reqId: opts.reqId ?? 1, key: kp.publicKey, name, timestamp: at, nonce: opts.nonce ?? nonce(), hosts, nat: opts.nat ?? 'unknown', sig: new Uint8Array(64) }, kp.secretKey)
}

function connect(kp: KeyPair, target: Uint8Array | string, at: number, reqId = 7): Uint8Array {
  return encodeSigned({ type: 'connect', reqId, key: kp.publicKey, target, timestamp: at, nonce: nonce(), sig: new Uint8Array(64) }, kp.secretKey)
}

function unregister(kp: KeyPair, at: number): Uint8Array {
  return encodeSigned({ type: 'unregister', reqId: 3, key: kp.publicKey, timestamp: at, nonce: nonce(), sig: new Uint8Array(64) }, kp.secretKey)
}

function setup(opts: { leaseS?: number; names?: [string, string][]; relay?: boolean } = {}): { reg: Registry; counters: Counters; nonces: Uint8Array[] } {
  const counters = new Counters()
  const nonces: Uint8Array[] = []
  let n = 0
  const random = (len: number): Uint8Array => {
    const b = new Uint8Array(len).fill(++n)
    nonces.push(b)
    return b
  }
  return { reg: new Registry({ random, counters, leaseS: opts.leaseS ?? 90, names: opts.names, relay: opts.relay ?? false }), counters, nonces }
}

function only(sends: Send[]): WireMessage {
  expect(sends).toHaveLength(1)
  // What is sent is exactly what was decided.
  expect(decodeMessage(sends[0]!.bytes)).toEqual(sends[0]!.message)
  return sends[0]!.message
}

function errorCode(sends: Send[]): number | undefined {
  const m = only(sends)
  return m.type === 'error' ? m.code : undefined
}

function relayRequest(kp: KeyPair, peer: KeyPair, punchNonce: Uint8Array, at: number, reqId = 21): Uint8Array {
  return encodeSigned({ type: 'relayRequest', reqId, key: kp.publicKey, peerKey: peer.publicKey, punchNonce, timestamp: at, nonce: nonce(), sig: new Uint8Array(64) }, kp.secretKey)
}

describe('Registry: REGISTER', () => {
  it('registers, reflects the observed address (IPv4-mapped normalized) and grants the lease', () => {
    const { reg } = setup({ leaseS: 30 })
    const out = reg.handle(register(bob, 'bob', T0, { reqId: 42 }), B, T0)
    expect(out.namesChanged).toBe(true)
    expect(out.sends[0]).toMatchObject({ listener: 1, host: B.host, port: B.port })
    expect(only(out.sends)).toEqual({ type: 'registered', reqId: 42, observed: { host: '203.0.113.7', family: 4, port: 50002 }, leaseS: 30 })
    expect(reg.lookup(bob.publicKey, T0)?.name).toBe('bob')
    expect(reg.nameTable()).toEqual({ bob: keyToHex(bob.publicKey) })
  })

  it('refuses a bad signature, a stale timestamp and a reused nonce with different content', () => {
    const { reg, counters } = setup()
    const forged = register(alice, 'alice', T0)
    forged[10] = forged[10]! ^ 1
    expect(errorCode(reg.handle(forged, A, T0).sends)).toBe(BrokerErrorCode.BAD_SIGNATURE)
    expect(errorCode(reg.handle(register(alice, 'alice', T0 - 61_000), A, T0).sends)).toBe(BrokerErrorCode.REPLAYED)
    expect(errorCode(reg.handle(register(alice, 'alice', T0 + 61_000), A, T0).sends)).toBe(BrokerErrorCode.REPLAYED)
    const n = nonce()
    expect(only(reg.handle(register(alice, 'alice', T0, { nonce: n }), A, T0).sends).type).toBe('registered')
    expect(errorCode(reg.handle(register(alice, 'alice', T0, { nonce: n, reqId: 2 }), A, T0 + 1).sends)).toBe(BrokerErrorCode.REPLAYED)
    expect(counters.refusedFor('REPLAYED')).toBe(3)
    expect(counters.refusedFor('BAD_SIGNATURE')).toBe(1)
  })

  it('answers an identical retry again, but not when it comes from another address', () => {
    const { reg } = setup()
    const dg = register(alice, 'alice', T0)
    expect(only(reg.handle(dg, A, T0).sends).type).toBe('registered')
    expect(only(reg.handle(dg, A, T0 + 500).sends)).toMatchObject({ type: 'registered', observed: { host: A.host, port: A.port } })
    expect(errorCode(reg.handle(dg, STRANGER, T0 + 600).sends)).toBe(BrokerErrorCode.REPLAYED)
    expect(reg.lookup(alice.publicKey, T0 + 600)?.observed.host).toBe(A.host)
  })

  it('binds names first-come, forever, and refuses them to another key', () => {
    const { reg, counters } = setup({ leaseS: 1 })
    reg.handle(register(bob, 'bob', T0), B, T0)
    const refused = only(reg.handle(register(carol, 'bob', T0), A, T0).sends)
    expect(refused).toEqual({ type: 'error', reqId: 1, code: BrokerErrorCode.NAME_TAKEN, message: 'name bob is taken by another key' })
    // Still taken after bob's lease is gone and after bob unregisters.
    reg.handle(unregister(bob, T0 + 5000), B, T0 + 5000)
    expect(reg.sweep(T0 + 5000)).toBe(0)
    expect(errorCode(reg.handle(register(carol, 'bob', T0 + 5000), A, T0 + 5000).sends)).toBe(BrokerErrorCode.NAME_TAKEN)
    // The owner may take it back.
    expect(only(reg.handle(register(bob, 'bob', T0 + 6000), B, T0 + 6000).sends).type).toBe('registered')
    expect(counters.refusedFor('NAME_TAKEN')).toBe(2)
  })

  it('honours names restored from disk', () => {
    const { reg } = setup({ names: [['bob', keyToHex(bob.publicKey)]] })
    expect(errorCode(reg.handle(register(carol, 'bob', T0), A, T0).sends)).toBe(BrokerErrorCode.NAME_TAKEN)
    const out = reg.handle(register(bob, 'bob', T0), B, T0)
    expect(only(out.sends).type).toBe('registered')
    expect(out.namesChanged).toBe(false)
  })

  it('accepts anonymous registrations and refuses invalid names with a reason', () => {
    const { reg } = setup()
    const anon = reg.handle(register(alice, '', T0), A, T0)
    expect(only(anon.sends).type).toBe('registered')
    expect(anon.namesChanged).toBe(false)
    const bad = only(reg.handle(register(carol, 'Carol', T0), A, T0).sends)
    expect(bad).toMatchObject({ type: 'error', code: BrokerErrorCode.BAD_REQUEST })
    expect(bad.type === 'error' && bad.message).toMatch(/lowercase/)
  })

  it('moves a registration at once when the observed address changes', () => {
    const { reg } = setup()
    reg.handle(register(alice, 'alice', T0), A, T0)
    const moved: Source = { listener: 0, host: '198.51.100.1', port: 40999 }
    expect(only(reg.handle(register(alice, 'alice', T0 + 1), moved, T0 + 1).sends)).toMatchObject({ observed: { port: 40999 } })
    expect(reg.lookup(alice.publicKey, T0 + 1)?.observed.port).toBe(40999)
    expect(reg.isRegisteredAddress(A.host, A.port, T0 + 1)).toBe(false)
    expect(reg.isRegisteredAddress(moved.host, moved.port, T0 + 1)).toBe(true)
  })
})

describe('Registry: leases', () => {
  it('expires a registration at now + lease unless refreshed, and the sweep drops it', () => {
    const { reg } = setup({ leaseS: 10 })
    reg.handle(register(alice, 'alice', T0), A, T0)
    reg.handle(register(bob, 'bob', T0), B, T0)
    reg.handle(register(bob, 'bob', T0 + 8000), B, T0 + 8000) // refresh
    expect(reg.liveCount(T0 + 9999)).toBe(2)
    expect(reg.lookup(alice.publicKey, T0 + 10_000)).toBeUndefined()
    expect(reg.sweep(T0 + 10_000)).toBe(1)
    expect(reg.lookup(bob.publicKey, T0 + 17_999)).toBeDefined()
    expect(reg.sweep(T0 + 18_000)).toBe(1)
    expect(reg.liveCount(T0 + 18_000)).toBe(0)
    // An expired peer cannot be introduced.
    reg.handle(register(carol, 'carol', T0 + 18_000), A, T0 + 18_000)
    expect(errorCode(reg.handle(connect(carol, 'bob', T0 + 18_000), A, T0 + 18_000).sends)).toBe(BrokerErrorCode.UNKNOWN_PEER)
  })

  it('drops a registration on UNREGISTER, and a retried UNREGISTER does not drop a newer one', () => {
    const { reg } = setup()
    reg.handle(register(alice, 'alice', T0), A, T0)
    const bye = unregister(alice, T0 + 1)
    expect(reg.handle(bye, A, T0 + 1).sends).toEqual([])
    expect(reg.lookup(alice.publicKey, T0 + 1)).toBeUndefined()
    reg.handle(register(alice, 'alice', T0 + 2), A, T0 + 2)
    reg.handle(bye, A, T0 + 3)
    expect(reg.lookup(alice.publicKey, T0 + 3)).toBeDefined()
  })
})

describe('Registry: CONNECT', () => {
  function twoPeers(): ReturnType<typeof setup> {
    const s = setup()
    s.reg.handle(register(alice, 'alice', T0, { hosts: [{ host: '10.0.0.1', port: 1111 }], nat: 'endpoint-dependent' }), A, T0)
    s.reg.handle(register(bob, 'bob', T0, { hosts: [{ host: '10.0.0.2', port: 2222 }, { host: '203.0.113.7', port: 50002 }], nat: 'none' }), B, T0)
    return s
  }

  it('introduces both sides with the same punch nonce and each other\'s candidates, observed first', () => {
    const { reg, counters, nonces } = twoPeers()
    const out = reg.handle(connect(alice, 'bob', T0 + 100, 9), A, T0 + 100)
    expect(out.sends).toHaveLength(2)
    const [toBob, toAlice] = out.sends as [Send, Send]
    expect(toBob).toMatchObject({ listener: 1, host: B.host, port: B.port })
    expect(toAlice).toMatchObject({ listener: 0, host: A.host, port: A.port })
    const ib = toBob.message as Introduce
    const ia = toAlice.message as Introduce
    expect(ib).toMatchObject({ type: 'introduce', reqId: 0, peerKey: alice.publicKey, peerName: 'alice', requester: false, peerNat: 'endpoint-dependent' })
    expect(ia).toMatchObject({ type: 'introduce', reqId: 9, peerKey: bob.publicKey, peerName: 'bob', requester: true, peerNat: 'none' })
    expect(ib.punchNonce).toEqual(nonces[0])
    expect(ia.punchNonce).toEqual(ib.punchNonce)
    expect(ib.candidates).toEqual([{ host: A.host, family: 4, port: A.port }, { host: '10.0.0.1', family: 4, port: 1111 }])
    // bob's announced public host equals his observed address: listed once.
    expect(ia.candidates).toEqual([{ host: '203.0.113.7', family: 4, port: 50002 }, { host: '10.0.0.2', family: 4, port: 2222 }])
    expect(counters.introductions).toBe(1)
  })

  it('resolves by key as well as by name', () => {
    const { reg } = twoPeers()
    const out = reg.handle(connect(bob, alice.publicKey, T0), B, T0)
    expect((out.sends[1]!.message as Introduce).peerName).toBe('alice')
  })

  it('reuses the punch nonce only for an identical retry within 10 s', () => {
    const { reg, counters } = twoPeers()
    const dg = connect(alice, 'bob', T0, 5)
    const first = reg.handle(dg, A, T0)
    // The identical datagram again (reply lost) is answered, not refused as a replay.
    const again = reg.handle(dg, A, T0 + 2000)
    expect(again.sends).toHaveLength(2)
    expect((again.sends[0]!.message as Introduce).punchNonce).toEqual((first.sends[0]!.message as Introduce).punchNonce)
    // A fresh request that reuses the reqId (a restarted daemon) is a new introduction.
    const fresh = reg.handle(connect(alice, 'bob', T0 + 9000, 5), A, T0 + 9000)
    expect((fresh.sends[1]!.message as Introduce).punchNonce).not.toEqual((first.sends[1]!.message as Introduce).punchNonce)
    expect(counters.introductions).toBe(2)
  })

  it('refuses an unregistered requester and an unknown target', () => {
    const { reg } = twoPeers()
    expect(errorCode(reg.handle(connect(carol, 'bob', T0), STRANGER, T0).sends)).toBe(BrokerErrorCode.NOT_REGISTERED)
    const unknown = only(reg.handle(connect(alice, 'dave', T0), A, T0).sends)
    expect(unknown).toEqual({ type: 'error', reqId: 7, code: BrokerErrorCode.UNKNOWN_PEER, message: 'no peer dave is registered' })
    expect(errorCode(reg.handle(connect(alice, carol.publicKey, T0), A, T0).sends)).toBe(BrokerErrorCode.UNKNOWN_PEER)
    expect(errorCode(reg.handle(connect(alice, '', T0), A, T0).sends)).toBe(BrokerErrorCode.UNKNOWN_PEER)
    expect(errorCode(reg.handle(connect(alice, 'alice', T0), A, T0).sends)).toBe(BrokerErrorCode.BAD_REQUEST)
  })
})

describe('Registry: hostile input', () => {
  it('drops garbage and types it does not serve, counting them by reason', () => {
    const { reg, counters } = setup()
    expect(reg.handle(new Uint8Array([1, 2, 3, 4]), A, T0).sends).toEqual([])
    expect(reg.handle(new Uint8Array([0x50, 1]), A, T0).sends).toEqual([])
    expect(reg.handle(new Uint8Array([0x50, 9, 1]), A, T0).sends).toEqual([])
    expect(reg.handle(new Uint8Array([0x50, 1, 99]), A, T0).sends).toEqual([])
    const err = encodeMessage({ type: 'error', reqId: 1, code: 1, message: 'x' })
    expect(reg.handle(err, A, T0).sends).toEqual([])
    expect(counters.droppedFor('BAD_MAGIC')).toBe(1)
    expect(counters.droppedFor('TRUNCATED')).toBe(1)
    expect(counters.droppedFor('BAD_VERSION')).toBe(1)
    expect(counters.droppedFor('BAD_TYPE')).toBe(1)
    expect(counters.droppedFor('NOT_SERVED')).toBe(1)
  })

  it('never answers an unverified address with more bytes than it sent', () => {
    const { reg, counters } = setup()
    reg.handle(register(alice, 'alice', T0, { hosts: Array.from({ length: 16 }, (_, i) => ({ host: `10.0.0.${i + 1}`, port: 1000 + i })) }), A, T0)
    reg.handle(register(bob, 'bob', T0, { hosts: Array.from({ length: 16 }, (_, i) => ({ host: `10.1.0.${i + 1}`, port: 2000 + i })) }), B, T0)
    // A captured CONNECT of alice's, replayed from a spoofed source: the big INTRODUCE must not
    // reach the spoofed address (bob, registered, still gets his).
    const out = reg.handle(connect(alice, 'bob', T0), STRANGER, T0)
    expect(out.sends.map((s) => s.host)).toEqual([B.host])
    expect(counters.droppedFor('AMPLIFICATION')).toBe(1)
  })

  it('caps registrations and names without binding a name it then refuses', () => {
    const counters = new Counters()
    const reg = new Registry({ random: (n) => new Uint8Array(n), counters, leaseS: 10, maxRegistrations: 1, maxNames: 2 })
    expect(only(reg.handle(register(alice, 'alice', T0), A, T0).sends).type).toBe('registered')
    const full = only(reg.handle(register(bob, 'bob', T0), B, T0).sends)
    expect(full).toMatchObject({ type: 'error', code: BrokerErrorCode.BAD_REQUEST, message: 'broker is full; try later' })
    expect(reg.nameTable()).toEqual({ alice: keyToHex(alice.publicKey) })
    // Once alice's lease is over there is room again.
    expect(only(reg.handle(register(bob, 'bob', T0 + 10_000), B, T0 + 10_000).sends).type).toBe('registered')
    expect(errorCode(reg.handle(register(carol, 'carol', T0 + 20_000), A, T0 + 20_000).sends)).toBe(BrokerErrorCode.BAD_REQUEST)
    expect(reg.nameCount).toBe(2)
  })

  it('survives thousands of random and mutated datagrams', () => {
    const { reg } = setup()
    let seed = 12345
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32
    const valid = [register(alice, 'alice', T0), connect(alice, 'bob', T0), unregister(bob, T0)]
    for (let i = 0; i < 5000; i++) {
      let dg: Uint8Array
      if (i % 2 === 0) {
        dg = new Uint8Array(Math.floor(rnd() * 300))
        for (let j = 0; j < dg.length; j++) dg[j] = Math.floor(rnd() * 256)
        if (dg.length > 2 && rnd() < 0.7) dg.set([0x50, 1, 1 + Math.floor(rnd() * 8)])
      } else {
        dg = valid[i % valid.length]!.slice()
        dg[Math.floor(rnd() * dg.length)] = Math.floor(rnd() * 256)
        if (rnd() < 0.3) dg = dg.subarray(0, Math.floor(rnd() * dg.length))
      }
      const out = reg.handle(dg, STRANGER, T0)
      for (const s of out.sends) expect(s.bytes.length).toBeLessThanOrEqual(dg.length)
    }
  })
})

describe('Registry: RELAY_REQUEST', () => {
  function introduced(relay = true): { reg: Registry; punchNonce: Uint8Array } {
    const { reg } = setup({ relay })
    reg.handle(register(alice, 'alice', T0), A, T0)
    reg.handle(register(bob, 'bob', T0), B, T0)
    reg.handle(register(carol, 'carol', T0), STRANGER, T0)
    const intro = only(reg.handle(connect(alice, 'bob', T0), A, T0).sends.slice(1)) as Introduce
    return { reg, punchNonce: intro.punchNonce }
  }

  it('hands a valid request for an introduction it made to the relay, from either side of the pair', () => {
    const { reg, punchNonce } = introduced()
    for (const [kp, peer, from] of [[alice, bob, A], [bob, alice, B]] as const) {
      const out = reg.handle(relayRequest(kp, peer, punchNonce, T0 + 1), from, T0 + 1)
      expect(out.sends).toEqual([])
      expect(out.relay).toMatchObject({ reqId: 21, punchNonce, from })
      expect(keyToHex(out.relay!.requester.key)).toBe(keyToHex(kp.publicKey))
      expect(keyToHex(out.relay!.peer.key)).toBe(keyToHex(peer.publicKey))
    }
  })

  it('refuses when relaying is off, for strangers to the introduction, unknown nonces, bad signatures and replays', () => {
    const off = introduced(false)
    expect(errorCode(off.reg.handle(relayRequest(alice, bob, off.punchNonce, T0), A, T0).sends)).toBe(BrokerErrorCode.RELAY_UNAVAILABLE)
    const { reg, punchNonce } = introduced()
    expect(errorCode(reg.handle(relayRequest(carol, bob, punchNonce, T0), STRANGER, T0).sends)).toBe(BrokerErrorCode.BAD_REQUEST)
    expect(errorCode(reg.handle(relayRequest(alice, carol, punchNonce, T0), A, T0).sends)).toBe(BrokerErrorCode.BAD_REQUEST)
    expect(errorCode(reg.handle(relayRequest(alice, alice, punchNonce, T0), A, T0).sends)).toBe(BrokerErrorCode.BAD_REQUEST)
    expect(errorCode(reg.handle(relayRequest(alice, bob, new Uint8Array(32).fill(0xee), T0), A, T0).sends)).toBe(BrokerErrorCode.BAD_REQUEST)
    const forged = relayRequest(alice, bob, punchNonce, T0)
    forged[forged.length - 1]! ^= 1
    expect(errorCode(reg.handle(forged, A, T0).sends)).toBe(BrokerErrorCode.BAD_SIGNATURE)
    expect(errorCode(reg.handle(relayRequest(alice, bob, punchNonce, T0 - 120_000), A, T0).sends)).toBe(BrokerErrorCode.REPLAYED)
    const unknownPeer = keyPairFromSeed(new Uint8Array(32).fill(9))
    expect(errorCode(reg.handle(relayRequest(alice, unknownPeer, punchNonce, T0), A, T0).sends)).toBe(BrokerErrorCode.UNKNOWN_PEER)
    expect(errorCode(reg.handle(relayRequest(unknownPeer, bob, punchNonce, T0), STRANGER, T0).sends)).toBe(BrokerErrorCode.NOT_REGISTERED)
  })

  it('forgets introductions after two minutes', () => {
    const { reg, punchNonce } = introduced()
    reg.handle(register(alice, 'alice', T0 + 119_000), A, T0 + 119_000)
    reg.handle(register(bob, 'bob', T0 + 119_000), B, T0 + 119_000)
    reg.sweep(T0 + 119_000)
    expect(reg.handle(relayRequest(alice, bob, punchNonce, T0 + 119_000), A, T0 + 119_000).relay).toBeDefined()
    reg.sweep(T0 + 121_000)
    expect(errorCode(reg.handle(relayRequest(alice, bob, punchNonce, T0 + 121_000), A, T0 + 121_000).sends)).toBe(BrokerErrorCode.BAD_REQUEST)
  })
})

function registerEndpoint(kp: KeyPair, at: number, reqId = 31): Uint8Array {
  return encodeSigned({ type: 'registerEndpoint', reqId, key: kp.publicKey, timestamp: at, nonce: nonce(), sig: new Uint8Array(64) }, kp.secretKey)
}

describe('Registry: REGISTER_ENDPOINT (a second uplink)', () => {
  const A2: Source = { listener: 0, host: '198.51.100.77', port: 41000 }
  const introOf = (reg: Registry, at: number): Introduce => {
    const m = reg.handle(connect(bob, 'alice', at), B, at).sends.map((s) => s.message).find((x) => x.type === 'introduce' && x.requester)
    return m as Introduce
  }

  it('adds where it came from to the registration: introductions carry it after the observed address, before the host ones', () => {
    const { reg } = setup({ leaseS: 30 })
    reg.handle(register(alice, 'alice', T0), A, T0)
    reg.handle(register(bob, 'bob', T0), B, T0)
    expect(only(reg.handle(registerEndpoint(alice, T0, 77), A2, T0).sends)).toEqual({ type: 'registered', reqId: 77, observed: { host: A2.host, family: 4, port: A2.port }, leaseS: 30 })
    expect(introOf(reg, T0 + 1).candidates.map((c) => `${c.host}:${c.port}`)).toEqual(['198.51.100.1:40001', '198.51.100.77:41000', '10.0.0.5:4000'])
  })

  it('survives a re-registration from a new address, expires with its own lease, and keeps at most 4', () => {
    const { reg } = setup({ leaseS: 30 })
    reg.handle(register(alice, 'alice', T0), A, T0)
    reg.handle(register(bob, 'bob', T0), B, T0)
    reg.handle(registerEndpoint(alice, T0), A2, T0)
    reg.handle(register(alice, 'alice', T0 + 20_000), { ...A, port: 40002 }, T0 + 20_000)
    reg.handle(register(bob, 'bob', T0 + 20_000), B, T0 + 20_000)
    expect(introOf(reg, T0 + 20_001).candidates.map((c) => c.port)).toEqual([40002, 41000, 4000])
    expect(introOf(reg, T0 + 31_000).candidates.map((c) => c.port)).toEqual([40002, 4000])
    for (let i = 0; i < 6; i++) reg.handle(registerEndpoint(alice, T0 + 32_000), { ...A2, port: 42000 + i }, T0 + 32_000)
    expect(introOf(reg, T0 + 32_001).candidates.map((c) => c.port)).toEqual([40002, 42002, 42003, 42004, 42005, 4000])
  })

  it('refuses an unregistered key and a bad signature, and never adds the main address twice', () => {
    const { reg } = setup()
    expect(errorCode(reg.handle(registerEndpoint(alice, T0), A2, T0).sends)).toBe(BrokerErrorCode.NOT_REGISTERED)
    reg.handle(register(alice, 'alice', T0), A, T0)
    const forged = registerEndpoint(alice, T0)
    forged[9] = forged[9]! ^ 1
    expect(errorCode(reg.handle(forged, A2, T0).sends)).toBe(BrokerErrorCode.BAD_SIGNATURE)
    reg.handle(registerEndpoint(alice, T0), A, T0)
    reg.handle(register(bob, 'bob', T0), B, T0)
    expect(introOf(reg, T0 + 1).candidates.map((c) => c.port)).toEqual([40001, 4000])
  })
})
