// Every malformed input we can name, for both decoders: each must throw ProtocolError with the
// expected code, and nothing else.
import { describe, expect, it } from 'vitest'
import { decodeControl, encodeControl } from '../../../protocol/control.js'
import { MAX_DATAGRAM, decodeMessage, encodeMessage } from '../../../protocol/wire.js'
import { GOLDEN_PROBE_HEX, GOLDEN_REGISTER_HEX, KP, cat, codeOf, sampleControls, sampleDatagrams, seq, unhex } from './samples.js'

const wire = (b: Uint8Array | number[]) => codeOf(() => decodeMessage(b instanceof Uint8Array ? b : Uint8Array.from(b)))
const ctl = (b: Uint8Array | number[]) => codeOf(() => decodeControl(b instanceof Uint8Array ? b : Uint8Array.from(b)))

const H = (type: number) => [0x50, 0x01, type]
const REQ = [1, 0, 0, 0]
const KEY = Array.from(KP.publicKey)
const NONCE16 = Array.from(seq(16))
const SIG = Array.from(seq(64))
const V4 = [4, 10, 0, 0, 1, 0x50, 0]

describe('wire decoder: framing', () => {
  it('refuses empty, 1-byte and 2-byte input as TRUNCATED', () => {
    expect(wire([])).toBe('TRUNCATED')
    expect(wire([0x50])).toBe('TRUNCATED')
    expect(wire([0x50, 0x01])).toBe('TRUNCATED')
  })

  it('refuses a bad magic byte (including a UDX packet) as BAD_MAGIC', () => {
    for (const m of [0x00, 0x01, 0x4f, 0x51, 0xff]) expect(wire([m, 0x01, 0x07, ...seq(40)])).toBe('BAD_MAGIC')
  })

  it('refuses a bad version as BAD_VERSION', () => {
    for (const v of [0x00, 0x02, 0x50, 0xff]) expect(wire([0x50, v, 0x01])).toBe('BAD_VERSION')
  })

  it('refuses unknown types as BAD_TYPE', () => {
    for (const t of [0x00, 0x0e, 0x10, 0x7f, 0xff]) expect(wire(H(t))).toBe('BAD_TYPE')
  })

  it('refuses a bare header of every known type as TRUNCATED', () => {
    for (let t = 1; t <= 12; t++) expect(wire(H(t))).toBe('TRUNCATED')
  })

  it('refuses every valid message truncated at every byte offset as TRUNCATED', () => {
    for (const d of sampleDatagrams()) {
      for (let n = 0; n < d.length; n++) expect(wire(d.subarray(0, n)), `type ${d[2]} cut at ${n}`).toBe('TRUNCATED')
    }
  })

  it('refuses trailing bytes after every valid message as TRAILING_BYTES', () => {
    for (const d of sampleDatagrams()) {
      expect(wire(cat(d, [0]))).toBe('TRAILING_BYTES')
      expect(wire(cat(d, seq(7)))).toBe('TRAILING_BYTES')
    }
  })

  it('refuses datagrams over MAX_DATAGRAM as TOO_LONG, before looking at them', () => {
    expect(wire(new Uint8Array(MAX_DATAGRAM + 1))).toBe('TOO_LONG')
    expect(wire(cat(unhex(GOLDEN_PROBE_HEX), new Uint8Array(MAX_DATAGRAM + 1 - 146)))).toBe('TOO_LONG')
    expect(wire(new Uint8Array(65536).fill(0x50))).toBe('TOO_LONG')
    // Exactly MAX_DATAGRAM is not "too long": it gets as far as the body.
    expect(wire(cat(unhex(GOLDEN_PROBE_HEX), new Uint8Array(MAX_DATAGRAM - 146)))).toBe('TRAILING_BYTES')
  })
})

describe('wire decoder: lengths claimed by a prefix', () => {
  const regUpToName = [...H(1), ...REQ, ...KEY]

  it('refuses a name length over 32 as TOO_LONG, whatever follows', () => {
    expect(wire([...regUpToName, 33, ...seq(33)])).toBe('TOO_LONG')
    expect(wire([...regUpToName, 0xfc])).toBe('TOO_LONG')
    expect(wire([...regUpToName, 0xfd, 0xff, 0xff])).toBe('TOO_LONG')
    expect(wire([...regUpToName, 0xfe, 0xff, 0xff, 0xff, 0xff])).toBe('TOO_LONG')
    expect(wire([...regUpToName, 0xff, 0, 0, 0, 0, 0, 0, 0x10, 0])).toBe('TOO_LONG')
  })

  it('refuses a name whose claimed length runs past the end as TRUNCATED', () => {
    expect(wire([...regUpToName, 32, ...seq(31, 0x61)])).toBe('TRUNCATED')
  })

  it('refuses more than 16 hosts (REGISTER) or 17 candidates (INTRODUCE) as TOO_LONG', () => {
    const regUpToHosts = [...regUpToName, 0, 0, ...NONCE16]
    expect(wire([...regUpToHosts, 0, 0, ...SIG])).toBe('no error')
    expect(wire([...regUpToHosts, 17, ...Array(17).fill(V4).flat(), 0, ...SIG])).toBe('TOO_LONG')
    expect(wire([...regUpToHosts, 0xfe, 0xff, 0xff, 0xff, 0xff])).toBe('TOO_LONG')
    expect(wire([...regUpToHosts, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00])).toBe('TOO_LONG')
    const introUpToCands = [...H(4), ...REQ, ...KEY, 0]
    const tail = [...seq(32), 1, 0]
    expect(wire([...introUpToCands, 17, ...Array(17).fill(V4).flat(), ...tail])).toBe('no error')
    expect(wire([...introUpToCands, 18, ...Array(18).fill(V4).flat(), ...tail])).toBe('TOO_LONG')
  })

  it('refuses error text over 64 bytes as TOO_LONG', () => {
    expect(wire([...H(5), ...REQ, 1, 64, ...Array(64).fill(0x61)])).toBe('no error')
    expect(wire([...H(5), ...REQ, 1, 65, ...Array(65).fill(0x61)])).toBe('TOO_LONG')
  })

  it('refuses a CONNECT target name over 32 bytes as TOO_LONG', () => {
    expect(wire([...H(3), ...REQ, ...KEY, 1, 33, ...Array(33).fill(0x61), 0, ...NONCE16, ...SIG])).toBe('TOO_LONG')
  })
})

describe('wire decoder: bad values', () => {
  it('refuses an unknown CONNECT target tag as BAD_VALUE', () => {
    for (const tag of [2, 3, 0xff]) expect(wire([...H(3), ...REQ, ...KEY, tag, ...seq(32), 0, ...NONCE16, ...SIG])).toBe('BAD_VALUE')
    expect(wire([...H(3), ...REQ, ...KEY, 0, ...seq(32), 0, ...NONCE16, ...SIG])).toBe('no error')
  })

  it('refuses an INTRODUCE requester byte other than 0/1 as BAD_VALUE', () => {
    const intro = (b: number) => [...H(4), ...REQ, ...KEY, 0, 0, ...seq(32), b, 0]
    expect(wire(intro(0))).toBe('no error')
    expect(wire(intro(1))).toBe('no error')
    for (const b of [2, 0x80, 0xff]) expect(wire(intro(b))).toBe('BAD_VALUE')
  })

  it('refuses a RELAY_BOUND peerBound byte other than 0/1, and a RELAY_ALLOCATED relay of another family, as BAD_VALUE', () => {
    const bound = (b: number) => [...H(12), ...seq(32), b]
    expect(wire(bound(0))).toBe('no error')
    expect(wire(bound(1))).toBe('no error')
    for (const b of [2, 0xff]) expect(wire(bound(b))).toBe('BAD_VALUE')
    const alloc = (fam: number) => [...H(10), ...REQ, ...seq(32), fam, 203, 0, 113, 1, 0x50, 0, 0x10, 0]
    expect(wire(alloc(4))).toBe('no error')
    for (const fam of [0, 5, 0xff]) expect(wire(alloc(fam))).toBe('BAD_VALUE')
  })

  it('refuses a NAT mapping byte above 3 (REGISTER nat, INTRODUCE peerNat) as BAD_VALUE', () => {
    const intro = (b: number) => [...H(4), ...REQ, ...KEY, 0, 0, ...seq(32), 1, b]
    const reg = (b: number) => [...H(1), ...REQ, ...KEY, 0, 0, ...NONCE16, 0, b, ...SIG]
    for (const b of [0, 1, 2, 3]) {
      expect(wire(intro(b))).toBe('no error')
      expect(wire(reg(b))).toBe('no error')
    }
    for (const b of [4, 0x7f, 0xff]) {
      expect(wire(intro(b))).toBe('BAD_VALUE')
      expect(wire(reg(b))).toBe('BAD_VALUE')
    }
  })

  it('refuses an address family other than 4 or 6 as BAD_VALUE, in every address field', () => {
    for (const fam of [0, 1, 5, 7, 0x46, 0xff]) {
      const addr = [fam, ...seq(16), 0x50, 0]
      expect(wire([...H(2), ...REQ, ...addr, 30]), `registered ${fam}`).toBe('BAD_VALUE')
      expect(wire([...H(7), ...seq(32), ...KEY, 0, 0, 0, 0, 1, 0, 0, 0, ...addr, ...SIG]), `probe ${fam}`).toBe('BAD_VALUE')
      expect(wire([...H(1), ...REQ, ...KEY, 0, 0, ...NONCE16, 1, ...addr, ...SIG]), `register ${fam}`).toBe('BAD_VALUE')
    }
  })

  it('refuses strings that are not well-formed UTF-8 as BAD_VALUE', () => {
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0x61, 0x80, 0x62]]) {
      expect(wire([...H(1), ...REQ, ...KEY, bad.length, ...bad, 0, ...NONCE16, 0, ...SIG]), bad.join(',')).toBe('BAD_VALUE')
    }
    // A byte-order mark is valid UTF-8 and is kept.
    const m = decodeMessage(Uint8Array.from([...H(5), ...REQ, 1, 4, 0xef, 0xbb, 0xbf, 0x61]))
    expect(m.type === 'error' && m.message).toBe('\ufeffa')
  })

  it('refuses a varint above 2^53-1 as BAD_VALUE', () => {
    const leaseOf = (v: number[]) => wire([...H(2), ...REQ, ...V4, ...v])
    expect(leaseOf([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00])).toBe('no error')
    expect(leaseOf([0xff, 0, 0, 0, 0, 0, 0, 0x20, 0])).toBe('BAD_VALUE')
    expect(leaseOf([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).toBe('BAD_VALUE')
  })

  it('accepts non-minimal varints and unknown broker error codes (documented)', () => {
    const m = decodeMessage(Uint8Array.from([...H(2), ...REQ, ...V4, 0xfd, 5, 0]))
    expect(m.type === 'registered' && m.leaseS).toBe(5)
    expect(encodeMessage(m).length).toBe(3 + 4 + 7 + 1)
    expect(wire([...H(5), ...REQ, 200, 0])).toBe('no error')
  })

  it('keeps the golden vectors valid (sanity for the byte-built cases above)', () => {
    expect(wire(unhex(GOLDEN_REGISTER_HEX))).toBe('no error')
    expect(wire(unhex(GOLDEN_PROBE_HEX))).toBe('no error')
  })
})

describe('control decoder', () => {
  const samples = sampleControls().map(encodeControl)

  it('refuses empty and 1-byte input as TRUNCATED', () => {
    expect(ctl([])).toBe('TRUNCATED')
    expect(ctl([0x01])).toBe('TRUNCATED')
  })

  it('refuses a bad version as BAD_VERSION', () => {
    for (const v of [0x00, 0x02, 0x50, 0xff]) expect(ctl([v, 0x01, 0, 0])).toBe('BAD_VERSION')
  })

  it('refuses unknown types as BAD_TYPE', () => {
    for (const t of [0x00, 0x0c, 0x50, 0xff]) expect(ctl([0x01, t, 0, 0, 0, 0])).toBe('BAD_TYPE')
  })

  it('refuses a bare header of every known type as TRUNCATED', () => {
    for (let t = 1; t <= 11; t++) expect(ctl([0x01, t])).toBe('TRUNCATED')
  })

  it('refuses every valid message truncated at every byte offset as TRUNCATED', () => {
    for (const d of samples) {
      for (let n = 0; n < d.length; n++) expect(ctl(d.subarray(0, n)), `type ${d[1]} cut at ${n}`).toBe('TRUNCATED')
    }
  })

  it('refuses trailing bytes as TRAILING_BYTES', () => {
    for (const d of samples) expect(ctl(cat(d, [0]))).toBe('TRAILING_BYTES')
  })

  it('refuses messages over 1024 bytes as TOO_LONG', () => {
    expect(ctl(new Uint8Array(1025))).toBe('TOO_LONG')
    expect(ctl(cat([1, 5, 0, 0, 0, 0], new Uint8Array(1019)))).toBe('TOO_LONG')
  })

  it('refuses over-long strings claimed by the length prefix as TOO_LONG', () => {
    expect(ctl([1, 1, 33, ...Array(33).fill(0x61), 0])).toBe('TOO_LONG')
    expect(ctl([1, 1, 0, 33, ...Array(33).fill(0x61)])).toBe('TOO_LONG')
    expect(ctl([1, 2, ...REQ, 0, 0xfd, 254, 0, ...Array(254).fill(0x61), 0, 0])).toBe('TOO_LONG')
    expect(ctl([1, 2, ...REQ, 0, 0xfd, 253, 0, ...Array(253).fill(0x61), 0, 0])).toBe('no error')
    expect(ctl([1, 4, ...REQ, 0, 0xfd, 201, 0, ...Array(201).fill(0x61), 0])).toBe('TOO_LONG')
    expect(ctl([1, 4, ...REQ, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff])).toBe('TOO_LONG')
  })

  it('refuses bad proto and fail-code values as BAD_VALUE', () => {
    for (const p of [2, 0xff]) expect(ctl([1, 2, ...REQ, p, 0, 0x50, 0])).toBe('BAD_VALUE')
    for (const f of [3, 0xff]) expect(ctl([1, 4, ...REQ, f, 0, 0])).toBe('BAD_VALUE')
  })

  it('refuses invalid UTF-8 in strings as BAD_VALUE', () => {
    expect(ctl([1, 1, 1, 0xff, 0])).toBe('BAD_VALUE')
    expect(ctl([1, 2, ...REQ, 0, 2, 0xc3, 0x28, 0x50, 0])).toBe('BAD_VALUE')
  })

  it('does not take wire datagrams for control messages', () => {
    expect(ctl(unhex(GOLDEN_PROBE_HEX))).toBe('BAD_VERSION')
  })
})
