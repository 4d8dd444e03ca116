// One UDX socket: broker traffic, punch probes and every UDX stream share it, so the broker sees
// exactly the NAT mapping peers will use. Our datagrams start with 0x50; UDX's own with 0xff.
// Extra sockets on the same UDX instance (many-port punching) can carry sessions too; what
// arrives on them goes through the same decode path. Interface sockets, one per interface address
// other than the one the kernel routes by default (a second uplink), are bound to that address so
// what they send leaves from it (with the host's source routing, out of its own interface).
import type UDXT from 'udx-native'
import type { UDXSocket, UDXStream } from 'udx-native'
import { decodeMessage, type WireMessage } from '../protocol/wire.js'
import { ProtocolError } from '../protocol/errors.js'
import { normalizeHost } from '../common/lifecycle.js'
import type { Logger } from '../common/logger.js'
import type { Counters } from './counters.js'
import type { Addr } from '../protocol/punch.js'
import { requireCjs } from '../protocol/cjs.js'

const UDX = requireCjs('udx-native') as typeof UDXT
type UDX = UDXT

const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

/** Handler for a decoded datagram; `raw` is kept for signature checks; `socket` is where it arrived. */
export type DatagramHandler = (msg: WireMessage, raw: Uint8Array, from: Addr, socket: UDXSocket) => void

/** The daemon's UDP endpoint. */
export class Endpoint {
  readonly udx: UDX
  readonly socket: UDXSocket
  private handler: DatagramHandler = () => {}
  private nextStreamId = 1
  private readonly extras = new Set<UDXSocket>()
  private readonly ifaceSockets = new Map<string, UDXSocket>()

  constructor(private readonly deps: { logger: Logger; counters: Counters; udx?: UDX }) {
    this.udx = deps.udx ?? new UDX()
    this.socket = this.udx.createSocket()
    this.socket.on('error', (err) => deps.logger.warn({ err }, 'udp socket error'))
    this.socket.on('message', (buf, rinfo) => this.onMessage(buf, rinfo, this.socket))
  }

  /** Bind on every address (port 0 = any): dual-stack "::" where the host has IPv6, else 0.0.0.0. */
  bind(port: number, host?: string): void {
    // Without a host, udx-native tries "::" (IPv4 arrives as plain IPv4) and falls back to 0.0.0.0.
    if (host === undefined) this.socket.bind(port)
    else this.socket.bind(port, host)
    this.sizeBuffers(this.socket)
  }

  /** Give a socket that carries sessions large kernel buffers. */
  sizeBuffers(socket: UDXSocket): void {
    // Bursts (many flows, a busy event loop) must wait in the kernel, not be dropped there.
    // The kernel caps these at net.core.[rw]mem_max; asking for more is harmless.
    try {
      socket.setRecvBufferSize(SOCKET_BUFFER_BYTES)
      socket.setSendBufferSize(SOCKET_BUFFER_BYTES)
    } catch (err) {
      this.deps.logger.debug({ err }, 'could not size socket buffers')
    }
  }

  /** Open another socket on the same UDX instance (so streams can run on it), on any port, bound like the main one. Throws if it cannot bind. */
  openSocket(): UDXSocket {
    const s = this.udx.createSocket()
    s.on('error', (err) => this.deps.logger.debug({ err }, 'extra udp socket error'))
    s.on('message', (buf, rinfo) => this.onMessage(buf, rinfo, s))
    try {
      const host = this.socket.address()?.host
      if (host === undefined) s.bind(0)
      else s.bind(0, host)
    } catch (err) {
      void s.close().catch(() => {})
      throw err
    }
    this.extras.add(s)
    this.deps.counters.inc('udp_extra_sockets_opened')
    return s
  }

  /** Open a socket bound to one interface address (any port). Throws if it cannot bind. */
  openInterfaceSocket(address: string): UDXSocket {
    const old = this.ifaceSockets.get(address)
    if (old) return old
    const s = this.udx.createSocket()
    s.on('error', (err) => this.deps.logger.debug({ err, address }, 'interface socket error'))
    s.on('message', (buf, rinfo) => this.onMessage(buf, rinfo, s))
    try {
      s.bind(0, address)
    } catch (err) {
      void s.close().catch(() => {})
      throw err
    }
    this.sizeBuffers(s)
    this.ifaceSockets.set(address, s)
    this.deps.counters.inc('udp_interface_sockets_opened')
    return s
  }

  /** Close the socket of an interface address that went away (UDX waits for its streams to end). */
  closeInterfaceSocket(address: string): void {
    const s = this.ifaceSockets.get(address)
    if (!s) return
    this.ifaceSockets.delete(address)
    void s.close().catch(() => {})
  }

  /** Interface sockets by the address they are bound to. */
  interfaceSockets(): ReadonlyMap<string, UDXSocket> {
    return this.ifaceSockets
  }

  /** The interface address `socket` is bound to, or null for the main and many-port sockets. */
  interfaceAddressOf(socket: UDXSocket): string | null {
    for (const [address, s] of this.ifaceSockets) if (s === socket) return address
    return null
  }

  /** Close an extra socket once no stream uses it any more (UDX defers it); the main socket stays. */
  release(socket: UDXSocket): void {
    if (socket === this.socket || !this.extras.delete(socket)) return
    void socket.close().catch(() => {})
  }

  /** Extra sockets open now. */
  get extraSockets(): number {
    return this.extras.size
  }

  /** The bound local address. */
  address(): Addr {
    const a = this.socket.address()
    return { host: a.host, port: a.port }
  }

  /** True when the socket also carries IPv6 (bound to "::"). */
  get dualStack(): boolean {
    return this.socket.address()?.family === 6
  }

  /** Set where decoded datagrams go. */
  onDatagram(handler: DatagramHandler): void {
    this.handler = handler
  }

  /** Send one datagram (from `via`, default the main socket); failures are counted, never thrown. */
  send(buf: Uint8Array, to: Addr, via: UDXSocket = this.socket): void {
    this.deps.counters.inc('udp_datagrams_sent')
    try {
      via.trySend(buf, to.port, to.host)
    } catch (err) {
      this.deps.counters.inc('udp_send_errors')
      this.deps.logger.debug({ err, to }, 'send failed')
    }
  }

  /** A new UDX stream with a fresh local id (ids are never reused within this process). */
  createStream(firewall?: (socket: UDXSocket, port: number, host: string) => boolean): UDXStream {
    const id = this.nextStreamId
    this.nextStreamId = this.nextStreamId >= 0xfffffff0 ? 1 : this.nextStreamId + 1
    return this.udx.createStream(id, firewall ? { firewall } : {})
  }

  /** Close the socket (streams must be gone first for UDX to close it). */
  async close(): Promise<void> {
    for (const s of [...this.extras]) this.release(s)
    for (const a of [...this.ifaceSockets.keys()]) this.closeInterfaceSocket(a)
    await this.socket.close()
  }

  private onMessage(buf: Buffer, rinfo: { host: string; port: number }, socket: UDXSocket): void {
    this.deps.counters.inc('udp_datagrams_received')
    let msg: WireMessage
    try {
      msg = decodeMessage(buf)
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.code : 'UNKNOWN'
      this.deps.counters.inc(`udp_dropped_${reason.toLowerCase()}`)
      return
    }
    try {
      this.handler(msg, buf, { host: normalizeHost(rinfo.host), port: rinfo.port }, socket)
    } catch (err) {
      // The network never crashes the daemon: a handler bug costs one datagram, and is logged.
      this.deps.counters.inc('udp_handler_errors')
      this.deps.logger.error({ err, type: msg.type }, 'datagram handler failed')
    }
  }
}
