// The daemon's TCP side: a listener for direct connects, and a fixed punching port for the
// broker reflection and simultaneous opens. Two ports, because Node 20 has no SO_REUSEPORT and
// Linux refuses to bind a port that has a LISTEN socket on it, even with SO_REUSEADDR (which
// libuv sets on every TCP bind). Non-listening sockets with SO_REUSEADDR do share a port, so all
// outgoing punch connects bind the same local port: the NAT keeps one mapping for it, the one
// the broker reflected.
import { connect, createServer, type Server, type Socket } from 'node:net'
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
  private dualStack = false

  /** `hosts`: the interface addresses the daemon may use (interfaces_allow/deny applied). */
  constructor(private readonly deps: { logger: Logger; counters: Counters; hosts: () => { address: string; family: 4 | 6 }[] }) {}

  /** Listen on `port` (the UDP port's number when free; else any): IPv4 and IPv6 where the host has it. */
  async start(port: number): Promise<void> {
    const server = createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.accept(s))
    server.on('error', (err) => this.deps.logger.warn({ err }, 'tcp listener error'))
    const listen = (p: number, host: string): Promise<void> => new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port: p, host, ipv6Only: false }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const on = async (host: string): Promise<void> => listen(port, host).catch(() => listen(0, host))
    // Dual-stack '::' when the host has IPv6 at all; else IPv4 only.
    this.dualStack = await on('::').then(() => true, async () => {
      await on('0.0.0.0')
      return false
    })
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

  /** Listener candidates: every usable interface address (IPv4 first) with the listener's port. */
  listenCandidates(): Addr[] {
    return this.hosts().map((a) => ({ host: a.address, port: this.listenPort })).slice(0, 8)
  }

  /**
   * Punch candidates that need no reflection: our IPv6 addresses with the punching port (no NAT
   * in front of them, only a stateful firewall that the crossed SYNs open).
   */
  punchCandidates6(): Addr[] {
    if (!this.canPunch) return []
    return this.hosts().filter((a) => a.family === 6).map((a) => ({ host: a.address, port: this.punchPort })).slice(0, 4)
  }

  private hosts(): { address: string; family: 4 | 6 }[] {
    const all = this.deps.hosts().filter((a) => a.family === 4 || this.dualStack)
    return [...all.filter((a) => a.family === 4), ...all.filter((a) => a.family === 6)]
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
    const any = to.host.includes(':') ? '::' : '0.0.0.0'
    const sock = connect({ host: to.host, port: to.port, noDelay: true, ...(punch ? { localAddress: any, localPort: this.punchPort } : {}) })
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
