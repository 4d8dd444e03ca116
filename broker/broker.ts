// The broker's I/O shell: UDP sockets, the lease sweep timer, rate limiting per source IP and
// the name file. Every decision is made by Registry (registry.ts); this file only carries it out.
import dgram from 'node:dgram'
import type { Logger } from '../common/logger.js'
import { normalizeHost } from '../common/lifecycle.js'
import { RateLimiter } from '../protocol/rate-limit.js'
import { Counters, type StatsSnapshot } from './counters.js'
import type { NameStore } from './name-store.js'
import { Registry, type RelayAsk, type Send } from './registry.js'
import { Relay, type RelayStats } from './relay.js'
import type { RelayPolicy } from './relay-policy.js'
import type { RelayLimits } from './relay-table.js'
import { keyToHex } from '../protocol/identity.js'
import { BrokerErrorCode, encodeMessage, type WireMessage } from '../protocol/wire.js'
import { TcpReflector } from './tcp-reflect.js'

/** A host and port to bind or that was bound. */
export interface HostPort {
  host: string
  port: number
}

/** What the broker needs from the outside world, injected so tests can substitute any of it. */
export interface BrokerDeps {
  /** UDP addresses to serve; port 0 picks a free port. */
  listen: HostPort[]
  /** Socket factory (default node:dgram's createSocket). */
  createSocket?: (type: 'udp4' | 'udp6') => dgram.Socket
  /** Wall clock in ms (also the time base of signed timestamps). */
  clock: { now(): number }
  /** Cryptographic randomness. */
  random: (n: number) => Uint8Array
  logger: Logger
  /** Where bound names persist; null keeps them in memory only. */
  store?: NameStore | null
}

/** Tunables of the broker. */
export interface BrokerOptions {
  /** Registration lease, seconds (default 90). */
  leaseS?: number
  /** Per-source-IP token bucket (default 50/s, burst 100). */
  rateLimit?: { ratePerS: number; burst: number }
  /** How often expired leases are swept, ms (default: a quarter lease, 250 ms to 5 s). */
  sweepIntervalMs?: number
  /** Relay between introduced peers with these quotas and address rules; null or absent = off. */
  relay?: { limits: RelayLimits; policy: RelayPolicy } | null
  /** Also answer TCP reflection on each listen address (default true). */
  tcpReflect?: boolean
}

/** JSON shape of GET /health. */
export interface Health {
  ok: true
  uptimeS: number
  registrations: number
}

/** The p2p-broker service: rendezvous over one or more UDP sockets. */
export class Broker {
  readonly counters = new Counters()
  readonly registry: Registry
  /** The relay, when on. */
  readonly relay: Relay | null
  private readonly deps: BrokerDeps
  private readonly log: Logger
  private readonly limiter: RateLimiter
  private readonly sweepIntervalMs: number
  private sockets: dgram.Socket[] = []
  private readonly tcp: TcpReflector | null
  private sweepTimer: NodeJS.Timeout | undefined
  private startedAt = 0
  private closed = false

  constructor(deps: BrokerDeps, opts: BrokerOptions = {}) {
    this.deps = deps
    this.log = deps.logger
    const leaseS = opts.leaseS ?? 90
    this.registry = new Registry({ random: deps.random, leaseS, counters: this.counters, relay: !!opts.relay })
    this.relay = opts.relay ? new Relay({ ...opts.relay, clock: deps.clock, logger: deps.logger.child({ component: 'relay' }), ...(deps.createSocket ? { createSocket: deps.createSocket } : {}) }) : null
    this.limiter = new RateLimiter(opts.rateLimit ?? { ratePerS: 50, burst: 100 })
    this.sweepIntervalMs = opts.sweepIntervalMs ?? Math.min(5000, Math.max(250, (leaseS * 1000) / 4))
    this.tcp = opts.tcpReflect === false ? null : new TcpReflector({ limiter: this.limiter, now: () => deps.clock.now(), logger: deps.logger, onDrop: (r) => this.counters.drop(`TCP_${r}`) })
  }

  /** Load names, bind every listener and start the sweep; resolves with the bound addresses. */
  async start(): Promise<HostPort[]> {
    this.startedAt = this.deps.clock.now()
    if (this.deps.store) this.registry.restoreNames(await this.deps.store.load())
    const make = this.deps.createSocket ?? ((type) => dgram.createSocket(type))
    try {
      for (const [i, addr] of this.deps.listen.entries()) {
        const socket = make(addr.host.includes(':') ? 'udp6' : 'udp4')
        this.sockets.push(socket)
        await bind(socket, addr)
        socket.on('message', (buf, rinfo) => this.onDatagram(i, buf, rinfo))
        // After binding, socket errors (e.g. ICMP-driven) are logged, never fatal.
        socket.on('error', (err) => this.log.warn({ err, listener: i }, 'udp socket error'))
      }
    } catch (err) {
      await this.close()
      throw err
    }
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepIntervalMs)
    this.sweepTimer.unref()
    const bound = this.addresses()
    // TCP reflection on the same numbers; without it peers still punch UDP, so a taken port is
    // a warning, not a failure.
    await this.tcp?.start(bound).catch((err: unknown) => this.log.warn({ err }, 'no TCP reflection: cannot listen on TCP'))
    this.log.info({ listen: bound, leaseS: this.registry.leaseS, names: this.registry.nameCount }, 'broker ready')
    return bound
  }

  /** The bound UDP addresses, in --listen order. */
  addresses(): HostPort[] {
    return this.sockets.map((s) => {
      const a = s.address()
      return { host: a.address, port: a.port }
    })
  }

  /** The bound TCP reflection addresses (empty when off). */
  tcpAddresses(): HostPort[] {
    return this.tcp?.addresses() ?? []
  }

  /** Stop the timer, close the sockets and finish pending name writes. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.sweepTimer)
    this.relay?.close()
    await this.tcp?.close()
    await Promise.all(this.sockets.map((s) => new Promise<void>((resolve) => {
      try {
        s.close(() => resolve())
      } catch {
        resolve() // never bound, or already closed
      }
    })))
    await this.deps.store?.close()
  }

  /** Counters for GET /stats (relay counters under `relay` when relaying is on). */
  stats(): StatsSnapshot & { relay: RelayStats | null } {
    const now = this.deps.clock.now()
    return { ...this.counters.snapshot({ uptimeS: this.uptimeS(now), registrations: this.registry.liveCount(now), names: this.registry.nameCount }), relay: this.relay?.stats() ?? null }
  }

  /** Liveness for GET /health. */
  health(): Health {
    const now = this.deps.clock.now()
    return { ok: true, uptimeS: this.uptimeS(now), registrations: this.registry.liveCount(now) }
  }

  private uptimeS(now: number): number {
    return Math.floor((now - this.startedAt) / 1000)
  }

  private sweep(): void {
    try {
      const n = this.registry.sweep(this.deps.clock.now())
      if (n > 0) this.log.debug({ expired: n }, 'leases expired')
      const r = this.relay?.sweep(this.deps.clock.now()) ?? 0
      if (r > 0) this.log.debug({ ended: r }, 'relay allocations ended')
    } catch (err) {
      this.log.error({ err }, 'lease sweep failed')
    }
  }

  // Whatever arrives, nothing escapes this function: a crash here would be remotely triggerable.
  private onDatagram(listener: number, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters.received++
    try {
      const now = this.deps.clock.now()
      // Cheapest check first: a flood from one address costs a map lookup, not a signature check.
      if (!this.limiter.take(normalizeHost(rinfo.address), now)) {
        this.counters.drop('RATE_LIMITED')
        return
      }
      const out = this.registry.handle(buf, { listener, host: rinfo.address, port: rinfo.port }, now)
      for (const send of out.sends) this.send(send)
      if (out.relay) void this.serveRelay(out.relay)
      if (out.namesChanged && this.deps.store) void this.deps.store.save(this.registry.nameTable())
    } catch (err) {
      this.counters.drop('INTERNAL')
      this.log.error({ err, from: `${rinfo.address}:${rinfo.port}` }, 'datagram handler failed')
    }
  }

  // Allocate (or find) the relay for an introduction, then tell both peers where it is: an
  // unspecified host when the listener is a wildcard (the peer uses the broker's address).
  private async serveRelay(ask: RelayAsk): Promise<void> {
    const msg = (m: WireMessage, to: { listener: number; host: string; port: number }): Send => ({ ...to, message: m, bytes: encodeMessage(m) })
    if (this.relay === null) return
    const listener = ask.from.listener
    const listenerHost = this.sockets[listener]?.address().address ?? '0.0.0.0'
    const r = await this.relay.allocate({
      punchNonce: ask.punchNonce, id: keyToHex(ask.punchNonce), keys: [ask.requester.key, ask.peer.key],
      observed: [ask.requester.observed, ask.peer.observed], listener, listenerHost,
    })
    if (!r.ok && r.pending) return
    if (!r.ok) {
      this.counters.refuse('RELAY_UNAVAILABLE')
      this.send(msg({ type: 'error', reqId: ask.reqId, code: BrokerErrorCode.RELAY_UNAVAILABLE, message: r.reason.slice(0, 64) }, ask.from))
      return
    }
    const limits = this.relay.table.limits
    const relay = { host: listenerHost, family: listenerHost.includes(':') ? 6 as const : 4 as const, port: r.port }
    // A second request for the same introduction gets what is left of the lifetime.
    const lifetimeS = Math.max(1, Math.ceil((r.expiresAt - this.deps.clock.now()) / 1000))
    const body = { punchNonce: ask.punchNonce, relay, lifetimeS, rateBytesPerS: limits.rateBytesPerS }
    this.send(msg({ type: 'relayAllocated', reqId: ask.reqId, ...body }, ask.from))
    this.send(msg({ type: 'relayAllocated', reqId: 0, ...body }, ask.peer.via))
  }

  private send(s: Send): void {
    const socket = this.sockets[s.listener]
    if (socket === undefined || this.closed) return
    this.log.debug({ type: s.message.type, to: `${s.host}:${s.port}`, bytes: s.bytes.length }, 'send')
    socket.send(s.bytes, s.port, s.host, (err) => {
      if (err) {
        this.counters.drop('SEND_FAILED')
        this.log.debug({ err, to: `${s.host}:${s.port}` }, 'send failed')
      } else {
        this.counters.sent++
      }
    })
  }
}

function bind(socket: dgram.Socket, addr: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err)
    socket.once('error', onError)
    socket.bind(addr.port, addr.host, () => {
      socket.off('error', onError)
      resolve()
    })
  })
}
