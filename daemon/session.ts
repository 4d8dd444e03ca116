// One authenticated session with a peer: the encrypted control stream, the multiplexer carrying
// forwarded TCP connections (over a kernel TCP path, else over one UDX stream of this session),
// and UDP forward flows (each its own UDX stream, keys derived from the session's).
import { EventEmitter } from 'node:events'
import type NoiseSecretStreamT from '@hyperswarm/secret-stream'
import { requireCjs } from '../protocol/cjs.js'
import type { Duplex } from 'node:stream'
import type { UDXSocket, UDXStream } from 'udx-native'
import { decodeControl, encodeControl, type Addrs, type Check, type ControlMessage, type Open, type OpenFailCode, type TcpAnswer, type TcpOffer } from '../protocol/control.js'
import { ProtocolError } from '../protocol/errors.js'
import { deriveStreamKeys } from '../protocol/stream-keys.js'
import { keyToHex } from '../protocol/identity.js'
import { sameAddr, type Addr, type PathKind } from '../protocol/punch.js'
import { AppError } from '../common/errors.js'
import { normalizeHost } from '../common/lifecycle.js'
import { PendingTable } from './pending.js'
import { RttEstimate } from './rtt.js'
import { routeSource } from './route-source.js'
import type { CarrierInfo, Mux } from './tcp/mux.js'
import { SessionMux } from './session-mux.js'
import { moveRaw } from './stream-move.js'
import type { OpenDecision, PeerSessionOptions } from './session-options.js'
import type { TcpSessionHost } from './tcp/path.js'

export type { CheckHandler, OpenDecision, OpenHandler } from './session-options.js'

const NoiseSecretStream = requireCjs('@hyperswarm/secret-stream') as typeof NoiseSecretStreamT
type NoiseSecretStream = NoiseSecretStreamT

const OPEN_TIMEOUT_MS = 5_000
const PING_TIMEOUT_MS = 5_000
const SESSION_TIMEOUT_MS = 20_000
// Heartbeat: a tiny ping every HEARTBEAT_MS keeps NAT mappings warm and tells within STALL_MS
// that the path stopped answering (then the peer manager re-punches and moves the streams).
const HEARTBEAT_MS = 500
const STALL_MS = 1_500
// How long a replaced session's control stream lingers (both sides move within a punch).
const RETIRE_GRACE_MS = 15_000
// A request handler that threw: the peer gets the error's message.
const refusal = (code: OpenFailCode, err: Error): { ok: false; code: OpenFailCode; message: string; hint: string } => ({ ok: false, code, message: err.message, hint: '' })

/** A live session; emits 'close' once, 'tcp-lost' when its TCP path dies, 'addrs' (Addr[]) when the peer's addresses change. */
export class PeerSession extends EventEmitter implements TcpSessionHost {
  readonly remoteKey: Uint8Array
  readonly remoteKeyHex: string
  readonly initiator: boolean
  readonly startedAt = Date.now()
  remote: Addr
  remoteName = ''
  /** Other remote addresses that answered the punch. */
  standbys: Addr[] = []
  /** Direct, or through a broker's relay (`remote` is then the relay). */
  readonly kind: PathKind
  /** Why the path is relayed, when it is. */
  readonly relayReason: string | null
  /** The UDX socket this session's streams run on (the endpoint's, or one of its extra sockets). */
  readonly socket: UDXSocket
  private localHost: string | null = null
  private readonly control: NoiseSecretStream
  private readonly streams = new Set<NoiseSecretStream>()
  private readonly pendingOpens = new PendingTable<NoiseSecretStream, UDXStream>()
  private readonly pendingPings = new PendingTable<number, number>()
  private readonly pendingChecks = new PendingTable<void>()
  // Check ids live in the upper half so they never meet a stream id (stream ids count up from 1).
  private checkId = 0x80000000
  private pingId = 0
  private readonly rtt: RttEstimate
  private closed = false
  private lastHeard = Date.now()
  private stalled = false
  private readonly heartbeat: NodeJS.Timeout
  // Forwarded TCP connections: over a kernel TCP path, else over a UDX carrier of this session.
  private readonly muxes: SessionMux

  constructor(
    private readonly opts: PeerSessionOptions,
  ) {
    super()
    this.remoteKey = opts.remoteKey
    this.remoteKeyHex = keyToHex(opts.remoteKey)
    this.initiator = opts.keys.initiator
    this.remote = opts.remote
    this.rtt = new RttEstimate(opts.rttMs, () => opts.counters.inc('rtt_samples'))
    this.kind = opts.kind ?? 'direct'
    this.relayReason = opts.relayReason ?? null
    this.socket = opts.socket
    const k = deriveStreamKeys(opts.keys, 0, true)
    this.control = new NoiseSecretStream(this.initiator, opts.controlRaw, {
      handshake: { ...k, publicKey: opts.publicKey, remotePublicKey: opts.remoteKey },
      ...(opts.leftover ? { data: opts.leftover } : {}),
    } as ConstructorParameters<typeof NoiseSecretStream>[2])
    this.control.setTimeout(SESSION_TIMEOUT_MS)
    this.localHost = opts.localHost
    this.standbys = opts.standbys
    if (this.localHost === null) this.learnLocalHost()
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS)
    this.heartbeat.unref()
    this.control.on('data', (buf: Buffer) => this.onControl(buf))
    this.control.on('error', (err: Error) => opts.logger.debug({ err }, 'control stream error'))
    this.control.on('close', () => this.close('control stream closed'))
    this.send({ type: 'hello', name: opts.selfName, version: opts.version })
    this.muxes = new SessionMux({
      initiator: this.initiator, publicKey: opts.publicKey, remoteKey: this.remoteKey, logger: opts.logger, counters: opts.counters,
      alive: () => this.alive, remote: () => this.remote,
      openCarrier: () => this.request((connId) => ({ type: 'carrier', connId })).then((stream) => {
        this.streams.delete(stream)
        return stream
      }),
      onOpen: (req) => this.opts.onOpen(this, { type: 'open', connId: req.id, proto: 'tcp', host: req.host, port: req.port }),
      onTcpLost: () => {
        this.emit('tcp-lost')
        this.emit('path-change')
      },
    })
    opts.tcp?.manage(this)
    // Next tick: a session that replaces another adopts its multiplexer first.
    setImmediate(() => this.muxes.ensure())
  }

  /** The multiplexer carrying forwarded TCP connections. */
  get mux(): Mux {
    return this.muxes.mux
  }

  /** The session's Noise handshake hash (TCP paths bind their own handshake to it). */
  get sessionHash(): Uint8Array {
    return this.opts.keys.hash
  }

  /** Whether forwarded connections ride a kernel TCP path now. */
  get onTcp(): boolean {
    return this.mux.usable
  }

  /** The TCP carrier's remote address while forwarded connections ride one. */
  get tcpRemote(): Addr | null {
    return this.onTcp ? this.mux.info?.remote ?? null : null
  }

  /** Send a TCP path control message, or our addresses (ADDRS: the peer's monitor tries new ones). */
  sendControl(msg: TcpOffer | TcpAnswer | Addrs): void {
    this.send(msg)
  }

  /** A TCP path came up: the multiplexer (and every stream on it) moves onto it. */
  attachTcp(carrier: NoiseSecretStream, info: CarrierInfo): void {
    if (this.closed) {
      carrier.destroy()
      return
    }
    this.muxes.attachTcp(carrier, info)
    this.emit('path-change')
  }

  /** Take over the multiplexer of the session this one replaces (its TCP path and streams go on). */
  adoptMux(mux: Mux): void {
    this.muxes.adopt(mux)
  }

  /** The local endpoint address, for display. */
  get local(): Addr {
    const bound = this.socket.address() ?? this.opts.endpoint.address()
    return { host: this.localHost ?? bound.host, port: bound.port }
  }

  /** Find the interface address the kernel uses toward the peer (the endpoint binds 0.0.0.0). */
  private learnLocalHost(): void {
    const remote = this.remote
    void routeSource(remote.host, remote.port).then((host) => {
      if (host && sameAddr(this.remote, remote)) this.localHost = host
    })
  }

  /** Whether the path has been silent past the stall threshold. */
  get isStalled(): boolean {
    return this.stalled
  }

  /** Whether the session is usable. */
  get alive(): boolean {
    return !this.closed
  }

  /** Open a connection to `host:port` on the peer's side. One round trip, no handshake: TCP in the multiplexer, UDP flows as UDX streams. */
  open(proto: 'udp', host: string, port: number): Promise<NoiseSecretStream>
  open(proto: 'tcp', host: string, port: number): Promise<Duplex>
  open(proto: 'tcp' | 'udp', host: string, port: number): Promise<Duplex | NoiseSecretStream> {
    if (proto === 'tcp' && !this.closed) return this.mux.open(host, port)
    return this.request((connId) => ({ type: 'open', connId, proto, host, port }))
  }

  // A new UDX stream announced to the peer with `msg` (OPEN or CARRIER), secured once it answers.
  private request(msg: (connId: number) => ControlMessage): Promise<NoiseSecretStream> {
    if (this.closed) return Promise.reject(new AppError('SESSION_LOST', 'the session with the peer is closed', 'retry; p2pd reconnects on demand'))
    // Until the peer answers, drop whatever arrives on the stream (it cannot be from the peer yet).
    const raw = this.opts.endpoint.createStream(() => true)
    raw.on('error', () => {})
    // A silent peer is the heartbeat's business (it re-punches and moves live streams).
    const answer = this.pendingOpens.add(raw.id, raw, OPEN_TIMEOUT_MS, () => new AppError('SESSION_LOST', `the peer did not answer an open request in ${OPEN_TIMEOUT_MS / 1000} s`), (r) => r.destroy())
    this.send(msg(raw.id))
    return answer
  }

  /** Ask whether an open of host:port would be allowed (expose rules only; nothing is dialled). */
  check(proto: 'tcp' | 'udp', host: string, port: number): Promise<void> {
    if (this.closed) return Promise.reject(new AppError('SESSION_LOST', 'the session with the peer is closed'))
    const connId = (this.checkId = this.checkId >= 0xfffffff0 ? 0x80000000 : this.checkId + 1)
    const answer = this.pendingChecks.add(connId, undefined, OPEN_TIMEOUT_MS, () => new AppError('SESSION_LOST', `the peer did not answer in ${OPEN_TIMEOUT_MS / 1000} s`))
    this.send({ type: 'check', connId, proto, host, port })
    return answer
  }

  /** Round trip over the control stream, ms. */
  ping(): Promise<number> {
    if (this.closed) return Promise.reject(new AppError('SESSION_LOST', 'the session with the peer is closed'))
    const id = (this.pingId = (this.pingId + 1) >>> 0)
    const answer = this.pendingPings.add(id, performance.now(), PING_TIMEOUT_MS, () => new AppError('SESSION_LOST', `no answer to ping in ${PING_TIMEOUT_MS / 1000} s`))
    this.send({ type: 'ping', id })
    return answer
  }

  /**
   * End this session after handOver(): like close(), but its control stream lingers a while, so
   * the peer (which may not have moved to the new session yet) sees no reset that would tear
   * down its side of the streams we just handed over.
   */
  retire(reason: string): void {
    const control = this.control
    this.close(reason, false)
    setTimeout(() => control.destroy(), RETIRE_GRACE_MS).unref()
  }

  /** Tear down the session and every stream on it. */
  close(reason: string, destroyControl = true): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.heartbeat)
    this.opts.logger.info({ peer: this.remoteKeyHex.slice(0, 16), reason }, 'session closed')
    const lost = (): AppError => new AppError('SESSION_LOST', `session with the peer closed: ${reason}`)
    this.pendingOpens.rejectAll(lost(), (raw) => raw.destroy())
    this.pendingChecks.rejectAll(lost())
    this.pendingPings.rejectAll(lost())
    for (const s of this.streams) s.destroy()
    this.mux.close(reason)
    if (destroyControl) this.control.destroy()
    // An extra socket closes once its last stream is gone (a retired control stream lingers).
    this.opts.endpoint.release(this.socket)
    this.emit('close', reason)
  }

  private send(msg: ControlMessage): void {
    if (!this.closed) this.control.write(encodeControl(msg))
  }

  /** Hand the data streams to `next` (a new session with the same peer) and move them to its path. */
  handOver(next: PeerSession): void {
    for (const s of this.streams) {
      moveRaw(s, next.socket, next.remote)
      next.adoptStream(s)
    }
    this.streams.clear()
    next.adoptMux(this.muxes.handOff())
  }

  /** Take ownership of a stream opened on an earlier session with the same peer. */
  adoptStream(s: NoiseSecretStream): void {
    this.streams.add(s)
    s.on('close', () => this.streams.delete(s))
  }

  /** Smoothed round trip on the control stream, ms (rtt.ts). */
  get rttMs(): number | null {
    return this.rtt.value
  }

  private beat(): void {
    if (this.closed) return
    this.send({ type: 'ping', id: this.rtt.nextBeat(performance.now()) })
    const silentMs = Date.now() - this.lastHeard
    if (!this.stalled && silentMs > STALL_MS) {
      this.stalled = true
      this.opts.counters.inc('paths_stalled')
      this.emit('stalled', silentMs)
    }
  }

  private onControl(buf: Buffer): void {
    this.lastHeard = Date.now()
    if (this.stalled) {
      this.stalled = false
      this.emit('recovered')
    }
    let msg: ControlMessage
    try {
      msg = decodeControl(buf)
    } catch (err) {
      this.opts.counters.inc(`control_dropped_${err instanceof ProtocolError ? err.code.toLowerCase() : 'unknown'}`)
      return
    }
    switch (msg.type) {
      case 'hello':
        this.remoteName = msg.name
        // A first round-trip sample now: the peer's session is up (earlier, its start-up counts).
        this.send({ type: 'ping', id: this.rtt.nextBeat(performance.now()) })
        this.emit('hello', msg)
        return
      case 'ping':
        this.send({ type: 'pong', id: msg.id })
        return
      case 'pong': {
        if (this.rtt.beatAnswered(msg.id, performance.now())) return
        const p = this.pendingPings.take(msg.id)
        if (!p) return
        const ms = performance.now() - p.extra
        this.rtt.sample(ms)
        p.resolve(ms)
        return
      }
      case 'open':
        void this.onOpen(msg)
        return
      case 'check':
        void this.onCheck(msg)
        return
      case 'tcpOffer':
        void this.opts.tcp?.onOffer(this, msg)
        return
      case 'tcpAnswer':
        this.opts.tcp?.onAnswer(this, msg)
        return
      case 'addrs':
        this.emit('addrs', msg.addrs.map((a) => ({ host: normalizeHost(a.host), port: a.port })))
        return
      case 'carrier':
        this.acceptStream(msg.connId, (stream) => {
          this.streams.delete(stream)
          this.muxes.attachAccepted(stream)
        })
        return
      case 'openOk': {
        const c = this.pendingChecks.take(msg.connId)
        if (c) return c.resolve()
        const p = this.pendingOpens.take(msg.connId)
        if (!p) return
        p.extra.connect(this.socket, msg.streamId, this.remote.port, this.remote.host)
        p.resolve(this.secure(p.extra, msg.connId, true))
        return
      }
      case 'openFail': {
        const err = new AppError(msg.code === 'NOT_EXPOSED' ? 'NOT_EXPOSED' : msg.code === 'TARGET_REFUSED' ? 'TARGET_REFUSED' : 'BAD_REQUEST', msg.message, msg.hint || undefined)
        const c = this.pendingChecks.take(msg.connId)
        if (c) return c.reject(err)
        const p = this.pendingOpens.take(msg.connId)
        if (!p) return
        p.extra.destroy()
        p.reject(err)
        return
      }
      default: {
        const never: never = msg
        this.opts.counters.inc(`control_unhandled_${(never as { type: string }).type}`)
      }
    }
  }

  private async onCheck(req: Check): Promise<void> {
    const d = await this.opts.onCheck(this, req).catch((err: Error) => refusal('BAD_REQUEST', err))
    if (this.closed) return
    if (d.ok) this.send({ type: 'openOk', connId: req.connId, streamId: 0 })
    else this.send({ type: 'openFail', connId: req.connId, code: d.code, message: d.message.slice(0, 200), hint: d.hint.slice(0, 200) })
  }

  private async onOpen(req: Open): Promise<void> {
    const d: OpenDecision = await this.opts.onOpen(this, req).catch((err: Error) => refusal('TARGET_REFUSED', err))
    if (this.closed) return
    if (d.ok) this.acceptStream(req.connId, d.attach)
    else this.send({ type: 'openFail', connId: req.connId, code: d.code, message: d.message.slice(0, 200), hint: d.hint.slice(0, 200) })
  }

  private acceptStream(connId: number, attach: (stream: NoiseSecretStream) => void): void {
    // We connect on the opener's first packet, and only from the session's path: until then we
    // send nothing, so the opener never sees data before it knows our stream id.
    const raw: UDXStream = this.opts.endpoint.createStream((socket, port, host) => {
      if (!sameAddr({ host: normalizeHost(host), port }, this.remote)) return true
      raw.connect(socket, connId, port, host)
      attach(this.secure(raw, connId, false))
      return false
    })
    raw.on('error', () => {})
    this.send({ type: 'openOk', connId, streamId: raw.id })
  }

  private secure(raw: UDXStream, connId: number, isOpener: boolean): NoiseSecretStream {
    // Both sides agree on whether the opener was the session's Noise initiator.
    const openerIsInitiator = isOpener ? this.initiator : !this.initiator
    const k = deriveStreamKeys(this.opts.keys, connId, openerIsInitiator)
    const s = new NoiseSecretStream(isOpener, raw, {
      handshake: { ...k, publicKey: this.opts.publicKey, remotePublicKey: this.remoteKey },
    })
    this.streams.add(s)
    s.on('close', () => this.streams.delete(s))
    return s
  }
}
