// A UDP forward: one local socket; each local source address:port is a flow with its own
// encrypted stream to the peer (so replies go back to the right sender); idle flows expire.
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { isIPv6 } from 'node:net'
import { AppError } from '../common/errors.js'
import { formatHostPort } from '../common/lifecycle.js'
import type { Logger } from '../common/logger.js'
import { DatagramChannel, countDrop, newStats, type DatagramStats } from './datagram-channel.js'
import type { PeerSession } from './session.js'

/** Per-flow view for the API. */
export interface FlowInfo { source: string; datagramsIn: number; datagramsOut: number; bytesIn: number; bytesOut: number; idleS: number }

interface Flow {
  source: { address: string; port: number }
  channel: DatagramChannel | null
  pending: Buffer[]
  lastActive: number
  closed: boolean
  /** After a refused open, datagrams from this source are dropped until then (no open storms). */
  refusedUntil: number
}

/** Settings of one UDP forward. */
export interface UdpForwardOptions {
  bindHost: string
  port: number
  toHost: string
  toPort: number
  /** Idle time after which a flow is closed, ms. */
  idleMs: number
  /** Most concurrent flows; more are dropped and counted. */
  maxFlows: number
  /** The session to the peer (connects on demand). */
  session: () => Promise<PeerSession>
  logger: Logger
}

const PENDING_MAX = 256
const REFUSED_HOLD_MS = 5_000

/** The local end of a UDP forward. */
export class UdpForwarder {
  readonly stats: DatagramStats = newStats()
  private readonly flows = new Map<string, Flow>()
  /** Why the last flow could not be opened (shown by the API). */
  lastError: Error | null = null
  private socket: UdpSocket | null = null
  private sweep: NodeJS.Timeout | null = null

  constructor(private readonly opts: UdpForwardOptions) {}

  /** Bind the local socket; PORT_IN_USE when taken. */
  listen(): Promise<void> {
    const sock = createSocket({ type: isIPv6(this.opts.bindHost) ? 'udp6' : 'udp4', recvBufferSize: 1024 * 1024, sendBufferSize: 1024 * 1024 })
    this.socket = sock
    return new Promise((resolve, reject) => {
      sock.once('error', (err: NodeJS.ErrnoException) => {
        this.socket = null
        if (err.code === 'EADDRINUSE') {
          reject(new AppError('PORT_IN_USE', `udp ${formatHostPort(this.opts.bindHost, this.opts.port)} is already in use on this machine`, `pick another local port, e.g.: p2pctl forward ${this.opts.port + 10000 <= 65535 ? this.opts.port + 10000 : 18080} --udp --peer PEER --to ${this.opts.toPort}`))
        } else reject(new AppError('BAD_REQUEST', `cannot listen on udp ${formatHostPort(this.opts.bindHost, this.opts.port)}: ${err.code ?? err.message}`))
      })
      sock.bind(this.opts.port, this.opts.bindHost, () => {
        sock.removeAllListeners('error')
        sock.on('error', (err) => this.opts.logger.warn({ err }, 'udp forward socket error'))
        sock.on('message', (msg, rinfo) => this.onLocal(msg, rinfo))
        this.sweep = setInterval(() => this.expire(), Math.max(250, Math.min(this.opts.idleMs / 4, 5000)))
        this.sweep.unref()
        resolve()
      })
    })
  }

  /** Number of live flows. */
  get flowCount(): number {
    return this.flows.size
  }

  /** Per-flow counters. */
  flowList(): FlowInfo[] {
    const now = Date.now()
    return [...this.flows.values()].map((f) => ({
      source: formatHostPort(f.source.address, f.source.port),
      datagramsIn: f.channel?.stats.datagramsIn ?? 0,
      datagramsOut: f.channel?.stats.datagramsOut ?? 0,
      bytesIn: f.channel?.stats.bytesIn ?? 0,
      bytesOut: f.channel?.stats.bytesOut ?? 0,
      idleS: Math.floor((now - f.lastActive) / 1000),
    }))
  }

  /** Close the socket and every flow. */
  async close(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep)
    for (const f of this.flows.values()) this.closeFlow(f)
    const s = this.socket
    this.socket = null
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  private onLocal(msg: Buffer, rinfo: { address: string; port: number }): void {
    const key = `${rinfo.address}|${rinfo.port}`
    let f = this.flows.get(key)
    if (f && f.refusedUntil > 0) {
      if (Date.now() < f.refusedUntil) {
        countDrop(this.stats, 'refused')
        return
      }
      this.flows.delete(key)
      f = undefined
    }
    if (!f) {
      if (this.flows.size >= this.opts.maxFlows) {
        countDrop(this.stats, 'flowLimit')
        return
      }
      f = { source: { address: rinfo.address, port: rinfo.port }, channel: null, pending: [], lastActive: Date.now(), closed: false, refusedUntil: 0 }
      this.flows.set(key, f)
      void this.openFlow(f, key)
    }
    f.lastActive = Date.now()
    if (f.channel) f.channel.send(msg)
    else if (f.pending.length < PENDING_MAX) f.pending.push(msg)
    else countDrop(this.stats, 'opening')
  }

  private async openFlow(f: Flow, key: string): Promise<void> {
    try {
      const session = await this.opts.session()
      const stream = await session.open('udp', this.opts.toHost, this.opts.toPort)
      if (f.closed) {
        stream.destroy()
        return
      }
      const ch = new DatagramChannel(stream, this.stats)
      f.channel = ch
      ch.on('datagram', (payload: Uint8Array) => {
        f.lastActive = Date.now()
        this.socket?.send(payload, f.source.port, f.source.address)
      })
      ch.on('close', () => {
        if (this.flows.get(key) === f) this.flows.delete(key)
        f.closed = true
      })
      for (const m of f.pending) ch.send(m)
      f.pending = []
    } catch (err) {
      countDrop(this.stats, 'openFailed')
      this.opts.logger.warn({ err: (err as Error).message, source: key }, 'udp flow could not be opened')
      this.lastError = err as Error
      f.pending = []
      f.refusedUntil = Date.now() + REFUSED_HOLD_MS
    }
  }

  private expire(): void {
    const cutoff = Date.now() - this.opts.idleMs
    for (const [key, f] of this.flows) {
      if (f.lastActive < cutoff && (f.refusedUntil === 0 || Date.now() >= f.refusedUntil)) {
        this.flows.delete(key)
        this.closeFlow(f)
      }
    }
  }

  private closeFlow(f: Flow): void {
    f.closed = true
    f.channel?.close()
  }
}
