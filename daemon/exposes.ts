// Expose rules (default deny) and the acceptor side of an open: check the rule, dial the target.
import { connect as netConnect, type Socket } from 'node:net'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { lookup } from 'node:dns/promises'
import type NoiseSecretStream from '@hyperswarm/secret-stream'
import { randomBytes } from 'node:crypto'
import { findExposeRule, notExposedHint, formatTarget, type ExposeRule } from '../protocol/expose.js'
import { keyFromHex } from '../protocol/identity.js'
import type { Check, Open } from '../protocol/control.js'
import { AppError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { ExposeInfo, AddExposeRequest, DaemonEvent } from './api/types.js'
import type { StoredExpose } from './state-store.js'
import type { OpenDecision, PeerSession } from './session.js'
import type { PeerManager } from './peers.js'
import type { Counters } from './counters.js'
import { splice } from './splice.js'
import { DatagramChannel } from './datagram-channel.js'

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/
const DIAL_TIMEOUT_MS = 10_000
const UDP_BACKSTOP_IDLE_MS = 10 * 60_000

/** Owns the expose rules and answers the peer's open requests. */
export class Exposes {
  constructor(
    private readonly deps: {
      rules: StoredExpose[]
      save: () => void
      peers: () => PeerManager
      selfName: string
      emit: (e: DaemonEvent) => void
      logger: Logger
      counters: Counters
    },
  ) {}

  /** Every rule, for the API. */
  list(): ExposeInfo[] {
    return this.deps.rules.map((r) => this.info(r))
  }

  /** Add a rule (idempotent for an identical rule). */
  add(req: AddExposeRequest): ExposeInfo {
    const host = (req.host ?? 'localhost').trim() || 'localhost'
    if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535) throw new AppError('BAD_REQUEST', `port ${req.port} is out of range 1-65535`)
    const peer = req.peer === '*' ? '*' : keyFromHex(req.peer) ? req.peer.toLowerCase() : req.peer
    if (peer !== '*' && !keyFromHex(peer) && !NAME_RE.test(peer)) throw new AppError('BAD_REQUEST', `"${req.peer}" is neither a peer name nor a key`, 'use --peer NAME, --peer KEY or --any')
    const same = this.deps.rules.find((r) => r.proto === req.proto && r.host === host && r.port === req.port && r.peer === peer)
    if (same) return this.info(same)
    const rule: StoredExpose = { id: `e-${randomBytes(4).toString('hex')}`, proto: req.proto, host, port: req.port, peer }
    this.deps.rules.push(rule)
    this.deps.save()
    const info = this.info(rule)
    this.deps.emit({ type: 'expose', action: 'added', expose: info })
    return info
  }

  /** Remove a rule by id. */
  remove(id: string): void {
    const i = this.deps.rules.findIndex((r) => r.id === id)
    if (i < 0) throw new AppError('EXPOSE_UNKNOWN', `no expose rule ${id}`, 'list them with: p2pctl exposes')
    const [rule] = this.deps.rules.splice(i, 1)
    this.deps.save()
    this.deps.emit({ type: 'expose', action: 'removed', expose: this.info(rule!) })
  }

  /** Whether the peer may reach host:port (rules naming peers are resolved through pins). */
  allowed(peerKey: string, proto: 'tcp' | 'udp', host: string, port: number): ExposeRule | null {
    const peers = this.deps.peers()
    const rules: ExposeRule[] = this.deps.rules.map((r) => ({ ...r, peer: r.peer === '*' || keyFromHex(r.peer) ? r.peer : peers.resolveKnown(r.peer) ?? '' }))
    return findExposeRule(rules, { proto, host, port, peerKey })
  }

  /** The rule check alone, answered without dialling (a forward being added asks this). */
  async onCheck(session: PeerSession, req: Check): Promise<{ ok: true } | Extract<OpenDecision, { ok: false }>> {
    const refusal = this.refusal(session, req)
    return refusal ?? { ok: true }
  }

  /** Decide an open request from `session`'s peer: rule, then dial. */
  async onOpen(session: PeerSession, req: Open): Promise<OpenDecision> {
    const refusal = this.refusal(session, req)
    if (refusal) {
      this.deps.counters.inc('opens_refused_not_exposed')
      return refusal
    }
    if (req.proto === 'udp') return this.openUdp(req)
    let sock: Socket
    try {
      sock = await dial(req.host, req.port)
    } catch (err) {
      this.deps.counters.inc('opens_refused_target')
      return { ok: false, code: 'TARGET_REFUSED', message: `${this.deps.selfName} could not reach ${formatTarget(req.host, req.port)}: ${(err as Error).message}`, hint: `is the service running on ${this.deps.selfName}?` }
    }
    this.deps.counters.inc('opens_accepted')
    return {
      ok: true,
      attach: (stream) => {
        splice(sock, stream, { bytesIn: 0, bytesOut: 0 }, (err) => {
          if (err) this.deps.logger.debug({ err }, 'exposed connection ended with an error')
        })
      },
    }
  }

  // A UDP target has no dial: a socket connected to it, joined to the flow's datagram channel.
  private async openUdp(req: Open): Promise<OpenDecision> {
    const host = req.host === 'localhost' ? '127.0.0.1' : req.host
    let sock: UdpSocket
    try {
      const { address, family } = await lookup(host)
      sock = createSocket({ type: family === 6 ? 'udp6' : 'udp4' })
      sock.on('error', () => {})
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject)
        sock.connect(req.port, address, () => {
          sock.removeListener('error', reject)
          resolve()
        })
      })
    } catch (err) {
      this.deps.counters.inc('opens_refused_target')
      return { ok: false, code: 'TARGET_REFUSED', message: `${this.deps.selfName} could not reach udp ${formatTarget(req.host, req.port)}: ${(err as Error).message}`, hint: `is the service running on ${this.deps.selfName}?` }
    }
    this.deps.counters.inc('opens_accepted_udp')
    return {
      ok: true,
      attach: (stream) => {
        // UDP opens always ride their own UDX stream: a secret-stream with unreliable send().
        const ch = new DatagramChannel(stream as NoiseSecretStream)
        let last = Date.now()
        // The opener closes idle flows; this is only a backstop for a peer that vanished.
        const idle = setInterval(() => {
          if (Date.now() - last > UDP_BACKSTOP_IDLE_MS) ch.close()
        }, 10_000)
        idle.unref()
        ch.on('datagram', (payload: Uint8Array) => {
          last = Date.now()
          sock.send(payload)
        })
        sock.on('message', (m) => {
          last = Date.now()
          ch.send(m)
        })
        ch.on('close', () => {
          clearInterval(idle)
          sock.close()
        })
      },
    }
  }

  private refusal(session: PeerSession, req: Open | Check): Extract<OpenDecision, { ok: false }> | null {
    if (this.allowed(session.remoteKeyHex, req.proto, req.host, req.port)) return null
    const requester = this.deps.peers().nameOf(session.remoteKeyHex) ?? session.remoteKeyHex
    const target = formatTarget(req.host, req.port)
    return { ok: false, code: 'NOT_EXPOSED', message: `${this.deps.selfName} does not expose ${target} to ${requester}`, hint: notExposedHint(this.deps.selfName, requester, req.proto, req.host, req.port) }
  }

  private info(r: StoredExpose): ExposeInfo {
    const peer = r.peer === '*' ? '*' : keyFromHex(r.peer) ? this.deps.peers().nameOf(r.peer) ?? r.peer : r.peer
    return { id: r.id, proto: r.proto, target: formatTarget(r.host, r.port), peer }
  }
}

function dial(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host, port, timeout: DIAL_TIMEOUT_MS, allowHalfOpen: true })
    const fail = (err: Error): void => {
      sock.destroy()
      reject(err)
    }
    sock.once('error', fail)
    sock.once('timeout', () => fail(new Error(`connect timed out after ${DIAL_TIMEOUT_MS / 1000} s`)))
    sock.once('connect', () => {
      sock.removeListener('error', fail)
      // Until the stream is attached (splice adds its own), an error must not go unheard.
      sock.on('error', () => {})
      sock.setTimeout(0)
      sock.setNoDelay(true)
      // With no 'data' listener yet, early bytes (a server banner) wait in the socket.
      resolve(sock)
    })
  })
}
