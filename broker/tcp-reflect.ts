// TCP reflection: a listener on each --listen address (TCP and UDP ports are separate spaces, so
// the same host:port serves both). Every accepted connection gets one frame with the address it
// came from (protocol/tcp-reflect.ts), then the broker closes it. Closing first puts TIME_WAIT on
// the broker's side, so the daemon can connect from the same local port again at once.
import { createServer, type Server, type Socket } from 'node:net'
import { isIP } from 'node:net'
import { encodeTcpObserved } from '../protocol/tcp-reflect.js'
import type { RateLimiter } from '../protocol/rate-limit.js'
import { normalizeHost } from '../common/lifecycle.js'
import type { Logger } from '../common/logger.js'
import type { HostPort } from './broker.js'

const CLOSE_AFTER_MS = 2_000

/** TCP reflection listeners. */
export class TcpReflector {
  private servers: Server[] = []
  private readonly open = new Set<Socket>()
  /** Connections answered. */
  answered = 0

  constructor(private readonly deps: { limiter: RateLimiter; now: () => number; logger: Logger; onDrop: (reason: string) => void }) {}

  /**
   * Listen on every address (port as bound for UDP); resolves with the bound addresses. A port
   * another program holds on TCP is skipped with a warning: peers still punch UDP through it.
   */
  async start(addrs: HostPort[]): Promise<HostPort[]> {
    for (const a of addrs) {
      const server = createServer({ noDelay: true }, (sock) => this.answer(sock))
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen(a.port, a.host, () => {
            server.off('error', reject)
            resolve()
          })
        })
      } catch (err) {
        this.deps.logger.warn({ err, host: a.host, port: a.port }, 'no TCP reflection on this address: cannot listen on TCP')
        continue
      }
      server.on('error', (err) => this.deps.logger.warn({ err }, 'tcp reflection listener error'))
      this.servers.push(server)
    }
    return this.addresses()
  }

  /** The bound TCP addresses. */
  addresses(): HostPort[] {
    const out: HostPort[] = []
    for (const s of this.servers) {
      const a = s.address()
      if (a !== null && typeof a === 'object') out.push({ host: a.address, port: a.port })
    }
    return out
  }

  /** Stop listening and drop open connections. */
  async close(): Promise<void> {
    for (const sock of this.open) sock.destroy()
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve())
    })))
    this.servers = []
  }

  private answer(sock: Socket): void {
    sock.on('error', () => {})
    // A peer that never reads cannot hold the connection open.
    const t = setTimeout(() => sock.destroy(), CLOSE_AFTER_MS)
    t.unref()
    this.open.add(sock)
    sock.on('close', () => {
      clearTimeout(t)
      this.open.delete(sock)
    })
    const host = normalizeHost(sock.remoteAddress ?? '')
    const port = sock.remotePort ?? 0
    if (!this.deps.limiter.take(host, this.deps.now())) {
      this.deps.onDrop('RATE_LIMITED')
      sock.destroy()
      return
    }
    const family = isIP(host)
    if (family === 0) {
      sock.destroy()
      return
    }
    this.answered++
    sock.end(encodeTcpObserved({ host, family: family as 4 | 6, port }))
  }
}
