// Forwards: a local TCP listener per forward; each accepted connection becomes its own stream of
// the peer's multiplexer (its own flow control: a slow reader holds up only its connection).
import { createServer, type Server, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { AppError, isAppError } from '../common/errors.js'
import { formatHostPort } from '../common/lifecycle.js'
import type { Logger } from '../common/logger.js'
import type { AddForwardRequest, DaemonEvent, ForwardInfo } from './api/types.js'
import type { StoredForward } from './state-store.js'
import type { PeerManager } from './peers.js'
import type { Counters } from './counters.js'
import { splice } from './splice.js'
import { UdpForwarder } from './udp-forwarder.js'

const DEFAULT_UDP_IDLE_S = 60
const DEFAULT_UDP_MAX_FLOWS = 1024

interface LiveForward {
  spec: StoredForward
  server: Server | null
  udp: UdpForwarder | null
  lastError: string | null
  connections: Set<Socket>
  bytesIn: number
  bytesOut: number
  nextConn: number
}

/** Owns the forward listeners. */
export class Forwards {
  private readonly live = new Map<string, LiveForward>()

  constructor(
    private readonly deps: {
      specs: StoredForward[]
      save: () => Promise<void> | void
      peers: () => PeerManager
      emit: (e: DaemonEvent) => void
      logger: Logger
      counters: Counters
    },
  ) {}

  /** Start listeners for every stored forward (after a restart). Failures are logged, not fatal. */
  async restore(): Promise<void> {
    for (const spec of this.deps.specs) {
      try {
        await this.listen(spec)
      } catch (err) {
        this.deps.logger.error({ err, forward: spec.id }, 'could not restore forward')
      }
    }
  }

  /** Every forward with its counters. */
  list(): ForwardInfo[] {
    return this.deps.specs.map((s) => this.info(s))
  }

  /** Add and start a forward. */
  async add(req: AddForwardRequest): Promise<ForwardInfo> {
    const bindHost = req.bindHost ?? '127.0.0.1'
    const toPort = req.toPort ?? req.port
    for (const p of [req.port, toPort]) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new AppError('BAD_REQUEST', `port ${p} is out of range 1-65535`)
    }
    const dup = this.deps.specs.find((s) => s.proto === req.proto && s.port === req.port && s.bindHost === bindHost)
    if (dup) throw new AppError('FORWARD_EXISTS', `${formatHostPort(bindHost, req.port)} is already forwarded to ${dup.peer}`, `remove it first: p2pctl unforward ${dup.id}`)
    const spec: StoredForward = { id: `f-${randomBytes(4).toString('hex')}`, proto: req.proto, bindHost, port: req.port, peer: req.peer, toHost: req.toHost ?? 'localhost', toPort }
    if (req.proto === 'udp') {
      spec.idleS = req.idleS ?? DEFAULT_UDP_IDLE_S
      spec.maxFlows = req.maxFlows ?? DEFAULT_UDP_MAX_FLOWS
    }
    // Say now, not at the first connection, when the peer is unknown or has not exposed the target.
    const session = await this.deps.peers().session(req.peer)
    await session.check(spec.proto, spec.toHost, spec.toPort)
    await this.listen(spec)
    this.deps.specs.push(spec)
    // Answer once the forward is on disk: a restart right after must bring it back.
    await this.deps.save()
    const info = this.info(spec)
    this.deps.emit({ type: 'forward', action: 'added', forward: info })
    return info
  }

  /** Stop and forget a forward, by id or local port. */
  async remove(idOrPort: string): Promise<void> {
    const spec = this.deps.specs.find((s) => s.id === idOrPort) ?? this.deps.specs.find((s) => String(s.port) === idOrPort)
    if (!spec) throw new AppError('FORWARD_UNKNOWN', `no forward ${idOrPort}`, 'list them with: p2pctl forwards')
    const info = this.info(spec)
    await this.stop(spec.id)
    this.deps.specs.splice(this.deps.specs.indexOf(spec), 1)
    await this.deps.save()
    this.deps.emit({ type: 'forward', action: 'removed', forward: info })
  }

  /** Close every listener and connection (shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.live.keys()].map((id) => this.stop(id)))
  }

  private async stop(id: string): Promise<void> {
    const l = this.live.get(id)
    if (!l) return
    this.live.delete(id)
    for (const c of l.connections) c.destroy()
    const server = l.server
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
    await l.udp?.close()
  }

  private async listen(spec: StoredForward): Promise<void> {
    if (spec.proto === 'udp') {
      const udp = new UdpForwarder({
        bindHost: spec.bindHost, port: spec.port, toHost: spec.toHost, toPort: spec.toPort,
        idleMs: (spec.idleS ?? DEFAULT_UDP_IDLE_S) * 1000, maxFlows: spec.maxFlows ?? DEFAULT_UDP_MAX_FLOWS,
        session: () => this.deps.peers().session(spec.peer), logger: this.deps.logger,
      })
      await udp.listen()
      this.live.set(spec.id, { spec, server: null, udp, lastError: null, connections: new Set(), bytesIn: 0, bytesOut: 0, nextConn: 1 })
      return
    }
    const server = createServer({ noDelay: true, pauseOnConnect: true, allowHalfOpen: true })
    const l: LiveForward = { spec, server, udp: null, lastError: null, connections: new Set(), bytesIn: 0, bytesOut: 0, nextConn: 1 }
    server.on('connection', (sock) => this.onConnection(l, sock))
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') {
          reject(new AppError('PORT_IN_USE', `${formatHostPort(spec.bindHost, spec.port)} is already in use on this machine`, `pick another local port, e.g.: p2pctl forward ${spec.port + 10000 <= 65535 ? spec.port + 10000 : 18080} --peer ${spec.peer} --to ${spec.toPort}`))
        } else if (err.code === 'EACCES') {
          reject(new AppError('BAD_REQUEST', `not allowed to listen on ${formatHostPort(spec.bindHost, spec.port)} (${err.code})`, 'ports below 1024 need privileges; pick a port above 1024'))
        } else if (err.code === 'EADDRNOTAVAIL') {
          reject(new AppError('BAD_REQUEST', `${spec.bindHost} is not an address of this machine`))
        } else reject(err)
      })
      server.listen(spec.port, spec.bindHost, () => {
        server.removeAllListeners('error')
        server.on('error', (err) => this.deps.logger.error({ err, forward: spec.id }, 'forward listener error'))
        this.live.set(spec.id, l)
        resolve()
      })
    })
  }

  private onConnection(l: LiveForward, sock: Socket): void {
    const connId = `${l.spec.id}/${l.nextConn++}`
    l.connections.add(sock)
    sock.on('error', () => {})
    sock.on('close', () => l.connections.delete(sock))
    this.deps.counters.inc('forward_connections')
    void (async () => {
      try {
        let session = await this.deps.peers().session(l.spec.peer)
        const stream = await session.open('tcp', l.spec.toHost, l.spec.toPort).catch(async (err: unknown) => {
          if ((err as { code?: string }).code !== 'SESSION_LOST') throw err
          // The session died under us (the peer restarted): one retry on a fresh session.
          session = await this.deps.peers().session(l.spec.peer)
          return session.open('tcp', l.spec.toHost, l.spec.toPort)
        })
        if (sock.destroyed) {
          stream.destroy()
          return
        }
        this.deps.emit({ type: 'connection', action: 'open', forwardId: l.spec.id, connectionId: connId, detail: `${sock.remoteAddress}:${sock.remotePort} -> ${l.spec.peer} ${formatHostPort(l.spec.toHost, l.spec.toPort)}` })
        stream.on('error', () => {})
        splice(sock, stream, l, (err) => {
          this.deps.emit({ type: 'connection', action: 'close', forwardId: l.spec.id, connectionId: connId, detail: err ? err.message : 'closed' })
        })
        sock.resume()
      } catch (err) {
        // Refused or unreachable: close the client's connection at once, and say why.
        this.deps.counters.inc('forward_connections_failed')
        sock.resetAndDestroy()
        const detail = isAppError(err) ? `${err.message}${err.hint ? ` (${err.hint})` : ''}` : (err as Error).message
        l.lastError = detail
        this.deps.logger.warn({ forward: l.spec.id, err: detail }, 'forwarded connection refused')
        this.deps.emit({ type: 'connection', action: 'close', forwardId: l.spec.id, connectionId: connId, detail })
        this.deps.emit({ type: 'error', code: isAppError(err) ? err.code : 'INTERNAL', message: detail, peer: l.spec.peer, forwardId: l.spec.id })
      }
    })()
  }

  private info(s: StoredForward): ForwardInfo {
    const l = this.live.get(s.id)
    const base = { id: s.id, proto: s.proto, bind: formatHostPort(s.bindHost, s.port), peer: s.peer, to: formatHostPort(s.toHost, s.toPort) }
    const u = l?.udp
    if (s.proto === 'udp') {
      const st = u?.stats
      return {
        ...base, connections: u?.flowCount ?? 0, bytesIn: st?.bytesIn ?? 0, bytesOut: st?.bytesOut ?? 0, lastError: u?.lastError?.message ?? null,
        udp: {
          idleS: s.idleS ?? DEFAULT_UDP_IDLE_S, maxFlows: s.maxFlows ?? DEFAULT_UDP_MAX_FLOWS,
          datagramsIn: st?.datagramsIn ?? 0, datagramsOut: st?.datagramsOut ?? 0, drops: { ...(st?.drops ?? {}) }, flows: u?.flowList() ?? [],
        },
      }
    }
    return { ...base, connections: l?.connections.size ?? 0, bytesIn: l?.bytesIn ?? 0, bytesOut: l?.bytesOut ?? 0, lastError: l?.lastError ?? null }
  }
}
