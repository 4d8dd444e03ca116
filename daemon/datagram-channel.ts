// Datagrams over one flow's encrypted stream: secret-stream's unreliable messages (no
// retransmission, no reordering buffer, boundaries kept), each framed with a sequence number
// that a replay window checks on arrival.
import { EventEmitter } from 'node:events'
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import { DATAGRAM_HEADER, ReplayWindow, decodeDatagram, encodeDatagram } from '../protocol/datagram.js'

// UDX header (20) + secret-stream envelope (8-byte nonce + 16-byte MAC).
const PATH_OVERHEAD = 20 + 8 + 16
// UDP payload of a 1500-byte Ethernet path. Larger datagrams would be IP-fragmented, so they are
// dropped and counted instead; this leaves 1420 bytes per datagram, WireGuard's default MTU.
const PATH_UDP_PAYLOAD = 1472

/** Datagram counters of one flow. */
export interface DatagramStats {
  datagramsIn: number
  datagramsOut: number
  bytesIn: number
  bytesOut: number
  drops: Record<string, number>
}

/** Fresh zeroed stats. */
export function newStats(): DatagramStats {
  return { datagramsIn: 0, datagramsOut: 0, bytesIn: 0, bytesOut: 0, drops: {} }
}

/** Count one drop by reason. */
export function countDrop(stats: DatagramStats, reason: string): void {
  stats.drops[reason] = (stats.drops[reason] ?? 0) + 1
}

/** One flow's datagram pipe; emits 'datagram' (payload) and 'close'. */
export class DatagramChannel extends EventEmitter {
  readonly stats = newStats()
  private seq = 0
  private readonly window = new ReplayWindow()
  private closed = false

  constructor(private readonly stream: NoiseSecretStream, private readonly parentStats?: DatagramStats) {
    super()
    stream.on('message', (m: Buffer) => this.onMessage(m))
    stream.on('error', () => {})
    stream.on('close', () => this.close())
    // Reliable bytes never flow on a datagram stream; keep it readable so end/close arrive.
    stream.on('data', () => {})
  }

  /** Largest payload the path carries in one datagram unfragmented (1420 bytes). */
  get maxPayload(): number {
    return PATH_UDP_PAYLOAD - PATH_OVERHEAD - DATAGRAM_HEADER
  }

  /** Send one datagram; oversize ones are dropped and counted, never fragmented. */
  send(payload: Uint8Array): void {
    if (this.closed) return
    if (payload.length > this.maxPayload) {
      this.drop('oversize')
      return
    }
    this.stream.trySend(encodeDatagram(this.seq++, payload))
    this.stats.datagramsOut++
    this.stats.bytesOut += payload.length
    if (this.parentStats) {
      this.parentStats.datagramsOut++
      this.parentStats.bytesOut += payload.length
    }
  }

  /** Close the flow (and its stream). */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.stream.destroy()
    this.emit('close')
  }

  private onMessage(m: Buffer): void {
    let d: { seq: number; payload: Uint8Array }
    try {
      d = decodeDatagram(m)
    } catch {
      this.drop('malformed')
      return
    }
    if (!this.window.accept(d.seq)) {
      this.drop('replay')
      return
    }
    this.stats.datagramsIn++
    this.stats.bytesIn += d.payload.length
    if (this.parentStats) {
      this.parentStats.datagramsIn++
      this.parentStats.bytesIn += d.payload.length
    }
    this.emit('datagram', d.payload)
  }

  private drop(reason: string): void {
    countDrop(this.stats, reason)
    if (this.parentStats) countDrop(this.parentStats, reason)
  }
}
