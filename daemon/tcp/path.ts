// Kernel TCP paths for live sessions. Over the session's authenticated control stream the
// initiator offers its TCP candidates and the responder answers with its own; then both, for a
// bounded window, dial the other's listener directly and connect from their fixed punching port
// to the other's public mapping again and again (crossed SYNs: a simultaneous open). Every
// connection that comes up runs Noise IK bound to the session; the initiator picks one (a LAN
// connection at once, else the best that came up within a short window) and says so (SELECT),
// and the session's streams move onto it. Nothing waits on this: the UDP
// path already works when it starts.
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import type NoiseSecretStreamT from '@hyperswarm/secret-stream'
import { requireCjs } from '../../protocol/cjs.js'
import type { TcpAnswer, TcpOffer } from '../../protocol/control.js'
import { decodeMux, encodeMux } from '../../protocol/mux.js'
import type { KeyPair } from '../../protocol/identity.js'
import { rankOf, type Addr } from '../../protocol/punch.js'
import { normalizeHost } from '../../common/lifecycle.js'
import type { Logger } from '../../common/logger.js'
import type { Counters } from '../counters.js'
import { runHandshake } from '../handshake.js'
import { TOKEN_BYTES, type TcpEndpoint } from './endpoint.js'
import type { CarrierInfo } from './mux.js'

const NoiseSecretStream = requireCjs('@hyperswarm/secret-stream') as typeof NoiseSecretStreamT
type NoiseSecretStream = NoiseSecretStreamT

/** How long both sides keep dialing. */
export const TCP_WINDOW_MS = 3_000
const PUNCH_RETRY_MS = 50
const HANDSHAKE_TIMEOUT_MS = 3_000
// The responder waits this much longer for the initiator's SELECT.
const SELECT_GRACE_MS = 2_000
// A failed or lost TCP path is tried again this often while the session lives.
const RETRY_MS = 30_000
const PROLOGUE = Buffer.from('p2pd/tcp/v1')
// After the first connection that is not over a LAN, wait this long for a better one (a LAN
// connection can lose the race to a public one on a busy machine, as in the UDP punch).
const SELECT_MS = 150

/** What the TCP path needs from a peer session. */
export interface TcpSessionHost {
  readonly initiator: boolean
  readonly remoteKey: Uint8Array
  /** The session's Noise handshake hash: binds each TCP handshake to this session. */
  readonly sessionHash: Uint8Array
  readonly alive: boolean
  /** A TCP carrier is in use. */
  readonly onTcp: boolean
  /** The UDP path's remote address (its class tells whether the TCP path is as good). */
  readonly remote: Addr
  /** The TCP carrier's remote address while one is in use. */
  readonly tcpRemote: Addr | null
  sendControl(msg: TcpOffer | TcpAnswer): void
  attachTcp(carrier: NoiseSecretStream, info: CarrierInfo): void
  /** 'tcp-lost': the TCP carrier died (try again later). */
  on(event: 'tcp-lost', fn: () => void): unknown
}

interface Attempt {
  token: Buffer
  session: TcpSessionHost
  done: boolean
  sockets: Set<Socket>
  timer: NodeJS.Timeout
  resolve: (ok: boolean) => void
  /** Initiator: the best connection so far, while the select window runs. */
  best?: { carrier: NoiseSecretStream; sock: Socket; rank: number; timer: NodeJS.Timeout }
}

type Candidates = { listen: Addr[]; punch: Addr[] }
const toWire = (a: Addr): { host: string; family: 4 | 6; port: number } => ({ host: a.host, family: a.host.includes(':') ? 6 : 4, port: a.port })
const fromWire = (xs: { host: string; port: number }[]): Addr[] => xs.map((x) => ({ host: normalizeHost(x.host), port: x.port }))

/** Runs TCP path attempts for every session of the daemon. */
export class TcpPaths {
  private readonly attempts = new Map<string, Attempt>()

  /** `allowPath`: whether the kernel would reach `remote` through an interface we may use (interfaces_allow/deny). */
  constructor(private readonly deps: { endpoint: TcpEndpoint; keyPair: KeyPair; brokers: () => Addr[]; allowPath: (remote: Addr) => Promise<boolean>; logger: Logger; counters: Counters }) {
    deps.endpoint.onInbound((token, sock, rest) => {
      const a = this.attempts.get(token.toString('hex'))
      if (!a || a.done) return false
      this.authenticate(a, sock, rest)
      return true
    })
  }

  /**
   * Look for a TCP path now and, while the session lives without one (or with one of a worse class
   * than its UDP path: the session moved to a LAN while the TCP path runs through the NATs), every
   * RETRY_MS (initiator only).
   */
  manage(session: TcpSessionHost): void {
    if (!session.initiator) return
    const round = async (): Promise<void> => {
      if (!session.alive || (session.onTcp && !worseThanUdp(session))) return
      const ok = await this.offer(session).catch(() => false)
      if (!ok && session.alive) later()
    }
    const later = (): void => void setTimeout(() => void round(), RETRY_MS).unref()
    // Next tick: a session that replaces another adopts its multiplexer (and TCP path) first.
    setImmediate(() => void round())
    session.on('tcp-lost', later)
  }

  /** The peer (session responder) answered our offer: dial. */
  onAnswer(session: TcpSessionHost, msg: TcpAnswer): void {
    const a = this.attempts.get(Buffer.from(msg.token).toString('hex'))
    if (!a || a.session !== session || a.done) return
    void this.dialAllowed(a, { listen: fromWire(msg.listen), punch: fromWire(msg.punch) })
  }

  /** The peer (session initiator) offered a TCP path: answer with ours and dial. */
  async onOffer(session: TcpSessionHost, msg: TcpOffer): Promise<void> {
    if (session.initiator) return
    const token = Buffer.from(msg.token)
    const mine = await this.gather()
    if (!session.alive) return
    const a = this.begin(session, token, TCP_WINDOW_MS + SELECT_GRACE_MS)
    session.sendControl({ type: 'tcpAnswer', token, listen: mine.listen.map(toWire), punch: mine.punch.map(toWire) })
    void this.dialAllowed(a, { listen: fromWire(msg.listen), punch: fromWire(msg.punch) })
  }

  private async offer(session: TcpSessionHost): Promise<boolean> {
    const mine = await this.gather()
    if (!session.alive) return false
    const token = randomBytes(TOKEN_BYTES)
    const result = new Promise<boolean>((resolve) => {
      const a = this.begin(session, token, TCP_WINDOW_MS + HANDSHAKE_TIMEOUT_MS)
      a.resolve = resolve
    })
    this.deps.counters.inc('tcp_attempts')
    session.sendControl({ type: 'tcpOffer', token, listen: mine.listen.map(toWire), punch: mine.punch.map(toWire) })
    const ok = await result
    this.deps.counters.inc(ok ? 'tcp_paths_up' : 'tcp_attempts_failed')
    return ok
  }

  // Our candidates: the listener on every interface address, and the punching port's public
  // mapping as each broker reflects it (deduplicated).
  private async gather(): Promise<Candidates> {
    const seen = await Promise.all(this.deps.brokers().map((b) => this.deps.endpoint.reflect(b)))
    const punch: Addr[] = []
    for (const a of [...seen, ...this.deps.endpoint.punchCandidates6()]) if (a && !punch.some((p) => p.host === a.host && p.port === a.port)) punch.push(a)
    return { listen: this.deps.endpoint.listenCandidates(), punch: punch.slice(0, 8) }
  }

  private begin(session: TcpSessionHost, token: Buffer, ms: number): Attempt {
    const key = token.toString('hex')
    const a: Attempt = { token, session, done: false, sockets: new Set(), timer: setTimeout(() => this.end(a, false), ms), resolve: () => {} }
    a.timer.unref()
    this.attempts.set(key, a)
    return a
  }

  private end(a: Attempt, ok: boolean): void {
    if (a.done) return
    a.done = true
    clearTimeout(a.timer)
    if (a.best) clearTimeout(a.best.timer)
    this.attempts.delete(a.token.toString('hex'))
    for (const s of a.sockets) s.destroy()
    a.sockets.clear()
    a.resolve(ok)
  }

  // Candidates the kernel would reach through an excluded interface are left out, as for UDP.
  private async dialAllowed(a: Attempt, remote: Candidates): Promise<void> {
    const keep = async (xs: Addr[]): Promise<Addr[]> => {
      const ok = await Promise.all(xs.map((x) => this.deps.allowPath(x).catch(() => false)))
      const out = xs.filter((_, i) => ok[i])
      if (out.length < xs.length) this.deps.counters.inc('tcp_candidates_excluded', xs.length - out.length)
      return out
    }
    const [listen, punch] = await Promise.all([keep(remote.listen), keep(remote.punch)])
    if (!a.done) this.dialAll(a, { listen, punch })
  }

  private dialAll(a: Attempt, remote: Candidates): void {
    const deadline = Date.now() + TCP_WINDOW_MS
    for (const c of remote.listen) {
      const sock = this.deps.endpoint.dial(c, false)
      a.sockets.add(sock)
      sock.once('connect', () => {
        sock.write(a.token)
        this.authenticate(a, sock, Buffer.alloc(0))
      })
      sock.once('close', () => a.sockets.delete(sock))
    }
    if (!this.deps.endpoint.canPunch) return
    // Simultaneous open: a refused or reset connect is tried again until the window closes.
    for (const c of remote.punch) {
      const once = (): void => {
        if (a.done || Date.now() > deadline) return
        const sock = this.deps.endpoint.dial(c, true)
        a.sockets.add(sock)
        let up = false
        sock.once('connect', () => {
          up = true
          this.authenticate(a, sock, Buffer.alloc(0))
        })
        sock.once('close', () => {
          a.sockets.delete(sock)
          if (!up) setTimeout(once, PUNCH_RETRY_MS).unref()
        })
      }
      once()
    }
  }

  private authenticate(a: Attempt, sock: Socket, rest: Buffer): void {
    a.sockets.add(sock)
    const s = a.session
    if (rest.length > 0) sock.unshift(rest)
    const hs = runHandshake({
      raw: sock, initiator: s.initiator, keyPair: this.deps.keyPair, expectedRemote: s.remoteKey,
      prologue: Buffer.concat([PROLOGUE, s.sessionHash, a.token]), timeoutMs: HANDSHAKE_TIMEOUT_MS,
    })
    sock.resume()
    hs.then((h) => {
      if (a.done || !s.alive) {
        sock.destroy()
        return
      }
      const carrier = new NoiseSecretStream(s.initiator, sock, {
        handshake: { tx: h.tx, rx: h.rx, hash: h.hash, publicKey: h.publicKey, remotePublicKey: h.remotePublicKey },
        ...(h.leftover ? { data: h.leftover } : {}),
      })
      carrier.on('error', () => {})
      sock.resume()
      if (s.initiator) {
        this.consider(a, carrier, sock)
        return
      }
      // The responder waits for the initiator's choice; a connection it did not choose is closed.
      carrier.once('data', (m: Uint8Array) => {
        let chosen = false
        try {
          chosen = decodeMux(m).type === 'select'
        } catch {
          chosen = false
        }
        if (chosen && !a.done) this.use(a, carrier, sock)
        else carrier.destroy()
      })
    }, (err: Error) => {
      this.deps.counters.inc('tcp_handshakes_failed')
      this.deps.logger.debug({ err: err.message }, 'tcp handshake failed')
      sock.destroy()
    })
  }

  // Initiator: take a LAN connection at once; otherwise keep the best-ranked one and take it when
  // the select window closes.
  private consider(a: Attempt, carrier: NoiseSecretStream, sock: Socket): void {
    const rank = rankOf({ host: normalizeHost(sock.remoteAddress ?? ''), port: sock.remotePort ?? 0 })
    const best = a.best
    if (best && best.rank <= rank) {
      carrier.destroy()
      return
    }
    if (best) best.carrier.destroy()
    const choose = (): void => {
      const b = a.best
      if (!b || a.done) return
      clearTimeout(b.timer)
      a.best = undefined
      b.carrier.write(encodeMux({ type: 'select' }))
      this.use(a, b.carrier, b.sock)
    }
    a.best = { carrier, sock, rank, timer: best?.timer ?? setTimeout(choose, SELECT_MS) }
    if (rank === 0) choose()
  }

  private use(a: Attempt, carrier: NoiseSecretStream, sock: Socket): void {
    a.sockets.delete(sock)
    this.end(a, true)
    const addr = (host: string | undefined, port: number | undefined): Addr | null => (host && port ? { host: normalizeHost(host), port } : null)
    this.deps.logger.info({ local: `${sock.localAddress}:${sock.localPort}`, remote: `${sock.remoteAddress}:${sock.remotePort}` }, 'tcp path up')
    a.session.attachTcp(carrier, { proto: 'tcp', local: addr(sock.localAddress, sock.localPort), remote: addr(sock.remoteAddress, sock.remotePort) })
  }
}

// A TCP path of a worse class than the session's UDP path (public against LAN).
function worseThanUdp(session: TcpSessionHost): boolean {
  const t = session.tcpRemote
  return t !== null && rankOf(t) > rankOf(session.remote)
}
