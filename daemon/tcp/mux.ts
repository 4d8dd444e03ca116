// The stream multiplexer of a peer session: forwarded connections as streams over one encrypted
// carrier — a kernel TCP connection while the TCP path lives, else one UDX stream of the UDP
// session. Carriers can change under live streams: after attach() both sides exchange RESUME
// (bytes received per stream) and each resends from there (mux-stream.ts).
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { decodeMux, encodeMux, DATA_HEADER, type MuxFrame, type MuxOpen } from '../../protocol/mux.js'
import type { OpenFailCode } from '../../protocol/control.js'
import { ProtocolError } from '../../protocol/errors.js'
import type { Addr } from '../../protocol/punch.js'
import { AppError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { Counters } from '../counters.js'
import { MuxStream, type StreamHost } from './mux-stream.js'

const OPEN_TIMEOUT_MS = 5_000
// A carrier is probed every PING_MS; silent for DEAD_MS (data, credit or pong) = dead. For a UDX
// carrier too: one that never got through (its first packets came from an address the peer
// did not expect) would otherwise hold every stream waiting for a RESUME that never comes.
const PING_MS = 500
const DEAD_MS = 2_000
// A replaced carrier stays open (unread) this long, so the peer switches on the new one's first
// frame rather than on the old one's close (which would look like a lost path).
const LINGER_MS = 5_000
// Ids of streams that finished cleanly, remembered a while: the peer may still hold one (the
// credit for its END was lost with a carrier) and name it in a RESUME, which must not reset it.
const FINISHED_IDS = 4096

/** What the acceptor decides about an open from the peer. */
export type MuxOpenDecision =
  | { ok: true; attach: (stream: Duplex) => void }
  | { ok: false; code: OpenFailCode; message: string; hint: string }

/** A carrier: an encrypted, message-framed duplex (a secret-stream). */
export interface Carrier extends Duplex {
  alloc?: (len: number) => Uint8Array
}

/** Which path a carrier rides (`owner`: the session whose UDX stream it is, for UDP carriers). */
export interface CarrierInfo { proto: 'tcp' | 'udp'; local: Addr | null; remote: Addr | null; owner?: object }

/** Multiplexer of one peer (it moves with the session when a re-punch replaces it). Emits 'dead' (reason, proto) when its carrier is lost. */
export class Mux extends EventEmitter {
  /** The current carrier's path, or null while there is none. */
  info: CarrierInfo | null = null
  private carrier: Carrier | null = null
  private blocked = false
  private readonly streams = new Map<number, MuxStream>()
  // Opens waiting for the peer's answer; `sent` is false while no carrier has carried the OPEN yet.
  private readonly pending = new Map<number, { stream: MuxStream; resolve: (s: MuxStream) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; sent: boolean; host: string; port: number }>()
  private nextId: number
  private lastHeard = 0
  private pingTimer: NodeJS.Timeout | null = null
  private preAttach: Set<number> | null = null
  private named = new Set<number>()
  private closed = false
  private detachCarrier: (() => void) | null = null
  private readonly host: StreamHost
  private readonly finished = new Set<number>()

  constructor(private readonly deps: { initiator: boolean; onOpen: (req: MuxOpen) => Promise<MuxOpenDecision>; logger: Logger; counters: Counters }) {
    super()
    // Each side numbers the streams it opens; parity keeps the two numberings apart.
    this.nextId = deps.initiator ? 1 : 2
    const writable = (): boolean => this.carrier !== null && !this.blocked
    this.host = {
      get writable() {
        return writable()
      },
      send: (f) => this.send(f),
      allocData: (len) => (this.carrier?.alloc ? this.carrier.alloc(DATA_HEADER + len) : new Uint8Array(DATA_HEADER + len)),
      writeData: (frame) => this.write(frame),
      forget: (id, finished) => {
        this.streams.delete(id)
        if (!finished) return
        this.finished.add(id)
        if (this.finished.size > FINISHED_IDS) this.finished.delete(this.finished.values().next().value!)
      },
    }
  }

  /** Whether a kernel TCP carrier is up. */
  get usable(): boolean {
    return !this.closed && this.carrier !== null && this.info?.proto === 'tcp'
  }

  /** Whether any carrier is attached. */
  get hasCarrier(): boolean {
    return !this.closed && this.carrier !== null
  }

  /** Live streams (for display and tests). */
  get size(): number {
    return this.streams.size
  }

  /** Run on `carrier` from now on; live streams resume on it. Replaces (and destroys) the old one. */
  attach(carrier: Carrier, info: CarrierInfo): void {
    if (this.closed) {
      carrier.destroy()
      return
    }
    this.drop(true)
    this.carrier = carrier
    this.info = info
    this.blocked = false
    this.lastHeard = Date.now()
    const ondata = (buf: Uint8Array): void => this.onFrame(buf)
    const ondrain = (): void => this.onDrain()
    const onclose = (): void => this.lost(carrier, 'carrier closed')
    const onerror = (err: Error): void => this.deps.logger.debug({ err }, 'carrier error')
    carrier.on('data', ondata)
    carrier.on('drain', ondrain)
    carrier.on('close', onclose)
    carrier.on('error', onerror)
    this.detachCarrier = () => {
      carrier.off('data', ondata)
      carrier.off('drain', ondrain)
      carrier.off('close', onclose)
      carrier.off('error', onerror)
    }
    this.pingTimer = setInterval(() => this.beat(carrier), PING_MS)
    this.pingTimer.unref()
    // An open the old carrier carried may or may not have reached the peer: fail it (the caller
    // retries; the peer's half, if any, is reset when its answer or RESUME finds no stream here).
    for (const [id, p] of [...this.pending]) if (p.sent) this.failOpen(id, new AppError('SESSION_LOST', 'the path to the peer changed while opening'))
    // Resume: say what we got of every live stream; the peer resends from there.
    this.preAttach = new Set()
    this.named = new Set()
    for (const s of this.streams.values()) {
      if (this.pending.has(s.id)) continue
      this.preAttach.add(s.id)
      s.awaitingResume = true
      this.send({ type: 'resume', id: s.id, received: s.resumeFrom() })
    }
    this.send({ type: 'resumed' })
    // Opens made while there was no carrier go out now.
    for (const [id, p] of this.pending) {
      p.sent = true
      this.send({ type: 'open', id, host: p.host, port: p.port })
    }
    this.deps.counters.inc(`mux_carriers_${info.proto}`)
    this.deps.logger.info({ proto: info.proto, streams: this.streams.size }, 'forwarded connections ride a new carrier')
  }

  /** Open a stream to host:port on the peer's side (one round trip on the carrier; without one, it waits for the next). */
  open(host: string, port: number): Promise<MuxStream> {
    if (this.closed) return Promise.reject(new AppError('SESSION_LOST', 'the session with the peer is closed'))
    const id = this.nextId
    this.nextId = this.nextId >= 0xfffffff0 ? (this.deps.initiator ? 1 : 2) : this.nextId + 2
    const stream = this.track(new MuxStream(id, this.host))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.failOpen(id, new AppError('SESSION_LOST', `the peer did not answer an open request in ${OPEN_TIMEOUT_MS / 1000} s`)), OPEN_TIMEOUT_MS)
      const sent = this.carrier !== null
      this.pending.set(id, { stream, resolve, reject, timer, sent, host, port })
      if (sent) this.send({ type: 'open', id, host, port })
    })
  }

  /** Tear down the carrier and every stream (session closed). */
  close(reason: string): void {
    if (this.closed) return
    this.closed = true
    this.drop()
    for (const id of [...this.pending.keys()]) this.failOpen(id, new AppError('SESSION_LOST', `session with the peer closed: ${reason}`))
    for (const s of this.streams.values()) s.destroy()
    this.streams.clear()
  }

  private track(s: MuxStream): MuxStream {
    this.streams.set(s.id, s)
    s.on('error', () => {})
    return s
  }

  private failOpen(id: number, err: Error): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    clearTimeout(p.timer)
    p.stream.destroy()
    this.streams.delete(id)
    p.reject(err)
  }

  // Forget the current carrier without telling anyone (attach or close follows). A carrier that is
  // being replaced lingers unread for a while (see LINGER_MS).
  private drop(linger = false): void {
    if (this.pingTimer) clearInterval(this.pingTimer)
    this.pingTimer = null
    this.detachCarrier?.()
    this.detachCarrier = null
    const old = this.carrier
    if (old && linger && !old.destroyed) {
      old.on('error', () => {})
      old.resume()
      setTimeout(() => old.destroy(), LINGER_MS).unref()
    } else old?.destroy()
    this.carrier = null
    this.info = null
  }

  private lost(carrier: Carrier, reason: string): void {
    if (this.carrier !== carrier || this.closed) return
    const proto = this.info?.proto
    this.drop()
    // Opens in flight may or may not have reached the peer: fail them (the caller retries); the
    // peer drops its half at the next RESUMED. Opens not sent yet wait for the next carrier.
    for (const [id, p] of [...this.pending]) if (p.sent) this.failOpen(id, new AppError('SESSION_LOST', `the path to the peer was lost: ${reason}`))
    this.deps.counters.inc('mux_carriers_lost')
    this.deps.logger.info({ reason, proto, streams: this.streams.size }, 'mux carrier lost; streams wait for the next one')
    this.emit('dead', reason, proto)
  }

  private beat(carrier: Carrier): void {
    if (Date.now() - this.lastHeard > DEAD_MS) {
      this.lost(carrier, `no answer on the ${this.info?.proto === 'tcp' ? 'TCP path' : 'UDX carrier'} for ${DEAD_MS} ms`)
      return
    }
    this.send({ type: 'ping', id: 0 })
  }

  private send(frame: MuxFrame): void {
    if (this.carrier) this.write(encodeMux(frame))
  }

  private write(frame: Uint8Array): boolean {
    if (!this.carrier) return false
    if (!this.carrier.write(frame)) this.blocked = true
    return !this.blocked
  }

  private onDrain(): void {
    this.blocked = false
    for (const s of this.streams.values()) {
      if (this.blocked) return
      s.flush()
    }
  }

  private onFrame(buf: Uint8Array): void {
    this.lastHeard = Date.now()
    let f: MuxFrame
    try {
      f = decodeMux(buf)
    } catch (err) {
      this.deps.counters.inc(`mux_dropped_${err instanceof ProtocolError ? err.code.toLowerCase() : 'unknown'}`)
      return
    }
    switch (f.type) {
      case 'data':
        this.streams.get(f.id)?.onData(f.payload)
        return
      case 'credit':
        this.streams.get(f.id)?.onCredit(f.bytes)
        return
      case 'open':
        void this.onOpen(f)
        return
      case 'openOk': {
        const p = this.pending.get(f.id)
        // An answer to an open we gave up on: the peer's half must go.
        if (!p) {
          if (!this.streams.has(f.id)) this.send({ type: 'reset', id: f.id })
          return
        }
        this.pending.delete(f.id)
        clearTimeout(p.timer)
        p.resolve(p.stream)
        return
      }
      case 'openFail': {
        const p = this.pending.get(f.id)
        if (!p) return
        const code = f.code === 'NOT_EXPOSED' ? 'NOT_EXPOSED' : f.code === 'TARGET_REFUSED' ? 'TARGET_REFUSED' : 'BAD_REQUEST'
        this.failOpen(f.id, new AppError(code, f.message, f.hint || undefined))
        return
      }
      case 'end':
        this.streams.get(f.id)?.onEnd(f.at)
        return
      case 'reset':
        this.streams.get(f.id)?.onReset()
        return
      case 'resume': {
        this.named.add(f.id)
        const s = this.streams.get(f.id)
        if (s) s.onResume(f.received)
        // A stream we finished is left unnamed in our RESUMEs: the peer then completes its half.
        else if (!this.finished.has(f.id)) this.send({ type: 'reset', id: f.id })
        return
      }
      case 'resumed': {
        // Streams the peer no longer has (it failed the open, or reset while no carrier was up).
        for (const id of this.preAttach ?? []) if (!this.named.has(id)) this.streams.get(id)?.peerForgot()
        this.preAttach = null
        return
      }
      case 'ping':
        this.send({ type: 'pong', id: f.id })
        return
      case 'pong':
      case 'select':
        return
      default: {
        const never: never = f
        this.deps.counters.inc(`mux_unhandled_${(never as { type: string }).type}`)
      }
    }
  }

  private async onOpen(req: MuxOpen): Promise<void> {
    // The peer numbers its streams with the other parity; anything else is not a valid open.
    if ((req.id % 2 === 1) === this.deps.initiator || this.streams.has(req.id)) {
      this.deps.counters.inc('mux_dropped_bad_open')
      return
    }
    let d: MuxOpenDecision
    try {
      d = await this.deps.onOpen(req)
    } catch (err) {
      d = { ok: false, code: 'TARGET_REFUSED', message: (err as Error).message, hint: '' }
    }
    if (this.closed) return
    if (!d.ok) {
      this.send({ type: 'openFail', id: req.id, code: d.code, message: d.message.slice(0, 200), hint: d.hint.slice(0, 200) })
      return
    }
    const s = this.track(new MuxStream(req.id, this.host))
    this.send({ type: 'openOk', id: req.id })
    d.attach(s)
  }
}
