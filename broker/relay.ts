// The relay's I/O shell: one UDP socket per allocation, on the IP of the listener the request came
// in on. A signed RELAY_BIND binds a side to its source address; once both sides are bound every
// other datagram from one bound address goes out, byte for byte, to the other. The relay reads
// only the 3-byte header of what it forwards (the streams are Noise-encrypted end to end).
// Quotas and routing decisions live in relay-table.ts, address rules in relay-policy.ts.
import dgram from 'node:dgram'
import type { Logger } from '../common/logger.js'
import { normalizeHost } from '../common/lifecycle.js'
import { ProtocolError } from '../protocol/errors.js'
import { keyToHex } from '../protocol/identity.js'
import { RateLimiter } from '../protocol/rate-limit.js'
import { ReplayGuard } from '../protocol/replay.js'
import { decodeMessage, encodeMessage, peekType, verifySigned } from '../protocol/wire.js'
import { relayRefusal, type RelayPolicy } from './relay-policy.js'
import { RelayTable, type Allocation, type RelayAddr, type RelayLimits } from './relay-table.js'

/** What an allocation request needs. */
export interface RelayWanted {
  /** Punch nonce of the introduction, and its hex (the allocation id). */
  punchNonce: Uint8Array
  id: string
  /** The two keys (requester first) and where the broker saw them. */
  keys: [Uint8Array, Uint8Array]
  observed: [RelayAddr, RelayAddr]
  listener: number
  /** IP the listener is bound to: the relay socket binds the same one. */
  listenerHost: string
}

/** JSON of the relay part of /stats. */
export interface RelayStats {
  allocations: number
  allocationsMade: number
  bytes: number
  packets: number
  dropped: Record<string, number>
}

/** Binds a side per source IP and second, before any signature is checked. */
const BIND_RATE = { ratePerS: 20, burst: 40 }

/** The relay of one broker. */
export class Relay {
  readonly table: RelayTable
  private readonly sockets = new Map<string, dgram.Socket>()
  private readonly guard = new ReplayGuard({ windowMs: 60_000 })
  private readonly bindLimiter = new RateLimiter(BIND_RATE)
  private readonly dropped = new Map<string, number>()
  private made = 0
  private bytes = 0
  private packets = 0
  private closed = false

  constructor(
    private readonly deps: {
      limits: RelayLimits
      policy: RelayPolicy
      clock: { now(): number }
      logger: Logger
      createSocket?: (type: 'udp4' | 'udp6') => dgram.Socket
    },
  ) {
    this.table = new RelayTable(deps.limits)
  }

  /** Make (or find) the allocation for an introduction; resolves with its port and end time, or why not. */
  async allocate(w: RelayWanted): Promise<{ ok: true; port: number; expiresAt: number } | { ok: false; reason: string; pending?: boolean }> {
    if (this.closed) return { ok: false, reason: 'the broker is stopping' }
    for (const o of w.observed) {
      const why = relayRefusal(o.host, this.deps.policy)
      if (why !== null) return this.refuse(`cannot relay to ${why}`)
    }
    const now = this.deps.clock.now()
    const r = this.table.reserve(w.id, keyToHex(w.keys[0]), keyToHex(w.keys[1]), w.listener, now)
    if (!r.ok) return this.refuse(r.reason)
    if (!r.fresh) {
      if (r.alloc.port !== null) return { ok: true, port: r.alloc.port, expiresAt: r.alloc.expiresAt }
      // The first request's socket is still binding: it answers both peers in a moment.
      return { ok: false, reason: 'allocation in progress', pending: true }
    }
    const host = w.listenerHost
    const socket = (this.deps.createSocket ?? ((t) => dgram.createSocket(t)))(host.includes(':') ? 'udp6' : 'udp4')
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject)
        socket.bind(0, host, () => {
          socket.off('error', reject)
          resolve()
        })
      })
    } catch (err) {
      this.table.remove(w.id)
      socket.close()
      this.deps.logger.warn({ err }, 'cannot open a relay socket')
      return this.refuse('the relay cannot open a socket')
    }
    socket.on('error', (err) => this.deps.logger.debug({ err, alloc: w.id.slice(0, 16) }, 'relay socket error'))
    socket.on('message', (buf, rinfo) => this.onDatagram(w.id, socket, buf, rinfo))
    if (this.closed || this.table.get(w.id) === undefined) {
      socket.close()
      return { ok: false, reason: 'the allocation ended' }
    }
    this.sockets.set(w.id, socket)
    const port = socket.address().port
    this.table.setPort(w.id, port)
    this.made++
    this.deps.logger.info({ alloc: w.id.slice(0, 16), port }, 'relay allocation made')
    return { ok: true, port, expiresAt: r.alloc.expiresAt }
  }

  /** End allocations past their lifetime or idle; close their sockets. */
  sweep(now: number): number {
    const gone = this.table.sweep(now)
    for (const a of gone) this.closeSocket(a)
    return gone.length
  }

  /** Counters for /stats. */
  stats(): RelayStats {
    return {
      allocations: this.table.size, allocationsMade: this.made, bytes: this.bytes, packets: this.packets,
      dropped: Object.fromEntries([...this.dropped].sort(([a], [b]) => a.localeCompare(b))),
    }
  }

  /** Close every relay socket. */
  close(): void {
    this.closed = true
    for (const a of [...this.table.all()]) {
      this.table.remove(a.id)
      this.closeSocket(a)
    }
  }

  private refuse(reason: string): { ok: false; reason: string } {
    this.drop('REFUSED')
    return { ok: false, reason }
  }

  private drop(reason: string): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1)
  }

  private closeSocket(a: Allocation): void {
    const s = this.sockets.get(a.id)
    this.sockets.delete(a.id)
    try {
      s?.close()
    } catch {
      // already closed
    }
  }

  // Whatever arrives, nothing escapes: a throw here would be remotely triggerable.
  private onDatagram(id: string, socket: dgram.Socket, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      const from = { host: normalizeHost(rinfo.address), port: rinfo.port }
      const now = this.deps.clock.now()
      if (peekType(buf) === 'relayBind') {
        this.onBind(id, socket, buf, from, now)
        return
      }
      const r = this.table.route(id, from, buf.length, now)
      if ('drop' in r) {
        this.drop(r.drop)
        return
      }
      this.bytes += buf.length
      this.packets++
      socket.send(buf, r.to.port, r.to.host, (err) => {
        if (err) this.drop('SEND_FAILED')
      })
    } catch (err) {
      this.drop('INTERNAL')
      this.deps.logger.error({ err }, 'relay datagram handler failed')
    }
  }

  private onBind(id: string, socket: dgram.Socket, buf: Buffer, from: RelayAddr, now: number): void {
    if (!this.bindLimiter.take(from.host, now)) return this.drop('BIND_RATE_LIMITED')
    let msg
    try {
      msg = decodeMessage(buf)
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e
      return this.drop(`BIND_${e.code}`)
    }
    if (msg.type !== 'relayBind' || keyToHex(msg.punchNonce) !== id) return this.drop('BIND_WRONG_ALLOCATION')
    const alloc = this.table.get(id)
    const keyHex = keyToHex(msg.key)
    const side = alloc?.sides.find((s) => s.key === keyHex)
    if (alloc === undefined || side === undefined) return this.drop('BIND_UNKNOWN_KEY')
    if (!verifySigned(buf, msg.key)) return this.drop('BIND_BAD_SIGNATURE')
    const verdict = this.guard.check(msg.key, msg.nonce, msg.timestamp, now, msg.sig)
    if (verdict === 'stale' || verdict === 'replayed') return this.drop(`BIND_${verdict.toUpperCase()}`)
    // An identical copy may only confirm the binding it made, never move it to its sender.
    if (verdict === 'retry' && !(side.bound !== null && side.bound.host === from.host && side.bound.port === from.port)) return this.drop('BIND_REPLAYED')
    const why = relayRefusal(from.host, this.deps.policy)
    if (why !== null) return this.drop('BIND_REFUSED_ADDRESS')
    const r = this.table.bind(id, keyHex, from, now)
    if (!r.ok) return this.drop('BIND_REFUSED')
    const answer = (peerBound: boolean): Uint8Array => encodeMessage({ type: 'relayBound', punchNonce: msg.punchNonce, peerBound })
    socket.send(answer(r.peerBound), from.port, from.host)
    // Tell the other side at once that forwarding runs, so it stops re-binding.
    const other = alloc.sides.find((s) => s !== side)?.bound
    if (r.peerBound && other) socket.send(answer(true), other.port, other.host)
  }
}
