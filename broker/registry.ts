// The broker's decisions, without I/O: registrations and their leases, first-come names, and
// introductions. Fed a datagram, where it came from and the time; returns what to send.
// broker.ts owns the sockets and timers and does nothing but carry these results out.
//
// Retries. The daemon re-sends the IDENTICAL datagram when an answer is lost, so the replay
// guard is told the signature as a tag and reports an identical second copy as 'retry'
// (Ed25519 signatures are deterministic: same bytes, same signature). Only a DIFFERENT message
// reusing a (key, nonce) is REPLAYED. A retried REGISTER is answered again; a retried CONNECT
// is introduced again with the same punch nonce; a retried UNREGISTER changes nothing.
import type { IpAddress } from '../protocol/codec.js'
import { ProtocolError } from '../protocol/errors.js'
import { keyToHex } from '../protocol/identity.js'
import { isValidWireName, nameError } from '../protocol/names.js'
import { ReplayGuard } from '../protocol/replay.js'
import { BrokerErrorCode, MAX_ERROR_TEXT, decodeMessage, encodeMessage, verifySigned, type Connect, type NatMapping, type Register, type RegisterEndpoint, type RelayRequest, type Unregister, type WireMessage } from '../protocol/wire.js'
import { normalizeHost } from '../common/lifecycle.js'
import { Counters } from './counters.js'
import { IntroMemory } from './intro-memory.js'
import { candidatesOf, liveExtras, withExtra, type ExtraEndpoint } from './endpoints.js'

/** Where a datagram came from: the listener it arrived on and the sender as that socket saw it. */
export interface Source {
  listener: number
  host: string
  port: number
}

/** A datagram to send, already encoded. */
export interface Send {
  listener: number
  host: string
  port: number
  message: WireMessage
  bytes: Uint8Array
}

/** What handling one datagram produced. */
export interface Outcome {
  sends: Send[]
  /** True when a name was bound: the caller should persist the name table. */
  namesChanged: boolean
  /** A valid RELAY_REQUEST: the caller allocates (or finds) the relay and answers both peers. */
  relay?: RelayAsk
}

/** An authenticated relay request for an introduction this broker made. */
export interface RelayAsk {
  reqId: number
  punchNonce: Uint8Array
  requester: Registration
  peer: Registration
  /** Where the request came from (the answer goes there). */
  from: Source
}

/** One peer's live registration. */
export interface Registration {
  key: Uint8Array
  keyHex: string
  name: string
  /** The public address the broker saw (normalized host). */
  observed: IpAddress
  /** Where to send to reach it: listener index and the address as that socket reports it. */
  via: Source
  hosts: IpAddress[]
  /** Its other sockets' addresses as seen here (REGISTER_ENDPOINT), each with its own lease. */
  extras: ExtraEndpoint[]
  /** The peer's own classification of its NAT, passed on in introductions. */
  nat: NatMapping
  expiresAt: number
}

/** Options for Registry. */
export interface RegistryOptions {
  /** Source of punch nonces (32 bytes each). */
  random: (n: number) => Uint8Array
  /** Lease granted by a REGISTER, seconds (default 90). */
  leaseS?: number
  /** Accepted clock difference for signed requests, ms (default 60 000). */
  windowMs?: number
  /** A CONNECT with the same (key, reqId) within this many ms reuses its punch nonce (default 10 000). */
  retryMs?: number
  /** Most registrations held at once (default 100 000). */
  maxRegistrations?: number
  /** Most names ever bound (they are kept forever; default 100 000). */
  maxNames?: number
  /** Names already bound: [name, key hex]. */
  names?: Iterable<[string, string]>
  /** Where to count refusals and drops. */
  counters?: Counters
  /** Whether RELAY_REQUEST is served (default false: refused as RELAY_UNAVAILABLE). */
  relay?: boolean
}

type ErrorName = keyof typeof BrokerErrorCode
const EMPTY: Outcome = { sends: [], namesChanged: false }

/** Registrations, names and introductions of one broker. */
export class Registry {
  readonly leaseS: number
  readonly counters: Counters
  private readonly maxRegistrations: number
  private readonly maxNames: number
  private readonly guard: ReplayGuard
  private readonly regs = new Map<string, Registration>()
  private readonly names = new Map<string, string>()
  // Observed "host:port" -> keys registered from it: the addresses a reply may be large to.
  private readonly byObserved = new Map<string, Set<string>>()
  private readonly intros: IntroMemory
  private readonly relay: boolean

  constructor(opts: RegistryOptions) {
    this.leaseS = opts.leaseS ?? 90
    this.maxRegistrations = opts.maxRegistrations ?? 100_000
    this.intros = new IntroMemory({ random: opts.random, retryMs: opts.retryMs ?? 10_000, max: this.maxRegistrations })
    this.maxNames = opts.maxNames ?? 100_000
    this.counters = opts.counters ?? new Counters()
    this.relay = opts.relay ?? false
    this.guard = new ReplayGuard({ windowMs: opts.windowMs ?? 60_000 })
    this.restoreNames(opts.names ?? [])
  }

  /** Bind names loaded from disk: [name, key hex]. */
  restoreNames(names: Iterable<[string, string]>): void {
    for (const [name, keyHex] of names) this.names.set(name, keyHex.toLowerCase())
  }

  /** Handle one datagram received from `from` at `now`. Never throws on bad input. */
  handle(datagram: Uint8Array, from: Source, now: number): Outcome {
    let msg: WireMessage
    try {
      msg = decodeMessage(datagram)
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e
      this.counters.drop(e.code)
      return EMPTY
    }
    let out: Outcome
    switch (msg.type) {
      case 'register':
        out = this.register(msg, datagram, from, now)
        break
      case 'connect':
        out = this.connect(msg, datagram, from, now)
        break
      case 'unregister':
        out = this.unregister(msg, datagram, from, now)
        break
      case 'registerEndpoint':
        out = this.registerEndpoint(msg, datagram, from, now)
        break
      case 'relayRequest':
        out = this.relayRequest(msg, datagram, from, now)
        break
      default:
        // Messages peers send each other (or a broker sends): not ours to answer.
        this.counters.drop('NOT_SERVED')
        return EMPTY
    }
    return { ...out, sends: out.sends.filter((s) => this.allowed(s, datagram.length, now)) }
  }

  /** Drop every registration whose lease ran out; returns how many. */
  sweep(now: number): number {
    let n = 0
    for (const reg of [...this.regs.values()]) {
      if (reg.expiresAt <= now) {
        this.remove(reg)
        n++
      }
    }
    this.intros.sweep(now)
    return n
  }

  /** The live registration of `key`, if any. */
  lookup(key: Uint8Array | string, now: number): Registration | undefined {
    const reg = this.regs.get(typeof key === 'string' ? key : keyToHex(key))
    return reg !== undefined && reg.expiresAt > now ? reg : undefined
  }

  /** Number of live registrations. */
  liveCount(now: number): number {
    let n = 0
    for (const reg of this.regs.values()) if (reg.expiresAt > now) n++
    return n
  }

  /** Number of bound names. */
  get nameCount(): number {
    return this.names.size
  }

  /** The name table, name -> key hex, sorted by name (what name-store persists). */
  nameTable(): Record<string, string> {
    return Object.fromEntries([...this.names].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  }

  /** True when `host:port` is the observed address of a live registration. */
  isRegisteredAddress(host: string, port: number, now: number): boolean {
    const keys = this.byObserved.get(addrId(normalizeHost(host), port))
    if (keys === undefined) return false
    for (const k of keys) if (this.lookup(k, now) !== undefined) return true
    return false
  }

  private register(msg: Register, datagram: Uint8Array, from: Source, now: number): Outcome {
    const verdict = this.authenticate(msg, datagram, from, now)
    if (verdict.refusal !== undefined) return verdict.refusal
    const keyHex = keyToHex(msg.key)
    const existing = this.lookup(keyHex, now)
    if (verdict.retry && existing !== undefined) {
      // The answer was lost: say it again, changing nothing (a newer REGISTER may have landed
      // since). A copy from another address is a replay, not a retry: it must not move the peer.
      if (!sameSource(existing.via, from)) return this.refuse(msg.reqId, from, 'REPLAYED', 'nonce reused from another address')
      return this.reply(from, { type: 'registered', reqId: msg.reqId, observed: existing.observed, leaseS: this.leaseS })
    }
    if (!isValidWireName(msg.name)) return this.refuse(msg.reqId, from, 'BAD_REQUEST', nameError(msg.name) ?? 'bad name')
    const owner = msg.name === '' ? undefined : this.names.get(msg.name)
    if (owner !== undefined && owner !== keyHex) return this.refuse(msg.reqId, from, 'NAME_TAKEN', `name ${msg.name} is taken by another key`)
    if (existing === undefined && this.regs.size >= this.maxRegistrations) {
      this.sweep(now)
      if (this.regs.size >= this.maxRegistrations) return this.refuse(msg.reqId, from, 'BAD_REQUEST', 'broker is full; try later')
    }
    // Bound only once the registration will succeed, and then for good.
    const namesChanged = msg.name !== '' && owner === undefined
    if (namesChanged) {
      if (this.names.size >= this.maxNames) return this.refuse(msg.reqId, from, 'BAD_REQUEST', 'broker name table is full')
      this.names.set(msg.name, keyHex)
    }
    const observed = observedOf(from)
    const stale = this.regs.get(keyHex)
    if (stale !== undefined) this.remove(stale)
    // The peer's other endpoints outlive a move of its main one (they have leases of their own).
    const extras = stale === undefined ? [] : liveExtras(stale.extras, observed, now)
    this.add({ key: new Uint8Array(msg.key), keyHex, name: msg.name, observed, via: { ...from }, hosts: msg.hosts, extras, nat: msg.nat, expiresAt: now + this.leaseS * 1000 })
    const out = this.reply(from, { type: 'registered', reqId: msg.reqId, observed, leaseS: this.leaseS })
    return { ...out, namesChanged }
  }

  private connect(msg: Connect, datagram: Uint8Array, from: Source, now: number): Outcome {
    const verdict = this.authenticate(msg, datagram, from, now)
    if (verdict.refusal !== undefined) return verdict.refusal
    // A retry needs no special path here: the (key, reqId) memory below makes it idempotent.
    const requester = this.lookup(msg.key, now)
    if (requester === undefined) return this.refuse(msg.reqId, from, 'NOT_REGISTERED', 'register before connecting')
    const target = this.resolve(msg.target, now)
    if (target === undefined) return this.refuse(msg.reqId, from, 'UNKNOWN_PEER', `no peer ${targetLabel(msg.target)} is registered`)
    if (target.keyHex === requester.keyHex) return this.refuse(msg.reqId, from, 'BAD_REQUEST', 'cannot connect to yourself')
    const { punchNonce, fresh } = this.intros.nonceFor(requester.keyHex, msg.reqId, target.keyHex, now, verdict.retry)
    if (fresh) this.counters.introductions++
    this.intros.remember(keyToHex(punchNonce), requester.keyHex, target.keyHex, now)
    // Both sides are told in the same tick so that they start punching at the same moment.
    const toTarget = this.reply(target.via, {
      type: 'introduce', reqId: 0, peerKey: requester.key, peerName: requester.name,
      candidates: candidatesOf(requester, now), punchNonce, requester: false, peerNat: requester.nat,
    })
    const toRequester = this.reply(from, {
      type: 'introduce', reqId: msg.reqId, peerKey: target.key, peerName: target.name,
      candidates: candidatesOf(target, now), punchNonce, requester: true, peerNat: target.nat,
    })
    return { sends: [...toTarget.sends, ...toRequester.sends], namesChanged: false }
  }

  private relayRequest(msg: RelayRequest, datagram: Uint8Array, from: Source, now: number): Outcome {
    const verdict = this.authenticate(msg, datagram, from, now)
    if (verdict.refusal !== undefined) return verdict.refusal
    if (!this.relay) return this.refuse(msg.reqId, from, 'RELAY_UNAVAILABLE', 'relaying is off on this broker')
    const requester = this.lookup(msg.key, now)
    if (requester === undefined) return this.refuse(msg.reqId, from, 'NOT_REGISTERED', 'register before asking for a relay')
    const peer = this.lookup(msg.peerKey, now)
    if (peer === undefined) return this.refuse(msg.reqId, from, 'UNKNOWN_PEER', 'the peer is not registered')
    // Only a pair this broker introduced, with that very nonce: no relaying to whoever one names.
    const intro = this.intros.pair(keyToHex(msg.punchNonce))
    const pair = intro === undefined ? [] : [intro.a, intro.b]
    if (!pair.includes(requester.keyHex) || !pair.includes(peer.keyHex) || requester.keyHex === peer.keyHex) {
      return this.refuse(msg.reqId, from, 'BAD_REQUEST', 'no such introduction between these peers')
    }
    return { sends: [], namesChanged: false, relay: { reqId: msg.reqId, punchNonce: msg.punchNonce, requester, peer, from: { ...from } } }
  }

  // Another socket of a registered peer: one more candidate for its introductions. A retry is
  // answered the same way (adding it again changes nothing but the lease).
  private registerEndpoint(msg: RegisterEndpoint, datagram: Uint8Array, from: Source, now: number): Outcome {
    const verdict = this.authenticate(msg, datagram, from, now)
    if (verdict.refusal !== undefined) return verdict.refusal
    const reg = this.lookup(msg.key, now)
    if (reg === undefined) return this.refuse(msg.reqId, from, 'NOT_REGISTERED', 'register before adding an endpoint')
    const observed = observedOf(from)
    if (observed.host !== reg.observed.host || observed.port !== reg.observed.port) reg.extras = withExtra(reg.extras, observed, now, this.leaseS * 1000)
    return this.reply(from, { type: 'registered', reqId: msg.reqId, observed, leaseS: this.leaseS })
  }

  private unregister(msg: Unregister, datagram: Uint8Array, from: Source, now: number): Outcome {
    const verdict = this.authenticate(msg, datagram, from, now)
    if (verdict.refusal !== undefined) return verdict.refusal
    // A late retry must not drop a registration made after the original UNREGISTER.
    if (verdict.retry) return EMPTY
    const reg = this.regs.get(keyToHex(msg.key))
    if (reg !== undefined) this.remove(reg)
    return EMPTY
  }

  // Signature first (so forgeries cannot burn nonces), then the replay window.
  private authenticate(msg: Register | Connect | Unregister | RelayRequest | RegisterEndpoint, datagram: Uint8Array, from: Source, now: number): { refusal?: Outcome; retry: boolean } {
    if (!verifySigned(datagram, msg.key)) return { refusal: this.refuse(msg.reqId, from, 'BAD_SIGNATURE', 'signature does not match key'), retry: false }
    const verdict = this.guard.check(msg.key, msg.nonce, msg.timestamp, now, msg.sig)
    if (verdict === 'stale') {
      const offS = Math.round((msg.timestamp - now) / 1000)
      return { refusal: this.refuse(msg.reqId, from, 'REPLAYED', `timestamp is ${offS} s off the broker's clock`), retry: false }
    }
    if (verdict === 'replayed') return { refusal: this.refuse(msg.reqId, from, 'REPLAYED', 'nonce already used'), retry: false }
    return { retry: verdict === 'retry' }
  }

  private resolve(target: Uint8Array | string, now: number): Registration | undefined {
    if (typeof target !== 'string') return this.lookup(target, now)
    const keyHex = this.names.get(target)
    if (keyHex === undefined) return undefined
    const reg = this.lookup(keyHex, now)
    // Only a peer currently registered under that name answers to it.
    return reg !== undefined && reg.name === target ? reg : undefined
  }

  private refuse(reqId: number, to: Source, code: ErrorName, message: string): Outcome {
    this.counters.refuse(code)
    return this.reply(to, { type: 'error', reqId, code: BrokerErrorCode[code], message: clip(message, MAX_ERROR_TEXT) })
  }

  private reply(to: Source, message: WireMessage): Outcome {
    return { sends: [{ listener: to.listener, host: to.host, port: to.port, message, bytes: encodeMessage(message) }], namesChanged: false }
  }

  // Anti-amplification: to an address no live registration vouches for, never answer with more
  // bytes than were received, or a spoofed source could turn the broker into an amplifier.
  private allowed(send: Send, requestLength: number, now: number): boolean {
    if (send.bytes.length <= requestLength || this.isRegisteredAddress(send.host, send.port, now)) return true
    this.counters.drop('AMPLIFICATION')
    return false
  }

  private add(reg: Registration): void {
    this.regs.set(reg.keyHex, reg)
    const id = addrId(reg.observed.host, reg.observed.port)
    let keys = this.byObserved.get(id)
    if (keys === undefined) this.byObserved.set(id, (keys = new Set()))
    keys.add(reg.keyHex)
  }

  private remove(reg: Registration): void {
    this.regs.delete(reg.keyHex)
    const id = addrId(reg.observed.host, reg.observed.port)
    const keys = this.byObserved.get(id)
    keys?.delete(reg.keyHex)
    if (keys?.size === 0) this.byObserved.delete(id)
  }
}

function addrId(host: string, port: number): string {
  return `${host}|${port}`
}

function sameSource(a: Source, b: Source): boolean {
  return a.listener === b.listener && a.host === b.host && a.port === b.port
}

function observedOf(from: Source): IpAddress {
  const host = normalizeHost(from.host)
  return { host, family: host.includes(':') ? 6 : 4, port: from.port }
}

function targetLabel(target: Uint8Array | string): string {
  return typeof target === 'string' ? target : `${keyToHex(target).slice(0, 16)}...`
}

// Error text is bounded on the wire; cut by bytes without splitting a character.
function clip(s: string, maxBytes: number): string {
  const enc = new TextEncoder()
  let out = s
  while (enc.encode(out).length > maxBytes) out = out.slice(0, -1)
  return out
}
