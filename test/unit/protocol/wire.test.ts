import { createPrivateKey, createPublicKey, verify as nodeVerify } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  MAX_CANDIDATES, MAX_DATAGRAM, MAX_ERROR_TEXT, MAX_NAME, decodeMessage, encodeMessage, encodeSigned, isSignedType,
  isWireDatagram, verifySigned, type Introduce, type Register, type WireMessage,
} from '../../../protocol/wire.js'
import { codeOf, GOLDEN_PROBE, GOLDEN_PROBE_HEX, GOLDEN_REGISTER, GOLDEN_REGISTER_HEX, GOLDEN_RELAY_BIND, GOLDEN_RELAY_BIND_HEX, GOLDEN_REGISTER_ENDPOINT, GOLDEN_REGISTER_ENDPOINT_HEX, GOLDEN_RELAY_REQUEST, GOLDEN_RELAY_REQUEST_HEX, KP, KP_B, SEED, hex, sampleDatagrams, sampleMessages, seq, unhex } from './samples.js'

describe('wire round trip', () => {
  it('decodes every encoded message type to the same message, and re-encodes to the same bytes', () => {
    const types = new Set<string>()
    for (const m of sampleMessages()) {
      const bytes = encodeMessage(m)
      expect(bytes[0]).toBe(0x50)
      expect(bytes[1]).toBe(0x01)
      expect(isWireDatagram(bytes)).toBe(true)
      const back = decodeMessage(bytes)
      expect(back).toEqual(m)
      expect(hex(encodeMessage(back))).toBe(hex(bytes))
      types.add(m.type)
    }
    expect([...types].sort()).toEqual(['connect', 'error', 'introduce', 'probe', 'probeAck', 'register', 'registerEndpoint', 'registered', 'relayAllocated', 'relayBind', 'relayBound', 'relayRequest', 'unregister'])
  })

  it('gives each type its own type byte', () => {
    const byType = new Map<string, number>()
    for (const m of sampleMessages()) byType.set(m.type, encodeMessage(m)[2]!)
    expect(Object.fromEntries(byType)).toEqual({ register: 1, registered: 2, connect: 3, introduce: 4, error: 5, unregister: 6, probe: 7, probeAck: 8, relayRequest: 9, relayAllocated: 10, relayBind: 11, relayBound: 12, registerEndpoint: 13 })
  })

  it('decodes signed datagrams, and their signatures verify', () => {
    for (const d of sampleDatagrams()) {
      const m = decodeMessage(d)
      expect(isSignedType(m.type)).toBe('sig' in m)
      if ('sig' in m) expect(verifySigned(d, KP.publicKey)).toBe(true)
    }
  })

  it('accepts compressed IPv6 and returns it uncompressed, lowercase, without leading zeros', () => {
    const cases: [string, string][] = [
      ['::', '0:0:0:0:0:0:0:0'], ['::1', '0:0:0:0:0:0:0:1'], ['1::', '1:0:0:0:0:0:0:0'], ['2001:DB8::0042:1', '2001:db8:0:0:0:0:42:1'],
      ['fe80::1:2:3:4:5:6', 'fe80:0:1:2:3:4:5:6'], ['::1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'], ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ]
    for (const [input, canonical] of cases) {
      const m = decodeMessage(encodeMessage({ type: 'registered', reqId: 1, observed: { host: input, family: 6, port: 9 }, leaseS: 1 }))
      expect(m.type === 'registered' && m.observed).toEqual({ host: canonical, family: 6, port: 9 })
    }
  })

  it('keeps the largest legal messages under MAX_DATAGRAM', () => {
    const v6 = { host: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 6 as const, port: 65535 }
    const reg: Register = { ...GOLDEN_REGISTER, name: 'n'.repeat(MAX_NAME), timestamp: Number.MAX_SAFE_INTEGER, hosts: Array(MAX_CANDIDATES).fill(v6) }
    const intro: Introduce = { type: 'introduce', reqId: 1, peerKey: KP.publicKey, peerName: 'n'.repeat(MAX_NAME), candidates: Array(MAX_CANDIDATES + 1).fill(v6), punchNonce: seq(32), requester: true, peerNat: 'unknown' }
    expect(encodeMessage(reg).length).toBe(467)
    expect(encodeMessage(intro).length).toBe(430)
    expect(encodeMessage(reg).length).toBeLessThanOrEqual(MAX_DATAGRAM)
  })
})

describe('golden vectors', () => {
  it('REGISTER from the fixed seed matches byte for byte, decodes and verifies', () => {
    const bytes = encodeSigned(GOLDEN_REGISTER, KP.secretKey)
    expect(hex(bytes)).toBe(GOLDEN_REGISTER_HEX)
    expect(bytes.length).toBe(162)
    const m = decodeMessage(unhex(GOLDEN_REGISTER_HEX))
    expect(m).toEqual({ ...GOLDEN_REGISTER, hosts: [GOLDEN_REGISTER.hosts[0], { host: '2001:db8:0:0:0:0:0:1', family: 6, port: 40001 }], sig: bytes.subarray(98) })
    expect(verifySigned(unhex(GOLDEN_REGISTER_HEX), KP.publicKey)).toBe(true)
  })

  it('PROBE from the fixed seed matches byte for byte, decodes and verifies', () => {
    const bytes = encodeSigned(GOLDEN_PROBE, KP.secretKey)
    expect(hex(bytes)).toBe(GOLDEN_PROBE_HEX)
    expect(bytes.length).toBe(146)
    expect(decodeMessage(unhex(GOLDEN_PROBE_HEX))).toEqual({ ...GOLDEN_PROBE, sig: bytes.subarray(82) })
    expect(verifySigned(unhex(GOLDEN_PROBE_HEX), KP.publicKey)).toBe(true)
  })

  it('RELAY_REQUEST, RELAY_BIND and REGISTER_ENDPOINT from the fixed seed match byte for byte, decode and verify', () => {
    for (const [msg, want, len] of [[GOLDEN_RELAY_REQUEST, GOLDEN_RELAY_REQUEST_HEX, 192], [GOLDEN_RELAY_BIND, GOLDEN_RELAY_BIND_HEX, 156], [GOLDEN_REGISTER_ENDPOINT, GOLDEN_REGISTER_ENDPOINT_HEX, 128]] as const) {
      const bytes = encodeSigned(msg, KP.secretKey)
      expect(hex(bytes)).toBe(want)
      expect(bytes.length).toBe(len)
      expect(decodeMessage(unhex(want))).toEqual({ ...msg, sig: bytes.subarray(len - 64) })
      expect(verifySigned(unhex(want), KP.publicKey)).toBe(true)
    }
  })

  it('RELAY_ALLOCATED and RELAY_BOUND match their documented bytes', () => {
    const alloc = encodeMessage({ type: 'relayAllocated', reqId: 0x01020304, punchNonce: seq(32, 0x40), relay: { host: '203.0.113.1', family: 4, port: 40123 }, lifetimeS: 3600, rateBytesPerS: 8 * 1024 * 1024 })
    expect(hex(alloc)).toBe('50010a' + '04030201' + hex(seq(32, 0x40)) + '04cb007101bb9c' + 'fd100e' + 'fe00008000')
    expect(hex(encodeMessage({ type: 'relayBound', punchNonce: seq(32, 0x40), peerBound: true }))).toBe('50010c' + hex(seq(32, 0x40)) + '01')
  })

  it('signatures are plain Ed25519 over "p2pd/sig/v1\\0" followed by every byte before the signature', () => {
    // Independent check with node:crypto (OpenSSL), so the documented construction is what the code does.
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(SEED)])
    const pub = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }))
    expect(hex(new Uint8Array(pub.export({ format: 'der', type: 'spki' }).subarray(12)))).toBe(hex(KP.publicKey))
    for (const h of [GOLDEN_REGISTER_HEX, GOLDEN_PROBE_HEX, GOLDEN_RELAY_REQUEST_HEX, GOLDEN_RELAY_BIND_HEX, GOLDEN_REGISTER_ENDPOINT_HEX]) {
      const d = unhex(h)
      const body = d.subarray(0, d.length - 64)
      const sig = d.subarray(d.length - 64)
      expect(nodeVerify(null, Buffer.concat([Buffer.from('p2pd/sig/v1\0'), body]), pub, sig)).toBe(true)
      expect(nodeVerify(null, body, pub, sig)).toBe(false)
    }
  })
})

describe('signatures', () => {
  const signed = sampleDatagrams().filter((d) => isSignedType(decodeMessage(d).type))

  it('flipping any single bit of a signed datagram makes verifySigned false', () => {
    for (const d of [unhex(GOLDEN_REGISTER_HEX), unhex(GOLDEN_PROBE_HEX)]) {
      for (let i = 0; i < d.length; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const m = d.slice()
          m[i]! ^= 1 << bit
          expect(verifySigned(m, KP.publicKey), `byte ${i} bit ${bit}`).toBe(false)
        }
      }
    }
  })

  it('changing any single byte of every signed type makes verifySigned false', () => {
    expect(signed.length).toBeGreaterThanOrEqual(5)
    for (const d of signed) {
      for (let i = 0; i < d.length; i++) {
        const m = d.slice()
        m[i] = (m[i]! + 1 + (i % 255)) & 0xff
        expect(verifySigned(m, KP.publicKey), `${decodeMessage(d).type} byte ${i}`).toBe(false)
      }
    }
  })

  it('a message signed by key A does not verify with key B', () => {
    for (const d of signed) {
      expect(verifySigned(d, KP.publicKey)).toBe(true)
      expect(verifySigned(d, KP_B.publicKey)).toBe(false)
    }
    const byB = encodeSigned({ ...GOLDEN_PROBE, key: KP_B.publicKey }, KP_B.secretKey)
    expect(verifySigned(byB, KP_B.publicKey)).toBe(true)
    expect(verifySigned(byB, KP.publicKey)).toBe(false)
  })

  it('covers the type byte: a PROBE relabelled as PROBE_ACK fails', () => {
    const d = unhex(GOLDEN_PROBE_HEX)
    d[2] = 8
    expect(decodeMessage(d).type).toBe('probeAck')
    expect(verifySigned(d, KP.publicKey)).toBe(false)
  })

  it('ignores the sig field given to encodeSigned, and refuses short input or bad keys without throwing', () => {
    expect(hex(encodeSigned({ ...GOLDEN_PROBE, sig: seq(64) }, KP.secretKey))).toBe(GOLDEN_PROBE_HEX)
    expect(verifySigned(new Uint8Array(0), KP.publicKey)).toBe(false)
    expect(verifySigned(new Uint8Array(66), KP.publicKey)).toBe(false)
    expect(verifySigned(unhex(GOLDEN_PROBE_HEX), KP.publicKey.subarray(0, 31))).toBe(false)
    expect(verifySigned(unhex(GOLDEN_PROBE_HEX), new Uint8Array(32))).toBe(false)
  })

  it('knows which types are signed', () => {
    expect(['register', 'connect', 'unregister', 'probe', 'probeAck', 'relayRequest', 'relayBind', 'registerEndpoint'].every((t) => isSignedType(t as WireMessage['type']))).toBe(true)
    expect(['registered', 'introduce', 'error', 'relayAllocated', 'relayBound'].some((t) => isSignedType(t as WireMessage['type']))).toBe(false)
  })
})

describe('demultiplexing', () => {
  it('tells our datagrams from UDX packets (0xff) and runts', () => {
    expect(isWireDatagram(unhex(GOLDEN_PROBE_HEX))).toBe(true)
    expect(isWireDatagram(Uint8Array.from([0xff, 0x01, 0x00, 0x00]))).toBe(false)
    expect(isWireDatagram(Uint8Array.from([0x50, 0x01]))).toBe(false)
  })
})

describe('encoder bounds', () => {
  const reg = (over: Partial<Register>): Register => ({ ...GOLDEN_REGISTER, ...over })

  it('refuses over-long names, counting UTF-8 bytes not characters', () => {
    expect(codeOf(() => encodeMessage(reg({ name: 'a'.repeat(MAX_NAME) })))).toBe('no error')
    expect(codeOf(() => encodeMessage(reg({ name: 'a'.repeat(MAX_NAME + 1) })))).toBe('TOO_LONG')
    expect(codeOf(() => encodeMessage(reg({ name: '€'.repeat(11) })))).toBe('TOO_LONG')
    expect(codeOf(() => encodeMessage({ type: 'connect', reqId: 1, key: KP.publicKey, target: 'b'.repeat(33), timestamp: 1, nonce: seq(16), sig: seq(64) }))).toBe('TOO_LONG')
  })

  it('refuses too many candidates (16 for REGISTER, 17 for INTRODUCE)', () => {
    const h = { host: '10.0.0.1', family: 4 as const, port: 1 }
    expect(codeOf(() => encodeMessage(reg({ hosts: Array(16).fill(h) })))).toBe('no error')
    expect(codeOf(() => encodeMessage(reg({ hosts: Array(17).fill(h) })))).toBe('TOO_LONG')
    const intro = (n: number): Introduce => ({ type: 'introduce', reqId: 1, peerKey: KP.publicKey, peerName: '', candidates: Array(n).fill(h), punchNonce: seq(32), requester: false, peerNat: 'unknown' })
    expect(codeOf(() => encodeMessage(intro(17)))).toBe('no error')
    expect(codeOf(() => encodeMessage(intro(18)))).toBe('TOO_LONG')
  })

  it('refuses error text over MAX_ERROR_TEXT bytes', () => {
    expect(codeOf(() => encodeMessage({ type: 'error', reqId: 1, code: 1, message: 'e'.repeat(MAX_ERROR_TEXT) }))).toBe('no error')
    expect(codeOf(() => encodeMessage({ type: 'error', reqId: 1, code: 1, message: 'e'.repeat(MAX_ERROR_TEXT + 1) }))).toBe('TOO_LONG')
  })

  it('refuses out-of-range integers instead of truncating them', () => {
    for (const reqId of [-1, 2 ** 32, 1.5, NaN]) expect(codeOf(() => encodeMessage(reg({ reqId })))).toBe('BAD_VALUE')
    for (const timestamp of [-1, 2 ** 53, 0.5, Infinity]) expect(codeOf(() => encodeMessage(reg({ timestamp })))).toBe('BAD_VALUE')
    expect(codeOf(() => encodeMessage({ type: 'error', reqId: 1, code: 256, message: '' }))).toBe('BAD_VALUE')
    expect(codeOf(() => encodeMessage({ ...GOLDEN_PROBE, seq: 2 ** 32 }))).toBe('BAD_VALUE')
  })

  it('refuses wrong-sized keys, nonces and signatures', () => {
    expect(codeOf(() => encodeMessage(reg({ key: seq(31) })))).toBe('BAD_VALUE')
    expect(codeOf(() => encodeMessage(reg({ nonce: seq(15) })))).toBe('BAD_VALUE')
    expect(codeOf(() => encodeMessage(reg({ sig: seq(63) })))).toBe('BAD_VALUE')
    expect(codeOf(() => encodeMessage({ type: 'connect', reqId: 1, key: KP.publicKey, target: seq(33), timestamp: 1, nonce: seq(16), sig: seq(64) }))).toBe('BAD_VALUE')
  })

  it('refuses addresses compact-encoding would mangle', () => {
    const bad: [string, 4 | 6, number][] = [
      ['256.1.1.1', 4, 1], ['1.2.3', 4, 1], ['01.2.3.4', 4, 1], ['::1', 4, 1], ['localhost', 4, 1], ['10.0.0.1', 4, 65536], ['10.0.0.1', 4, -1],
      ['fe80::1%eth0', 6, 1], ['::ffff:1.2.3.4', 6, 1], ['1:2:3:4:5:6:7:8:9', 6, 1], ['1::2::3', 6, 1], ['12345::', 6, 1], ['1:2:3:4:5:6:7', 6, 1],
      ['::g', 6, 1], ['10.0.0.1', 6, 1], [':1', 6, 1], ['[::1]', 6, 1], ['1:2:3:4:5:6:7::8', 6, 1],
    ]
    for (const [host, family, port] of bad) {
      expect(codeOf(() => encodeMessage({ ...GOLDEN_PROBE, addr: { host, family, port } })), `${host} ${family} ${port}`).toBe('BAD_VALUE')
    }
    expect(codeOf(() => encodeMessage({ ...GOLDEN_PROBE, addr: { host: '::1', family: 5 as 6, port: 1 } }))).toBe('BAD_VALUE')
  })
})
