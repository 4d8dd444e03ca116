// The daemon's TCP side: a listener for direct connects, and a fixed punching port for the
// broker reflection and simultaneous opens. Two ports, because Node 20 has no SO_REUSEPORT and
// Linux refuses to bind a port that has a LISTEN socket on it, even with SO_REUSEADDR (which
// libuv sets on every TCP bind). Non-listening sockets with SO_REUSEADDR do share a port, so all
// outgoing punch connects bind the same local port: the NAT keeps one mapping for it, the one
// the broker reflected.
import { connect, createServer, type Server, type Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { decodeTcpObserved, MAX_TCP_OBSERVED } from '../../protocol/tcp-reflect.js'
import type { Addr } from '../../protocol/punch.js'
import { normalizeHost } from '../../common/lifecycle.js'
import type { Logger } from '../../common/logger.js'
import type { Counters } from '../counters.js'

/** Bytes a direct connect sends before the Noise handshake: the attempt's token. */
export const TOKEN_BYTES = 16
const TOKEN_WAIT_MS = 2_000
const MAX_UNIDENTIFIED = 64
const REFLECT_TIMEOUT_MS = 1_500

/** Receives an inbound connection that presented `token` (and any bytes after it). */
export type InboundHandler = (token: Buffer, sock: Socket, rest: Buffer) => boolean

/** Listener + punching port. */
export class TcpEndpoint {
  private server: Server | null = null
  private punchPort = 0
  private unidentified = 0
  private inbound: InboundHandler = () => false

  constructor(private readonly deps: { logger: Logger; counters: Counters }) {}

  /** Listen on `port` (the UDP port's number when free; else any), all IPv4 addresses. */
  async start(port: number): Promise<void> {
    const server = createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.accept(s))
    server.on('error', (err) => this.deps.logger.warn({ err }, 'tcp listener error'))
    const listen = (p: number): Promise<void> => new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(p, '0.0.0.0', () => {
        server.off('error', reject)
        resolve()
      })
    })
    await listen(port).catch(() => listen(0))
    this.server = server
  }

  /** Where inbound connections with a token go. */
  onInbound(h: InboundHandler): void {
    this.inbound = h
  }

  /** Whether the punching port is known (a broker reflected it). */
  get canPunch(): boolean {
    return this.punchPort !== 0
  }

  /** The listener's port (0 before start). */
  get listenPort(): number {
    const a = this.server?.address()
    return a && typeof a === 'object' ? a.port : 0
  }

  /** Listener candidates: every non-internal IPv4 address with the listener's port. */
  listenCandidates(): Addr[] {
    const out: Addr[] = []
    for (const addrs of Object.values(networkInterfaces())) {
      for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) out.push({ host: a.address, port: this.listenPort })
    }
    return out.slice(0, 8)
  }

  /** Our public TCP mapping as `broker` sees a connection from the punching port; null if it does not answer. */
  reflect(broker: Addr): Promise<Addr | null> {
    return new Promise((resolve) => {
      let sock: Socket
      try {
        sock = this.dial(broker, true)
      } catch {
        resolve(null)
        return
      }
      const chunks: Buffer[] = []
      let len = 0
      const done = (a: Addr | null): void => {
        clearTimeout(t)
        sock.destroy()
        resolve(a)
      }
      const t = setTimeout(() => done(null), REFLECT_TIMEOUT_MS)
      sock.on('connect', () => {
        // The first successful bind fixes the punching port for the life of the daemon.
        if (this.punchPort === 0) this.punchPort = sock.localPort ?? 0
      })
      sock.on('data', (d: Buffer) => {
        chunks.push(d)
        len += d.length
        if (len > MAX_TCP_OBSERVED) done(null)
      })
      sock.on('end', () => {
        try {
          const o = decodeTcpObserved(Buffer.concat(chunks))
          done({ host: normalizeHost(o.host), port: o.port })
        } catch {
          this.deps.counters.inc('tcp_reflect_malformed')
          done(null)
        }
      })
      sock.on('error', (err: NodeJS.ErrnoException) => {
        // Our punching port was taken by someone else meanwhile: pick a new one next time.
        if (err.code === 'EADDRINUSE') this.punchPort = 0
        done(null)
      })
    })
  }

  /** A connect to `to`, from the punching port when `punch` (else any port). */
  dial(to: Addr, punch: boolean): Socket {
    const sock = connect({ host: to.host, port: to.port, noDelay: true, ...(punch ? { localAddress: '0.0.0.0', localPort: this.punchPort } : {}) })
    sock.on('error', () => {})
    return sock
  }

  /** Stop listening. */
  async close(): Promise<void> {
    const s = this.server
    this.server = null
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  // An inbound connection must name a live attempt (its first TOKEN_BYTES) quickly; the Noise
  // handshake that follows proves who it is.
  private accept(sock: Socket): void {
    sock.on('error', () => {})
    if (this.unidentified >= MAX_UNIDENTIFIED) {
      this.deps.counters.inc('tcp_inbound_refused_busy')
      sock.destroy()
      return
    }
    this.unidentified++
    let buf: Buffer = Buffer.alloc(0)
    let settled = false
    const settle = (): void => {
      if (settled) return
      settled = true
      this.unidentified--
      clearTimeout(t)
      sock.off('data', ondata)
    }
    const t = setTimeout(() => {
      settle()
      this.deps.counters.inc('tcp_inbound_no_token')
      sock.destroy()
    }, TOKEN_WAIT_MS)
    const ondata = (d: Buffer): void => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d])
      if (buf.length < TOKEN_BYTES) return
      settle()
      sock.pause()
      if (!this.inbound(buf.subarray(0, TOKEN_BYTES), sock, buf.subarray(TOKEN_BYTES))) {
        this.deps.counters.inc('tcp_inbound_unknown_token')
        sock.destroy()
      }
    }
    sock.on('data', ondata)
    sock.on('close', settle)
  }
}
