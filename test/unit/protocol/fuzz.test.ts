// Deterministic fuzzing of both decoders: random buffers and mutations of valid messages.
// Property: decode returns a message or throws ProtocolError, never anything else; a decoded
// message re-encodes without throwing, and that encoding is a fixed point (decodes to the same
// message, re-encodes to the same bytes).
import { describe, expect, it } from 'vitest'
import { decodeControl, encodeControl, type ControlMessage } from '../../../protocol/control.js'
import { ProtocolError, type ProtocolErrorCode } from '../../../protocol/errors.js'
import { decodeMessage, encodeMessage, isSignedType, verifySigned, type WireMessage } from '../../../protocol/wire.js'
import { decodeMux, encodeMux, type MuxFrame } from '../../../protocol/mux.js'
import { KP, hex, sampleControls, sampleDatagrams, sampleMuxFrames } from './samples.js'

/** sfc32: small, fast, good enough, and the same on every machine. */
function prng(seed: number): () => number {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0
  const next = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0
    const t = (a + b + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) >>> 0
    return t
  }
  for (let i = 0; i < 16; i++) next()
  return next
}

class Fuzzer {
  private readonly next: () => number
  constructor(seed: number) {
    this.next = prng(seed)
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return this.next() % n
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff
    return out
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!
  }
  /** Random length, biased short (where structure lives) with a tail past the size limits. */
  length(): number {
    const r = this.int(100)
    return r < 60 ? this.int(64) : r < 90 ? this.int(512) : this.int(1400)
  }
}

type Outcome = { ok: true; encoded: Uint8Array } | { ok: false; code: ProtocolErrorCode }

interface Codec<M> {
  decode(b: Uint8Array): M
  encode(m: M): Uint8Array
}
const WIRE: Codec<WireMessage> = { decode: decodeMessage, encode: encodeMessage }
const CONTROL: Codec<ControlMessage> = { decode: decodeControl, encode: encodeControl }
const MUX: Codec<MuxFrame> = { decode: decodeMux, encode: encodeMux }

/** Run one input through the property; returns a failure description, or the outcome. */
function check<M>(codec: Codec<M>, input: Uint8Array): Outcome | string {
  let msg: M
  try {
    msg = codec.decode(input)
  } catch (e) {
    return e instanceof ProtocolError ? { ok: false, code: e.code } : `decode threw ${String(e)} on ${hex(input)}`
  }
  let encoded: Uint8Array
  try {
    encoded = codec.encode(msg)
  } catch (e) {
    return `re-encode threw ${String(e)} for ${hex(input)}`
  }
  try {
    const again = codec.encode(codec.decode(encoded))
    if (hex(again) !== hex(encoded)) return `not a fixed point: ${hex(input)}`
  } catch (e) {
    return `re-decode threw ${String(e)} for ${hex(input)}`
  }
  return { ok: true, encoded }
}

/** Mutate a valid message: bit flips, byte overwrites, truncation, insertion, deletion, splices. */
function mutate(f: Fuzzer, base: Uint8Array, corpus: readonly Uint8Array[]): { out: Uint8Array; flipsOnly: boolean } {
  let out: Uint8Array = base.slice()
  let flipsOnly = true
  const rounds = 1 + f.int(4)
  for (let r = 0; r < rounds; r++) {
    const op = f.int(8)
    if (op <= 1 && out.length > 0) {
      out[f.int(out.length)]! ^= 1 << f.int(8)
      continue
    }
    flipsOnly = false
    if (op === 2 && out.length > 0) out[f.int(out.length)] = f.pick([0x00, 0x01, 0x04, 0x06, 0x7f, 0x80, 0xfc, 0xfd, 0xfe, 0xff, f.int(256)])
    else if (op === 3) out = out.subarray(0, f.int(out.length + 1))
    else if (op === 4) {
      const at = f.int(out.length + 1)
      out = concat(out.subarray(0, at), f.bytes(1 + f.int(8)), out.subarray(at))
    } else if (op === 5 && out.length > 0) {
      const at = f.int(out.length)
      out = concat(out.subarray(0, at), out.subarray(at + 1 + f.int(8)))
    } else if (op === 6) {
      const other = f.pick(corpus)
      out = concat(out.subarray(0, f.int(out.length + 1)), other.subarray(f.int(other.length + 1)))
    } else {
      // Duplicate a range in place (length-prefix confusion).
      const a = f.int(out.length + 1)
      const b = a + f.int(out.length - a + 1)
      out = concat(out.subarray(0, b), out.subarray(a, b), out.subarray(b))
    }
  }
  return { out, flipsOnly }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function tally(counts: Map<string, number>, o: Outcome): void {
  const k = o.ok ? 'ok' : o.code
  counts.set(k, (counts.get(k) ?? 0) + 1)
}

describe('fuzz', () => {
  it('wire: 150k random buffers decode to a message or a ProtocolError', () => {
    const f = new Fuzzer(1)
    const failures: string[] = []
    const counts = new Map<string, number>()
    for (let i = 0; i < 150_000; i++) {
      const buf = f.bytes(f.length())
      // Most inputs get a valid header, or they would all stop at the magic byte.
      if (i % 4 !== 0 && buf.length >= 3) {
        buf[0] = 0x50
        if (i % 16 !== 1) buf[1] = 0x01
        if (i % 8 !== 2) buf[2] = 1 + f.int(12)
      }
      const r = check(WIRE, buf)
      if (typeof r === 'string') failures.push(r)
      else tally(counts, r)
      if (failures.length > 5) break
    }
    expect(failures).toEqual([])
    for (const code of ['TRUNCATED', 'TOO_LONG', 'BAD_MAGIC', 'BAD_VERSION', 'BAD_TYPE', 'TRAILING_BYTES']) expect(counts.get(code), code).toBeGreaterThan(0)
  })

  it('control: 50k random buffers decode to a message or a ProtocolError', () => {
    const f = new Fuzzer(2)
    const failures: string[] = []
    const counts = new Map<string, number>()
    for (let i = 0; i < 50_000; i++) {
      const buf = f.bytes(f.length())
      if (i % 4 !== 0 && buf.length >= 2) {
        buf[0] = 0x01
        if (i % 8 !== 2) buf[1] = 1 + f.int(10)
      }
      const r = check(CONTROL, buf)
      if (typeof r === 'string') failures.push(r)
      else tally(counts, r)
      if (failures.length > 5) break
    }
    expect(failures).toEqual([])
    expect(counts.get('ok'), 'some random control messages decode').toBeGreaterThan(0)
  })

  it('wire: 35k mutations of valid datagrams; bit-flipped signed ones never verify', () => {
    const f = new Fuzzer(3)
    const corpus = sampleDatagrams()
    const failures: string[] = []
    const counts = new Map<string, number>()
    let verified = 0
    for (let i = 0; i < 35_000; i++) {
      const base = f.pick(corpus)
      const { out, flipsOnly } = mutate(f, base, corpus)
      const r = check(WIRE, out)
      if (typeof r === 'string') failures.push(r)
      else {
        tally(counts, r)
        // A few thousand signature checks: any flipped bit must break the signature.
        if (r.ok && flipsOnly && i % 8 === 0 && hex(out) !== hex(base) && isSignedType(decodeMessage(out).type)) {
          verified++
          if (verifySigned(out, KP.publicKey)) failures.push(`mutated datagram verifies: ${hex(out)}`)
        }
      }
      if (failures.length > 5) break
    }
    expect(failures).toEqual([])
    expect(counts.get('ok')).toBeGreaterThan(1000)
    expect(verified).toBeGreaterThan(100)
    for (const code of ['TRUNCATED', 'TOO_LONG', 'BAD_VALUE', 'TRAILING_BYTES']) expect(counts.get(code), code).toBeGreaterThan(0)
  })

  it('control: 15k mutations of valid messages', () => {
    const f = new Fuzzer(4)
    const corpus = sampleControls().map(encodeControl)
    const failures: string[] = []
    const counts = new Map<string, number>()
    for (let i = 0; i < 15_000; i++) {
      const r = check(CONTROL, mutate(f, f.pick(corpus), corpus).out)
      if (typeof r === 'string') failures.push(r)
      else tally(counts, r)
      if (failures.length > 5) break
    }
    expect(failures).toEqual([])
    for (const code of ['ok', 'TRUNCATED', 'BAD_VALUE', 'TRAILING_BYTES', 'BAD_TYPE']) expect(counts.get(code), code).toBeGreaterThan(0)
  })

  it('mux: 50k random frames and 15k mutations of valid ones decode to a frame or a ProtocolError', () => {
    const f = new Fuzzer(5)
    const corpus = sampleMuxFrames().map(encodeMux)
    const failures: string[] = []
    const counts = new Map<string, number>()
    for (let i = 0; i < 65_000; i++) {
      let buf: Uint8Array
      if (i < 50_000) {
        buf = f.bytes(f.length())
        if (i % 4 !== 0 && buf.length >= 2) {
          buf[0] = 0x01
          if (i % 8 !== 2) buf[1] = 1 + f.int(12)
        }
      } else buf = mutate(f, f.pick(corpus), corpus).out
      const r = check(MUX, buf)
      if (typeof r === 'string') failures.push(r)
      else tally(counts, r)
      if (failures.length > 5) break
    }
    expect(failures).toEqual([])
    for (const code of ['ok', 'TRUNCATED', 'BAD_VALUE', 'TRAILING_BYTES', 'BAD_TYPE', 'BAD_VERSION']) expect(counts.get(code), code).toBeGreaterThan(0)
  })

  it('the generator is deterministic', () => {
    const a = new Fuzzer(42)
    const b = new Fuzzer(42)
    expect(hex(a.bytes(64))).toBe(hex(b.bytes(64)))
    expect(hex(new Fuzzer(43).bytes(8))).not.toBe(hex(new Fuzzer(42).bytes(8)))
  })
})
