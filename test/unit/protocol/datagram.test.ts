import { describe, expect, it } from 'vitest'
import { ReplayWindow, decodeDatagram, encodeDatagram } from '../../../protocol/datagram.js'
import { ProtocolError } from '../../../protocol/errors.js'

describe('datagram framing', () => {
  it('round-trips sequence numbers up to 2^53 and keeps the payload', () => {
    for (const seq of [0, 1, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER]) {
      const payload = new Uint8Array([1, 2, 3, seq & 255])
      const d = decodeDatagram(encodeDatagram(seq, payload))
      expect(d.seq).toBe(seq)
      expect([...d.payload]).toEqual([...payload])
    }
  })

  it('golden vector: seq 0x0102030405 and payload "hi"', () => {
    expect(Buffer.from(encodeDatagram(0x0102030405, new TextEncoder().encode('hi'))).toString('hex')).toBe('05040302010000006869')
  })

  it('refuses short input and out-of-range sequence numbers with ProtocolError', () => {
    expect(() => decodeDatagram(new Uint8Array(7))).toThrow(ProtocolError)
    expect(() => decodeDatagram(new Uint8Array([0, 0, 0, 0, 0, 0, 0x20, 0]))).toThrow(ProtocolError)
  })
})

describe('ReplayWindow', () => {
  it('accepts each sequence number once, in any order within the window', () => {
    const w = new ReplayWindow(64)
    const order = [5, 3, 4, 10, 6, 9, 7, 8, 0, 1, 2]
    for (const s of order) expect(w.accept(s), `first ${s}`).toBe(true)
    for (const s of order) expect(w.accept(s), `replay ${s}`).toBe(false)
  })

  it('refuses what fell out of the window, and forgets correctly after a jump', () => {
    const w = new ReplayWindow(64)
    expect(w.accept(100)).toBe(true)
    expect(w.accept(36)).toBe(false)
    expect(w.accept(37)).toBe(true)
    expect(w.accept(1000)).toBe(true)
    // Slots reused after the jump must not remember 100 or 37.
    expect(w.accept(1000 - 63)).toBe(true)
    expect(w.accept(1000 - 64)).toBe(false)
    expect(w.accept(1000)).toBe(false)
  })

  it('matches a reference set over a long random run', () => {
    const w = new ReplayWindow(256)
    const seen = new Set<number>()
    let top = -1
    let x = 12345
    const rand = (): number => (x = (x * 1103515245 + 12345) % 2147483648)
    for (let i = 0; i < 20000; i++) {
      const seq = Math.max(0, top + (rand() % 300) - 200)
      const expected = !(seen.has(seq) || top - seq >= 256)
      expect(w.accept(seq), `seq ${seq} top ${top}`).toBe(expected)
      if (expected) {
        seen.add(seq)
        top = Math.max(top, seq)
      }
    }
  })
})
