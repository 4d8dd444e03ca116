// Binding to a relay allocation: signed RELAY_BINDs from the endpoint socket (so our NAT opens the
// very mapping the relay will send to, also when it is endpoint-dependent), re-sent until the
// relay says both sides are bound. Everything else about the relay is just a punch candidate.
import { randomBytes } from 'node:crypto'
import { encodeSigned, type RelayBound } from '../protocol/wire.js'
import { keyToHex, type KeyPair } from '../protocol/identity.js'
import { sameAddr, type Addr } from '../protocol/punch.js'
import { formatHostPort } from '../common/lifecycle.js'
import type { Logger } from '../common/logger.js'
import type { Counters } from './counters.js'
import type { Endpoint } from './endpoint.js'

const BIND_EVERY_MS = 250
// Bounded: a relay that never answers costs 60 binds (15 s), then we stop.
const MAX_BINDS = 60
// After this many binds without the peer bound, ask the broker again (it re-tells the peer).
const ASK_AGAIN_EVERY = 6

interface Binding {
  punchNonce: Uint8Array
  relay: Addr
  sent: number
  bound: boolean
  timer: NodeJS.Timeout | null
  askAgain: (() => void) | null
}

/** Keeps our side of relay allocations bound. */
export class RelayClient {
  private readonly bindings = new Map<string, Binding>()

  constructor(private readonly deps: { endpoint: Endpoint; keyPair: KeyPair; logger: Logger; counters: Counters }) {}

  /**
   * Bind to `relay` for the introduction `punchNonce` until the relay reports both sides bound;
   * `askAgain` (the requester's) re-sends the relay request meanwhile. Returns a cancel function.
   */
  bind(punchNonce: Uint8Array, relay: Addr, askAgain: (() => void) | null): () => void {
    const id = keyToHex(punchNonce)
    const existing = this.bindings.get(id)
    if (existing && sameAddr(existing.relay, relay)) return () => this.cancel(id)
    if (existing) this.cancel(id)
    const b: Binding = { punchNonce, relay, sent: 0, bound: false, timer: null, askAgain }
    this.bindings.set(id, b)
    this.deps.logger.debug({ relay: formatHostPort(relay.host, relay.port) }, 'binding to relay')
    this.tick(id, b)
    return () => this.cancel(id)
  }

  /** A RELAY_BOUND from `from`: stop re-binding once the peer is bound too. */
  handleBound(msg: RelayBound, from: Addr): void {
    const id = keyToHex(msg.punchNonce)
    const b = this.bindings.get(id)
    if (!b || !sameAddr(b.relay, from)) {
      this.deps.counters.inc('relay_bound_unexpected')
      return
    }
    b.bound = true
    if (msg.peerBound) {
      this.deps.counters.inc('relay_bindings_complete')
      this.cancel(id)
    }
  }

  /** Stop every binding (daemon shutdown). */
  stop(): void {
    for (const id of [...this.bindings.keys()]) this.cancel(id)
  }

  private tick(id: string, b: Binding): void {
    if (this.bindings.get(id) !== b) return
    if (b.sent >= MAX_BINDS) {
      this.deps.counters.inc('relay_bind_gave_up')
      this.cancel(id)
      return
    }
    // A fresh nonce each time: each bind is new to the relay's replay guard, never a "copy".
    const datagram = encodeSigned(
      { type: 'relayBind', key: this.deps.keyPair.publicKey, punchNonce: b.punchNonce, timestamp: Date.now(), nonce: randomBytes(16), sig: new Uint8Array(64) },
      this.deps.keyPair.secretKey,
    )
    this.deps.endpoint.send(datagram, b.relay)
    this.deps.counters.inc('relay_binds_sent')
    b.sent++
    if (b.askAgain && b.sent % ASK_AGAIN_EVERY === 0) b.askAgain()
    b.timer = setTimeout(() => this.tick(id, b), BIND_EVERY_MS)
    b.timer.unref()
  }

  private cancel(id: string): void {
    const b = this.bindings.get(id)
    if (!b) return
    if (b.timer) clearTimeout(b.timer)
    this.bindings.delete(id)
  }
}
