// Registration with one broker (signed, refreshed well inside the NAT's UDP timeout) and the
// connect request that gets us introduced to a peer.
import { lookup } from 'node:dns/promises'
import { randomBytes, randomInt } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { BrokerErrorCode, encodeSigned, type Introduce, type NatMapping, type RelayAllocated, type WireMessage } from '../protocol/wire.js'
import type { KeyPair } from '../protocol/identity.js'
import type { Addr } from '../protocol/punch.js'
import { sameAddr } from '../protocol/punch.js'
import { AppError } from '../common/errors.js'
import { familyOf, formatHostPort } from '../common/lifecycle.js'
import type { Logger } from '../common/logger.js'
import type { Endpoint } from './endpoint.js'
import type { BrokerInfo } from './api/types.js'

/** Settings for a broker client. */
export interface BrokerClientOptions {
  /** "host:port" as configured. */
  address: { host: string; port: number }
  endpoint: Endpoint
  keyPair: KeyPair
  name: string
  /** Host candidates to announce (our interface addresses with our port). */
  hosts: () => Addr[]
  /** Our NAT classification so far, announced so peers can plan the punch. */
  nat: () => NatMapping
  refreshMs: number
  logger: Logger
}

const RETRY_MS = 1000
const CONNECT_RETRY_MS = 400
const CONNECT_TIMEOUT_MS = 5000
// The broker sends the peer its INTRODUCE once per CONNECT copy, and nobody retries it: after our
// answer, a couple more identical copies (retries to the broker, same nonce) make the peer's copy
// survive a lost datagram; the peer ignores the duplicates.
const CONNECT_ECHOES = 2
const CONNECT_ECHO_MS = 250

const errorNames = Object.fromEntries(Object.entries(BrokerErrorCode).map(([k, v]) => [v, k]))

/** One broker: keeps us registered and forwards introductions. Emits 'introduce', 'relayAllocated', 'registered', 'refresh' and 'change'. */
export class BrokerClient extends EventEmitter {
  private resolved: Addr | null = null
  private state: BrokerInfo['state'] = 'registering'
  private rttMs: number | null = null
  private publicAddress: Addr | null = null
  private silentSince: number | null = null
  // When the current mapping was first seen: mappings in order of creation tell a sequential allocator.
  private publicSince = 0
  private timer: NodeJS.Timeout | null = null
  // Random start: request ids of a restarted daemon do not meet its previous ones.
  private reqId = randomInt(1, 0x7fffffff)
  private pendingRegister: { reqId: number; sentAt: number; tries: number } | null = null
  private readonly pendingConnects = new Map<number, { resolve: (m: Introduce) => void; reject: (e: Error) => void }>()
  private readonly pendingRelays = new Map<number, { resolve: (m: RelayAllocated) => void; reject: (e: Error) => void }>()
  private closed = false

  constructor(private readonly opts: BrokerClientOptions) {
    super()
  }

  /** Start registering (and keep registered until stop()). */
  start(): void {
    void this.registerNow()
  }

  /** Stop refreshing; pending connects fail. */
  stop(): void {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    for (const p of [...this.pendingConnects.values(), ...this.pendingRelays.values()]) p.reject(new AppError('NO_BROKER', 'daemon is stopping'))
    this.pendingConnects.clear()
    this.pendingRelays.clear()
  }

  /** For status output. */
  info(): BrokerInfo {
    return {
      address: formatHostPort(this.opts.address.host, this.opts.address.port),
      state: this.state,
      rttMs: this.rttMs,
      publicAddress: this.publicAddress ? formatHostPort(this.publicAddress.host, this.publicAddress.port) : null,
    }
  }

  /** The broker's resolved address (null until its name resolved). TCP reflection uses the same host:port. */
  resolvedAddress(): Addr | null {
    return this.resolved
  }

  /** Our public address as this broker sees it. */
  observed(): Addr | null {
    return this.publicAddress
  }

  /** What this broker saw of our endpoint: its address, our mapping, since when (for NAT classification). */
  observation(): { server: Addr; observed: Addr; since: number } | null {
    return this.resolved && this.publicAddress ? { server: this.resolved, observed: this.publicAddress, since: this.publicSince } : null
  }

  /** Register again now and resolve when this broker answers (false after `timeoutMs`): a fresh RTT. */
  probeNow(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.off('registered', ok)
        resolve(false)
      }, timeoutMs)
      const ok = (): void => {
        clearTimeout(t)
        resolve(true)
      }
      this.once('registered', ok)
      this.refreshNow()
    })
  }

  /** Whether this datagram came from this broker. */
  owns(from: Addr): boolean {
    return this.resolved !== null && sameAddr(this.resolved, from)
  }

  /** Whether a request to this broker went unanswered since its last answer. */
  get silent(): boolean {
    return this.silentSince !== null
  }

  /** Whether we hold a live registration. */
  get registered(): boolean {
    return this.state === 'registered'
  }

  /** The broker's address as resolved (where we send), once known. */
  address(): Addr | null {
    return this.resolved
  }

  /** Ask to be introduced to `target` (key or name); resolves with our side's introduction. */
  connect(target: Uint8Array | string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<Introduce> {
    return this.request(this.pendingConnects, timeoutMs, CONNECT_ECHOES, (reqId) => ({ type: 'connect', reqId, key: this.opts.keyPair.publicKey, target, timestamp: Date.now(), nonce: randomBytes(16), sig: new Uint8Array(64) }))
  }

  /** Ask for a relay shared with `peerKey` for the introduction `punchNonce`. */
  relay(peerKey: Uint8Array, punchNonce: Uint8Array): Promise<RelayAllocated> {
    return this.request(this.pendingRelays, CONNECT_TIMEOUT_MS, 0, (reqId) => ({ type: 'relayRequest', reqId, key: this.opts.keyPair.publicKey, peerKey, punchNonce, timestamp: Date.now(), nonce: randomBytes(16), sig: new Uint8Array(64) }))
  }

  // A signed request, re-sent identically until answered (the broker treats a copy as a retry).
  private request<M>(pending: Map<number, { resolve: (m: M) => void; reject: (e: Error) => void }>, timeoutMs: number, echoes: number, make: (reqId: number) => Parameters<typeof encodeSigned>[0]): Promise<M> {
    const to = this.resolved
    if (to === null || this.state !== 'registered') {
      return Promise.reject(new AppError('NO_BROKER', `not registered with broker ${this.info().address}`, 'check the broker address and that it is running: p2pctl status'))
    }
    const reqId = this.nextReqId()
    const datagram = encodeSigned(make(reqId), this.opts.keyPair.secretKey)
    return new Promise<M>((resolve, reject) => {
      const resend = setInterval(() => this.opts.endpoint.send(datagram, to), CONNECT_RETRY_MS)
      const timeout = setTimeout(() => {
        // Silent until it answers again: connects try the other brokers first.
        this.silentSince ??= Date.now()
        done(new AppError('NO_BROKER', `broker ${this.info().address} did not answer in ${timeoutMs / 1000} s`, 'check the broker: p2pctl status'))
      }, timeoutMs)
      const done = (err: Error | null, m?: M): void => {
        clearInterval(resend)
        clearTimeout(timeout)
        pending.delete(reqId)
        if (err) return reject(err)
        resolve(m!)
        for (let i = 1; i <= echoes; i++) setTimeout(() => this.opts.endpoint.send(datagram, to), i * CONNECT_ECHO_MS).unref()
      }
      pending.set(reqId, { resolve: (m) => done(null, m), reject: (e) => done(e) })
      this.opts.endpoint.send(datagram, to)
    })
  }

  /** Register again now (our NAT mapping may have changed), not at the next refresh. */
  refreshNow(): void {
    if (this.closed) return
    this.emit('refresh')
    this.pendingRegister = null
    void this.registerNow()
  }

  /** Feed a datagram that came from this broker. */
  handle(msg: WireMessage): void {
    switch (msg.type) {
      case 'registered': {
        const p = this.pendingRegister
        if (p === null || p.reqId !== msg.reqId) return
        this.pendingRegister = null
        this.silentSince = null
        this.rttMs = Date.now() - p.sentAt
        const changed = this.state !== 'registered' || this.publicAddress === null || !sameAddr(this.publicAddress, msg.observed)
        this.state = 'registered'
        if (this.publicAddress === null || !sameAddr(this.publicAddress, msg.observed)) this.publicSince = Date.now()
        this.publicAddress = { host: msg.observed.host, port: msg.observed.port }
        this.emit('registered')
        if (changed) this.emit('change', this.info())
        this.schedule(this.opts.refreshMs)
        return
      }
      case 'relayAllocated': {
        const p = msg.reqId === 0 ? undefined : this.pendingRelays.get(msg.reqId)
        if (p) p.resolve(msg)
        else this.emit('relayAllocated', msg)
        return
      }
      case 'introduce': {
        if (msg.reqId !== 0 && msg.requester) {
          this.pendingConnects.get(msg.reqId)?.resolve(msg)
          return
        }
        if (!msg.requester) this.emit('introduce', msg)
        return
      }
      case 'error': {
        const code = errorNames[msg.code] ?? `code ${msg.code}`
        if (this.pendingRegister?.reqId === msg.reqId) {
          this.opts.logger.error({ code, message: msg.message }, 'broker refused registration')
          this.pendingRegister = null
          this.state = 'unreachable'
          this.emit('change', this.info())
          this.emit('refused', { code, message: msg.message })
          this.schedule(this.opts.refreshMs)
          return
        }
        const relay = this.pendingRelays.get(msg.reqId)
        if (relay) {
          relay.reject(new AppError('BROKER_ERROR', `broker ${this.info().address} will not relay: ${code} ${msg.message}`))
          return
        }
        const pending = this.pendingConnects.get(msg.reqId)
        if (!pending) return
        if (msg.code === BrokerErrorCode.UNKNOWN_PEER) {
          pending.reject(new AppError('PEER_OFFLINE', `broker ${this.info().address}: ${msg.message}`, 'is p2pd running on the peer, registered with the same broker? Check with p2pctl status there'))
        } else {
          pending.reject(new AppError('BROKER_ERROR', `broker ${this.info().address} refused: ${code} ${msg.message}`))
        }
        return
      }
      default:
        return
    }
  }

  private nextReqId(): number {
    this.reqId = this.reqId >= 0xfffffff0 ? 1 : this.reqId + 1
    return this.reqId
  }

  private schedule(ms: number): void {
    if (this.closed) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.registerNow(), ms)
    this.timer.unref()
  }

  private async registerNow(): Promise<void> {
    if (this.closed) return
    if (this.pendingRegister !== null) {
      this.pendingRegister.tries++
      if (this.pendingRegister.tries >= 3 && this.state !== 'unreachable') {
        this.state = 'unreachable'
        this.emit('change', this.info())
      }
    }
    try {
      const address = await resolveBroker(this.opts.address.host, this.opts.endpoint.dualStack)
      this.resolved = { host: address, port: this.opts.address.port }
    } catch (err) {
      this.opts.logger.warn({ err, broker: this.opts.address.host }, 'cannot resolve broker')
      this.schedule(RETRY_MS * 5)
      return
    }
    const reqId = this.nextReqId()
    const datagram = encodeSigned(
      {
        type: 'register', reqId, key: this.opts.keyPair.publicKey, name: this.opts.name, timestamp: Date.now(), nonce: randomBytes(16),
        hosts: this.opts.hosts().map((h) => ({ host: h.host, port: h.port, family: familyOf(h.host) })), nat: this.opts.nat(), sig: new Uint8Array(64),
      },
      this.opts.keyPair.secretKey,
    )
    this.pendingRegister = { reqId, sentAt: Date.now(), tries: this.pendingRegister?.tries ?? 0 }
    this.opts.endpoint.send(datagram, this.resolved)
    this.schedule(RETRY_MS)
  }
}

/**
 * A broker's address: IPv4 first (what a NAT maps, and what NAT classification compares), IPv6
 * when the name has no IPv4 address and our socket carries IPv6. Throws when neither resolves.
 */
export async function resolveBroker(host: string, ipv6: boolean, look: (host: string, family: 4 | 6) => Promise<string> = async (h, family) => (await lookup(h, { family })).address): Promise<string> {
  try {
    return await look(host, 4)
  } catch (err) {
    if (!ipv6) throw err
    return look(host, 6)
  }
}
