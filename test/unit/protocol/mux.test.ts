// Multiplexer frames and the broker's TCP reflection answer: round trips, golden vectors and
// malformed input (docs/PROTOCOL.md §8-9).
import { describe, expect, it } from 'vitest'
import { DATA_HEADER, MAX_DATA, decodeMux, encodeMux, writeDataHeader } from '../../../protocol/mux.js'
import { decodeTcpObserved, encodeTcpObserved } from '../../../protocol/tcp-reflect.js'
import { codeOf, hex, sampleMuxFrames, unhex } from './samples.js'

describe('mux frames', () => {
  it('round-trip every type to the same frame and the same bytes', () => {
    const types = new Set<string>()
    for (const m of sampleMuxFrames()) {
      const bytes = encodeMux(m)
      const back = decodeMux(bytes)
      expect(back).toEqual(m)
      expect(hex(encodeMux(back))).toBe(hex(bytes))
      types.add(m.type)
    }
    expect(types.size).toBe(12)
  })

  it('match the golden vectors', () => {
    expect(hex(encodeMux({ type: 'data', id: 3, payload: new TextEncoder().encode('hi') }))).toBe('0101' + '03000000' + '6869')
    expect(hex(encodeMux({ type: 'open', id: 1, host: 'localhost', port: 8080 }))).toBe('0102' + '01000000' + '09' + '6c6f63616c686f7374' + '901f')
    expect(hex(encodeMux({ type: 'credit', id: 1, bytes: 262144 }))).toBe('0105' + '01000000' + 'fe00000400')
    expect(hex(encodeMux({ type: 'end', id: 1, at: 5 }))).toBe('0106' + '01000000' + '05')
    expect(hex(encodeMux({ type: 'resume', id: 2, received: 0x10000 }))).toBe('0108' + '02000000' + 'fe00000100')
    expect(hex(encodeMux({ type: 'select' }))).toBe('010c')
  })

  it('writes a DATA header in place, and the payload decodes as a view', () => {
    const buf = new Uint8Array(DATA_HEADER + 3)
    writeDataHeader(buf, 0x01020304)
    buf.set([7, 8, 9], DATA_HEADER)
    const f = decodeMux(buf)
    expect(f).toEqual({ type: 'data', id: 0x01020304, payload: new Uint8Array([7, 8, 9]) })
    expect(f.type === 'data' && f.payload.buffer).toBe(buf.buffer)
  })

  it('refuse malformed frames with the right code', () => {
    expect(codeOf(() => decodeMux(unhex('01')))).toBe('TRUNCATED')
    expect(codeOf(() => decodeMux(unhex('0201')))).toBe('BAD_VERSION')
    expect(codeOf(() => decodeMux(unhex('0100')))).toBe('BAD_TYPE')
    expect(codeOf(() => decodeMux(unhex('010d')))).toBe('BAD_TYPE')
    expect(codeOf(() => decodeMux(unhex('01010300')))).toBe('TRUNCATED')
    expect(codeOf(() => decodeMux(unhex('010301000000ff')))).toBe('TRAILING_BYTES')
    expect(codeOf(() => decodeMux(unhex('01040100000003')))).toBe('BAD_VALUE')
    expect(codeOf(() => decodeMux(new Uint8Array(DATA_HEADER + MAX_DATA + 1).fill(1)))).toBe('TOO_LONG')
    expect(codeOf(() => decodeMux(new Uint8Array(1025).fill(2, 1).fill(1, 0, 1)))).toBe('TOO_LONG')
    expect(codeOf(() => encodeMux({ type: 'data', id: 1, payload: new Uint8Array(MAX_DATA + 1) }))).toBe('TOO_LONG')
    expect(codeOf(() => encodeMux({ type: 'credit', id: -1, bytes: 0 }))).toBe('BAD_VALUE')
  })
})

describe('TCP reflection answer', () => {
  it('matches the golden vector and round-trips', () => {
    const bytes = encodeTcpObserved({ host: '203.0.113.10', family: 4, port: 41000 })
    expect(hex(bytes)).toBe('500180' + '04cb00710a28a0')
    expect(decodeTcpObserved(bytes)).toEqual({ host: '203.0.113.10', family: 4, port: 41000 })
  })

  it('refuses anything else', () => {
    expect(codeOf(() => decodeTcpObserved(unhex('5001')))).toBe('TRUNCATED')
    expect(codeOf(() => decodeTcpObserved(unhex('510180' + '04cb00710a28a0')))).toBe('BAD_MAGIC')
    expect(codeOf(() => decodeTcpObserved(unhex('500280' + '04cb00710a28a0')))).toBe('BAD_VERSION')
    expect(codeOf(() => decodeTcpObserved(unhex('500102' + '04cb00710a28a0')))).toBe('BAD_TYPE')
    expect(codeOf(() => decodeTcpObserved(unhex('500180' + '05cb00710a28a0')))).toBe('BAD_VALUE')
    expect(codeOf(() => decodeTcpObserved(unhex('500180' + '04cb00710a28a000')))).toBe('TRAILING_BYTES')
    expect(codeOf(() => decodeTcpObserved(new Uint8Array(40).fill(0x50)))).toBe('TOO_LONG')
  })
})
