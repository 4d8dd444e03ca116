// UDP-forward datagrams inside a flow's encrypted stream messages: an 8-byte sequence number
// (little-endian) then the payload. The sequence feeds a replay window (WireGuard-style), so a
// datagram replayed on the path is delivered at most once.
import { ProtocolError } from './errors.js'

/** Bytes our framing adds to each datagram. */
export const DATAGRAM_HEADER = 8

/** Frame `payload` with sequence `seq` (0 <= seq < 2^53). */
export function encodeDatagram(seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(DATAGRAM_HEADER + payload.length)
  const v = new DataView(out.buffer)
  v.setUint32(0, seq >>> 0, true)
  v.setUint32(4, Math.floor(seq / 0x100000000), true)
  out.set(payload, DATAGRAM_HEADER)
  return out
}

/** Split a framed datagram. Throws ProtocolError when shorter than the header. */
export function decodeDatagram(buf: Uint8Array): { seq: number; payload: Uint8Array } {
  if (buf.length < DATAGRAM_HEADER) throw new ProtocolError('TRUNCATED', `datagram of ${buf.length} bytes`)
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const hi = v.getUint32(4, true)
  if (hi > 0x1fffff) throw new ProtocolError('BAD_VALUE', 'sequence number beyond 2^53')
  return { seq: hi * 0x100000000 + v.getUint32(0, true), payload: buf.subarray(DATAGRAM_HEADER) }
}

/** Sliding-window replay filter (RFC 6479 style): accepts each sequence number at most once. */
export class ReplayWindow {
  private readonly bits: Uint32Array
  private top = -1

  /** `size` sequence numbers behind the newest are remembered (a multiple of 32). */
  constructor(private readonly size = 2048) {
    if (size % 32 !== 0 || size <= 0) throw new RangeError('window size must be a positive multiple of 32')
    this.bits = new Uint32Array(size / 32)
  }

  /** True the first time `seq` is seen within the window; false for replays and too-old ones. */
  accept(seq: number): boolean {
    if (!Number.isSafeInteger(seq) || seq < 0) return false
    if (seq > this.top) {
      // Clear the slots we slide over (all of them if we jumped a whole window).
      const steps = Math.min(seq - this.top, this.size)
      for (let i = 1; i <= steps; i++) this.clear(this.top + i)
      this.top = seq
      this.set(seq)
      return true
    }
    if (this.top - seq >= this.size) return false
    if (this.get(seq)) return false
    this.set(seq)
    return true
  }

  private slot(seq: number): [number, number] {
    const i = seq % this.size
    return [i >>> 5, 1 << (i & 31)]
  }

  private get(seq: number): boolean {
    const [w, m] = this.slot(seq)
    return (this.bits[w]! & m) !== 0
  }

  private set(seq: number): void {
    const [w, m] = this.slot(seq)
    this.bits[w]! |= m
  }

  private clear(seq: number): void {
    const [w, m] = this.slot(seq)
    this.bits[w]! &= ~m
  }
}
