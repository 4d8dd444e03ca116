// Drives protocol/path-select.ts for one peer: probes every known address of the peer over the
// session's socket with the session's own signed probes (docs/PROTOCOL.md §10), fails over to a
// standby when the active path stalls, and moves to a better path. A move is a re-punch without
// a broker toward the chosen address (a fresh control stream and Noise handshake, both sides
// joining through a nonce only the two of them can derive); the new session takes over the old
// one's streams as after any re-punch. No standby answered: the peer manager re-punches through
// a broker, as before.
import type { UDXSocket } from 'udx-native'
import { encodeSigned, type Introduce, type Probe, type ProbeAck } from '../protocol/wire.js'
import { keyToHex, type KeyPair } from '../protocol/identity.js'
import { derivePathNonce, type SessionKeys } from '../protocol/stream-keys.js'
import { DEFAULT_PUNCH, RELAY_RANK, rankOf, sameAddr, type Addr, type PunchConfig } from '../protocol/punch.js'
import { DEFAULT_PATH_SELECT, describeSwitch, isAlive, pathStep, standbysOf, startPathSelect, activeOf, type LocalVia, type PathAction, type PathEvent, type PathSelectConfig, type PathSelectState, type SwitchReason } from '../protocol/path-select.js'
import { familyOf, formatHostPort } from '../common/lifecycle.js'
import { preciseNow } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Endpoint } from './endpoint.js'
import type { Counters } from './counters.js'
import type { Connector, Punched } from './connector.js'
import type { PeerSession } from './session.js'
import type { PathRoutes } from './path-routes.js'
import { addressClass } from './interface-filter.js'

/** Re-punch nonces per session (a session that needs more moves gets a fresh one with each move). */
export const REPATH_NONCES = 8
// A move that has not produced a session by then has failed (the machine tries the next standby
// or a broker re-punch); a late success is still adopted.
const SWITCH_TIMEOUT_MS = 3_000
const MAX_VERDICTS = 64
// A move punches toward addresses that answered a moment ago: the first answer wins (no window
// for better ones: the target was chosen already), and it gives up when the move does.
const REPATH_PUNCH: PunchConfig = { ...DEFAULT_PUNCH, selectMs: 0, timeoutMs: SWITCH_TIMEOUT_MS }
// Our own move goes to the path chosen, and nowhere else: the peer joining probes every address
// it knows of us, and one of those answering first must not take the move somewhere else.
const MOVE_PUNCH: PunchConfig = { ...REPATH_PUNCH, learnReflexive: false }

/** One standby as the API shows it; `local` = the local address it leaves from when not the session's socket. */
export interface StandbyInfo { remote: string; local: string | null; rttMs: number | null; alive: boolean }

// An address worth probing: a port, and of a class that can carry a path.
const usableAddr = (a: Addr): boolean => a.port !== 0 && addressClass(a.host) === null

// The main socket as a path's local side, when the session runs on another socket.
const MAIN_VIA = 'main'

/** Dependencies of one peer's monitor. */
export interface PathMonitorDeps {
  endpoint: Endpoint
  keyPair: KeyPair
  connector: Connector
  routes: PathRoutes
  peerKey: Uint8Array
  /** The peer's name for introductions we make up ("" if none). */
  peerName: () => string
  /** Make a punched path the peer's session, with the reason for the path event. */
  adopt: (p: Punched, reason: string) => void
  /** No standby answered: re-punch through a broker. */
  repunch: (session: PeerSession, silentMs: number) => void
  /** Register again with every broker now (on a stall: the broker learns a changed mapping at once). */
  refreshBrokers: () => void
  /** May a path to `remote` be used (interfaces_allow/deny)? Absent = yes. */
  allowPath?: (remote: Addr) => Promise<boolean>
  counters: Counters
  logger: Logger
  config?: PathSelectConfig
}

/** The path monitor of one peer: follows the peer's current session. */
export class PathMonitor {
  private state: PathSelectState | null = null
  private session: PeerSession | null = null
  private keys: SessionKeys | null = null
  private nonces: string[] = []
  private timer: NodeJS.Timeout | null = null
  private nextRepath = 0
  private lastSocket: UDXSocket | null = null
  /** "host:port" -> may a path to it be used (its route leaves through an allowed interface)? */
  private readonly verdicts = new Map<string, boolean>()

  constructor(private readonly deps: PathMonitorDeps) {}

  /** Follow `session` (new, or one that replaced the last); `known` = other addresses of the peer. */
  attach(session: PeerSession, keys: SessionKeys, known: Addr[]): void {
    this.detach()
    this.session = session
    this.keys = keys
    this.nextRepath = 0
    const rank = session.kind === 'relay' ? RELAY_RANK : rankOf(session.remote)
    const others = known.filter((a) => !sameAddr(a, session.remote)).map((addr) => ({ addr, rank: rankOf(addr) }))
    const now = preciseNow()
    const vias = this.localVias(session)
    if (!this.state) this.state = startPathSelect(session.remote, rank, others, session.initiator, now, this.deps.config ?? DEFAULT_PATH_SELECT, vias)
    else {
      this.state = { ...this.state, controlling: session.initiator }
      this.feed({ type: 'vias', vias })
      this.feed({ type: 'switched', remote: session.remote, rank, relocated: this.lastSocket !== session.socket })
      for (const o of others) this.feed({ type: 'add', ...o })
    }
    this.lastSocket = session.socket
    this.nonces = [keyToHex(derivePathNonce(keys, 'probe')), ...Array.from({ length: REPATH_NONCES }, (_, k) => keyToHex(derivePathNonce(keys, k)))]
    this.nonces.forEach((hex, i) => this.deps.routes.set(hex, this, i === 0 ? 'probe' : i - 1))
    session.on('stalled', (silentMs: number) => {
      if (this.session !== session) return
      this.deps.refreshBrokers()
      this.feed({ type: 'stalled', silentMs })
    })
    session.on('recovered', () => {
      if (this.session === session) this.feed({ type: 'recovered' })
    })
    session.on('close', () => {
      if (this.session === session) this.detach()
    })
    // The peer's addresses changed (ADDRS): new ones become paths to probe, e.g. a LAN both joined.
    session.on('addrs', (addrs: Addr[]) => {
      if (this.session !== session) return
      for (const addr of addrs.filter(usableAddr)) this.feed({ type: 'add', addr, rank: rankOf(addr) })
    })
    this.feed({ type: 'tick' })
  }

  /** Stop probing (the session ended); what is known of the paths stays for the next session. */
  detach(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    for (const hex of this.nonces) this.deps.routes.delete(hex, this)
    this.nonces = []
    this.session = null
  }

  /** The peer's key (probes must be signed by it). */
  get peerKey(): Uint8Array {
    return this.deps.peerKey
  }

  /** Known addresses other than the active one, best first. */
  standbys(): StandbyInfo[] {
    const s = this.state
    if (!s) return []
    const now = preciseNow()
    return standbysOf(s, now).map((p) => ({ remote: formatHostPort(p.addr.host, p.addr.port), local: p.via, rttMs: p.rttMs === null ? null : Math.round(p.rttMs * 1000) / 1000, alive: isAlive(p, now, s.config) }))
  }

  /** The active path's RTT as the probes measure it. */
  activeRttMs(): number | null {
    return this.state ? activeOf(this.state)?.rttMs ?? null : null
  }

  /** A verified probe or answer with one of this session's nonces (`use`), arrived on `socket`. */
  onProbe(use: 'probe' | number, msg: Probe | ProbeAck, from: Addr, socket: UDXSocket): void {
    if (!this.session) return
    if (use === 'probe') {
      if (msg.type === 'probeAck') {
        const via = this.viaOf(this.session, socket)
        if (via !== undefined) this.feed({ type: 'ack', from, seq: msg.seq, via })
        return
      }
      this.send('probeAck', msg.punchNonce, from, msg.seq, socket)
      // A new address of the peer (peer-reflexive) is tracked once we may use its route.
      const id = formatHostPort(from.host, from.port)
      const verdict = this.verdicts.get(id)
      if (verdict === true) this.feed({ type: 'probe', from })
      else if (verdict === undefined && this.verdicts.size < MAX_VERDICTS) {
        this.verdicts.set(id, false)
        void (this.deps.allowPath?.(from) ?? Promise.resolve(true)).then((ok) => {
          this.verdicts.set(id, ok)
          if (ok) this.feed({ type: 'probe', from })
        })
      }
      return
    }
    // The peer moves the session (a re-punch without a broker under nonce `use`): join it.
    if (msg.type !== 'probe' || this.deps.connector.has(msg.punchNonce)) return
    this.nextRepath = Math.max(this.nextRepath, use + 1)
    const session = this.session
    const phase = this.state?.phase
    const why = phase?.type === 'stalled' ? `: active ${formatHostPort(session.remote.host, session.remote.port)} silent for ${((preciseNow() - phase.since) / 1000).toFixed(1)} s` : ''
    const known = this.state ? [from, ...standbysOf(this.state, preciseNow()).map((p) => p.addr)] : [from]
    this.deps.counters.inc('path_moves_joined')
    this.feed({ type: 'peer-moving', from })
    this.run(session, use, known, from, null, (remote) => `the peer moved the session to ${formatHostPort(remote.host, remote.port)}${why}`)
  }

  // The other local sockets a path of this session can leave from: every interface socket but the
  // session's, and the main socket when the session runs on another.
  private localVias(session: PeerSession): LocalVia[] {
    const out: LocalVia[] = []
    if (this.deps.endpoint.interfaceAddressOf(session.socket) !== null) out.push({ id: MAIN_VIA, family: 0 })
    for (const [address, socket] of this.deps.endpoint.interfaceSockets()) if (socket !== session.socket) out.push({ id: address, family: familyOf(address) })
    return out
  }

  // A path's local side: null = the session's socket; undefined = a socket no path leaves from.
  private viaOf(session: PeerSession, socket: UDXSocket): string | null | undefined {
    if (socket === session.socket) return null
    if (socket === this.deps.endpoint.socket) return MAIN_VIA
    return this.deps.endpoint.interfaceAddressOf(socket) ?? undefined
  }

  private socketOf(session: PeerSession, via: string | null): UDXSocket | null {
    if (via === null) return session.socket
    if (via === MAIN_VIA) return this.deps.endpoint.socket
    return this.deps.endpoint.interfaceSockets().get(via) ?? null
  }

  private feed(event: PathEvent): void {
    if (!this.state) return
    const { state, actions } = pathStep(this.state, event, preciseNow())
    this.state = state
    for (const a of actions) this.act(a)
  }

  private act(a: PathAction): void {
    const session = this.session
    switch (a.type) {
      case 'send-probe': {
        const socket = session && this.socketOf(session, a.via)
        if (socket && this.nonces[0]) this.send('probe', Buffer.from(this.nonces[0], 'hex'), a.to, a.seq, socket)
        return
      }
      case 'wake-at': {
        if (this.timer) clearTimeout(this.timer)
        if (!session) return
        this.timer = setTimeout(() => this.wake(session), Math.max(0, a.at - preciseNow()))
        this.timer.unref()
        return
      }
      case 'switch':
        if (session) this.switchTo(session, a.to, a.via, a.reason)
        return
      case 'repunch':
        if (session) this.deps.repunch(session, a.silentMs)
        return
      default: {
        const never: never = a
        throw new Error(`unhandled path action ${(never as { type: string }).type}`)
      }
    }
  }

  // Interfaces come and go between probes: the machine learns the current sockets before each round.
  private wake(session: PeerSession): void {
    if (this.session !== session || !this.state) return
    const vias = this.localVias(session)
    const key = (v: LocalVia[]): string => v.map((x) => x.id).join(',')
    if (key(vias) !== key(this.state.vias)) this.feed({ type: 'vias', vias })
    this.feed({ type: 'tick' })
  }

  private switchTo(session: PeerSession, to: Addr, via: string | null, reason: SwitchReason): void {
    const what = describeSwitch(to, reason, via)
    this.deps.counters.inc(reason.type === 'failover' ? 'path_failovers' : 'path_switches')
    this.deps.logger.info({ peer: keyToHex(this.deps.peerKey).slice(0, 16), to: formatHostPort(to.host, to.port), via, reason: reason.type }, what)
    // The move punches from the socket this path was measured on, so it lands where it was chosen.
    this.run(session, this.nextRepath++, [to], to, via, () => what, this.socketOf(session, via) ?? undefined, MOVE_PUNCH)
  }

  // Run a move (ours toward `to`, or the peer's we join); a move that has not replaced the
  // session in time, or failed, is reported to the machine (a late success is still adopted).
  private run(session: PeerSession, k: number, candidates: Addr[], to: Addr, via: string | null, reason: (remote: Addr) => string, from?: UDXSocket, punch: PunchConfig = REPATH_PUNCH): void {
    let settled = false
    const failed = (why: string): void => {
      if (settled) return
      settled = true
      this.deps.counters.inc('path_moves_failed')
      this.deps.logger.info({ to: formatHostPort(to.host, to.port), why }, 'path move did not come up')
      if (this.session === session) this.feed({ type: 'switch-failed', to, via })
    }
    if (k >= REPATH_NONCES) return failed('no re-punch nonce left in this session')
    const t = setTimeout(() => failed(`no session within ${SWITCH_TIMEOUT_MS} ms`), SWITCH_TIMEOUT_MS)
    t.unref()
    this.repath(k, candidates, session, reason, from, punch).then(() => {
      clearTimeout(t)
      // adopt() may have kept the old session (a concurrent one won): the move is over either way.
      if (this.session === session) failed('the session was kept')
      settled = true
    }, (err: Error) => {
      clearTimeout(t)
      failed(err.message)
    })
  }

  // A punch toward `candidates` under the session's k-th re-punch nonce, roles as in the session;
  // the result replaces the session (its streams move over).
  private async repath(k: number, candidates: Addr[], session: PeerSession, reason: (remote: Addr) => string, from: UDXSocket | undefined, punch: PunchConfig): Promise<void> {
    const keys = this.keys
    if (!keys) throw new Error('no session')
    const intro: Introduce = {
      type: 'introduce', reqId: 0, peerKey: this.deps.peerKey, peerName: this.deps.peerName(), punchNonce: derivePathNonce(keys, k),
      candidates: candidates.map((c) => ({ ...c, family: familyOf(c.host) })), requester: session.initiator, peerNat: 'unknown',
    }
    // Adopted even when a broker re-punch replaced the session meanwhile: the peer adopts it too.
    const p = await this.deps.connector.start(intro, session.initiator, () => {}, null, punch, from)
    this.deps.adopt(p, reason(p.remote))
  }

  private send(type: 'probe' | 'probeAck', punchNonce: Uint8Array, to: Addr, seq: number, via: UDXSocket): void {
    const datagram = encodeSigned(
      { type, punchNonce, key: this.deps.keyPair.publicKey, streamId: 0, seq, addr: { ...to, family: familyOf(to.host) }, sig: new Uint8Array(64) },
      this.deps.keyPair.secretKey,
    )
    this.deps.endpoint.send(datagram, to, via)
    this.deps.counters.inc(type === 'probe' ? 'path_probes_sent' : 'path_probe_acks_sent')
  }
}
