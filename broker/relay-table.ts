// The relay's allocations and quotas, without I/O: one allocation per introduction (punch
// nonce) for a pair of keys, each side bound to the address its signed RELAY_BIND came from,
// a token bucket per direction, a lifetime and an idle timeout, caps per key and in total.
// Fed the time; relay.ts owns the sockets and carries the decisions out.

/** A transport address. */
export interface RelayAddr { host: string; port: number }

/** Quotas of a relay. */
export interface RelayLimits {
  /** Bytes per second each direction of an allocation may carry; 0 = no cap. */
  rateBytesPerS: number
  /** An allocation ends this long after it was made, seconds. */
  lifetimeS: number
  /** An allocation ends after this long without a forwarded datagram (or a bind), seconds. */
  idleS: number
  /** Most allocations at once. */
  maxTotal: number
  /** Most allocations one key takes part in at once. */
  maxPerKey: number
}

/** Defaults: a personal or small-team broker; public operators lower them or run --no-relay. */
export const DEFAULT_RELAY_LIMITS: RelayLimits = { rateBytesPerS: 8 * 1024 * 1024, lifetimeS: 3600, idleS: 60, maxTotal: 256, maxPerKey: 8 }

/** Smallest token bucket, bytes: a few full datagrams even at tiny rates. */
const MIN_BURST = 64 * 1024
/** The bucket holds this many seconds of the rate: room for congestion-window bursts (a smaller one
 * polices UDX down to well under the cap: 0.25 s gave ~65 % of it in the lab, 1 s ~90 %). */
const BURST_S = 1

interface Side { key: string; bound: RelayAddr | null; tokens: number; last: number }

/** One relay allocation. */
export interface Allocation {
  /** The punch nonce, hex. */
  id: string
  /** Listener the request came in on (the relay socket binds that listener's IP). */
  listener: number
  sides: [Side, Side]
  /** The relay socket's port once bound, else null. */
  port: number | null
  createdAt: number
  expiresAt: number
  lastActive: number
  bytes: number
  packets: number
}

/** Why a datagram was not forwarded. */
export type RelayDrop = 'UNBOUND_SOURCE' | 'PEER_UNBOUND' | 'OVER_RATE' | 'EXPIRED'

/** Allocations of one relay. */
export class RelayTable {
  private readonly allocs = new Map<string, Allocation>()
  private readonly perKey = new Map<string, number>()
  private readonly burst: number

  constructor(readonly limits: RelayLimits) {
    this.burst = Math.max(MIN_BURST, limits.rateBytesPerS * BURST_S)
  }

  /** Number of live allocations. */
  get size(): number {
    return this.allocs.size
  }

  /** The allocation for a punch nonce (hex). */
  get(id: string): Allocation | undefined {
    return this.allocs.get(id)
  }

  /** Every allocation (for stats). */
  all(): IterableIterator<Allocation> {
    return this.allocs.values()
  }

  /** The allocation for `id` between keys a and b: the existing one (either order) or a new one within the quotas. */
  reserve(id: string, a: string, b: string, listener: number, now: number): { ok: true; alloc: Allocation; fresh: boolean } | { ok: false; reason: string } {
    const existing = this.allocs.get(id)
    if (existing !== undefined) {
      const keys = existing.sides.map((s) => s.key)
      if (!(keys.includes(a) && keys.includes(b))) return { ok: false, reason: 'that introduction belongs to other peers' }
      if (now >= existing.expiresAt) return { ok: false, reason: 'the allocation has expired' }
      return { ok: true, alloc: existing, fresh: false }
    }
    if (this.allocs.size >= this.limits.maxTotal) return { ok: false, reason: `the relay is full (${this.limits.maxTotal} allocations)` }
    for (const k of [a, b]) {
      if ((this.perKey.get(k) ?? 0) >= this.limits.maxPerKey) return { ok: false, reason: `a peer already has ${this.limits.maxPerKey} relay allocations` }
    }
    const side = (key: string): Side => ({ key, bound: null, tokens: this.burst, last: now })
    const alloc: Allocation = { id, listener, sides: [side(a), side(b)], port: null, createdAt: now, expiresAt: now + this.limits.lifetimeS * 1000, lastActive: now, bytes: 0, packets: 0 }
    this.allocs.set(id, alloc)
    for (const k of [a, b]) this.perKey.set(k, (this.perKey.get(k) ?? 0) + 1)
    return { ok: true, alloc, fresh: true }
  }

  /** Record the relay socket's port. */
  setPort(id: string, port: number): void {
    const a = this.allocs.get(id)
    if (a !== undefined) a.port = port
  }

  /** Bind `key`'s side to `from` (an authenticated RELAY_BIND). */
  bind(id: string, key: string, from: RelayAddr, now: number): { ok: true; peerBound: boolean } | { ok: false; reason: string } {
    const a = this.allocs.get(id)
    if (a === undefined || now >= a.expiresAt) return { ok: false, reason: 'no such allocation' }
    const i = a.sides.findIndex((s) => s.key === key)
    if (i < 0) return { ok: false, reason: 'key is not part of this allocation' }
    a.sides[i]!.bound = { host: from.host, port: from.port }
    a.lastActive = now
    return { ok: true, peerBound: a.sides[1 - i]!.bound !== null }
  }

  /** Where a datagram of `bytes` from `from` goes, or why it is dropped. */
  route(id: string, from: RelayAddr, bytes: number, now: number): { to: RelayAddr } | { drop: RelayDrop } {
    const a = this.allocs.get(id)
    if (a === undefined || now >= a.expiresAt) return { drop: 'EXPIRED' }
    const i = a.sides.findIndex((s) => s.bound !== null && s.bound.port === from.port && s.bound.host === from.host)
    if (i < 0) return { drop: 'UNBOUND_SOURCE' }
    const src = a.sides[i]!
    const dst = a.sides[1 - i]!.bound
    if (dst === null) return { drop: 'PEER_UNBOUND' }
    if (this.limits.rateBytesPerS > 0) {
      src.tokens = Math.min(this.burst, src.tokens + (Math.max(0, now - src.last) * this.limits.rateBytesPerS) / 1000)
      src.last = Math.max(src.last, now)
      if (src.tokens < bytes) return { drop: 'OVER_RATE' }
      src.tokens -= bytes
    }
    a.lastActive = now
    a.bytes += bytes
    a.packets++
    return { to: dst }
  }

  /** Remove allocations past their lifetime or idle too long; returns them (their sockets must close). */
  sweep(now: number): Allocation[] {
    const gone: Allocation[] = []
    for (const a of this.allocs.values()) {
      if (now >= a.expiresAt || now - a.lastActive >= this.limits.idleS * 1000) gone.push(a)
    }
    for (const a of gone) this.remove(a.id)
    return gone
  }

  /** Drop an allocation now. */
  remove(id: string): void {
    const a = this.allocs.get(id)
    if (a === undefined) return
    this.allocs.delete(id)
    for (const s of a.sides) {
      const n = (this.perKey.get(s.key) ?? 1) - 1
      if (n <= 0) this.perKey.delete(s.key)
      else this.perKey.set(s.key, n)
    }
  }
}
