// The multiplexer side of a peer session: every forwarded TCP connection rides the peer's Mux,
// and this keeps a carrier under it. A kernel TCP path when there is one; otherwise one UDX stream
// of the current session, opened by the session's Noise initiator. Streams are never moved with
// the session's UDX streams: libudx resends a moved stream's unacked packets to the old address
// only (test/integration/udx-change-remote.test.ts), so on a new path the multiplexer gets a fresh
// carrier and every stream resumes on it from the bytes each side got.
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import type { MuxOpen } from '../protocol/mux.js'
import type { Addr } from '../protocol/punch.js'
import type { Logger } from '../common/logger.js'
import type { Counters } from './counters.js'
import { Mux, type CarrierInfo, type MuxOpenDecision } from './tcp/mux.js'

// A failed carrier open is tried again after 1 s, doubling to 10 s, for as long as the session
// lives and needs one: giving up would leave every forwarded connection waiting for good.
const CARRIER_RETRY_MS = 1_000
const CARRIER_RETRY_MAX_MS = 10_000

/** What SessionMux needs from its session. */
export interface SessionMuxHost {
  readonly initiator: boolean
  alive(): boolean
  remote(): Addr
  readonly publicKey: Uint8Array
  readonly remoteKey: Uint8Array
  /** Open a UDX stream of this session for a carrier (a CARRIER request the peer answers). */
  openCarrier(): Promise<NoiseSecretStream>
  onOpen(req: MuxOpen): Promise<MuxOpenDecision>
  /** The kernel TCP carrier died. */
  onTcpLost(): void
  logger: Logger
  counters: Counters
}

/** A session's multiplexer and the carrier under it. */
export class SessionMux {
  mux: Mux
  private opening = false

  constructor(private readonly host: SessionMuxHost) {
    this.mux = this.make()
  }

  /** Take over the multiplexer of the session this one replaces (its streams go on); false if this one is in use. */
  adopt(mux: Mux): boolean {
    if (this.mux.size > 0) return false
    this.mux.close('replaced')
    this.mux = mux
    mux.removeAllListeners('dead')
    mux.on('dead', (_reason: string, proto: string) => this.onDead(proto))
    return true
  }

  /** Give the multiplexer away (to the session replacing ours) and start an empty one. */
  handOff(): Mux {
    const mux = this.mux
    this.mux = this.make()
    return mux
  }

  /** A kernel TCP path came up. */
  attachTcp(carrier: NoiseSecretStream, info: CarrierInfo): void {
    this.mux.attach(carrier, info)
  }

  /** The peer opened a carrier on this session. */
  attachAccepted(stream: NoiseSecretStream): void {
    this.mux.attach(stream, { proto: 'udp', local: null, remote: this.host.remote(), owner: this })
  }

  /**
   * Without a carrier (a new session, a dead TCP path) or with the UDX carrier of a session this
   * one replaced, the session's Noise initiator opens a new one (the other side answers).
   */
  ensure(attempt = 0): void {
    const mux = this.mux
    const needs = (): boolean => this.host.alive() && this.mux === mux && (!mux.hasCarrier || (mux.info?.proto === 'udp' && mux.info.owner !== this))
    if (!this.host.initiator || this.opening || !needs()) return
    this.opening = true
    this.host.openCarrier().then((stream) => {
      this.opening = false
      if (!needs()) {
        stream.destroy()
        return
      }
      mux.attach(stream, { proto: 'udp', local: null, remote: this.host.remote(), owner: this })
    }, (err: Error) => {
      this.opening = false
      if (!needs()) return
      this.host.counters.inc('mux_carrier_opens_failed')
      this.host.logger.warn({ err: err.message, attempt }, 'could not open a UDP carrier for forwarded connections; trying again')
      setTimeout(() => this.ensure(attempt + 1), Math.min(CARRIER_RETRY_MS * 2 ** attempt, CARRIER_RETRY_MAX_MS)).unref()
    })
  }

  private make(): Mux {
    const mux = new Mux({
      // Stream-id parity by key order: both daemons agree on it whatever session made the mux.
      initiator: Buffer.compare(Buffer.from(this.host.publicKey), Buffer.from(this.host.remoteKey)) < 0,
      onOpen: (req) => this.host.onOpen(req),
      logger: this.host.logger, counters: this.host.counters,
    })
    mux.on('dead', (_reason: string, proto: string) => this.onDead(proto))
    return mux
  }

  private onDead(proto: string): void {
    if (proto === 'tcp') this.host.onTcpLost()
    this.ensure()
  }
}
