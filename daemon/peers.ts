// Peers: names pinned to keys, connect orchestration (broker introduction, punch, handshake) and
// the live sessions. A key that differs from the pinned one is a hard error, never a silent switch.
import { keyFromHex, keyToHex, type KeyPair } from '../protocol/identity.js'
import type { Introduce } from '../protocol/wire.js'
import { MAX_ADDRS } from '../protocol/control.js'
import type { Addr } from '../protocol/punch.js'
import { AppError } from '../common/errors.js'
import { familyOf, formatHostPort } from '../common/lifecycle.js'
import type { Logger } from '../common/logger.js'
import type { BrokerClient } from './broker-client.js'
import type { Connector, Punched } from './connector.js'
import { introduceVia } from './introducer.js'
import type { Endpoint } from './endpoint.js'
import type { Counters } from './counters.js'
import { PeerSession, type CheckHandler, type OpenHandler } from './session.js'
import type { PinnedPeer } from './state-store.js'
import type { DaemonEvent, PeerInfo, PunchStage } from './api/types.js'
import type { TcpPaths } from './tcp/path.js'
import { PathMonitor } from './path-monitor.js'
import { pathInfo } from './path-info.js'
import { heal, upgrade, type RepunchHost } from './repunch.js'
import type { PathRoutes } from './path-routes.js'

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/

/** What the manager knows of one peer. */
export interface PeerEntry {
  key: string
  /** Name the peer's broker registration carries (shown when we have no pin). */
  seenName: string | null
  state: PeerInfo['state']
  lastError: { code: string; message: string } | null
  session: PeerSession | null
  connecting: Promise<PeerSession> | null
  /** A re-punch after a stalled path is running. */
  healing: boolean
  /** The relayed session whose upgrade loop runs. */
  upgrading: PeerSession | null
  /** Probes the peer's other addresses and moves the session between them. */
  paths: PathMonitor | null
}

const RACE_WINDOW_MS = 5_000

/** Dependencies of the peer manager. */
export interface PeerManagerDeps {
  endpoint: Endpoint
  keyPair: KeyPair
  name: string
  version: string
  brokers: () => BrokerClient[]
  connector: Connector
  /** Kernel TCP paths; null = UDP only. */
  tcp: TcpPaths | null
  pins: PinnedPeer[]
  savePins: () => void
  onOpen: OpenHandler
  onCheck: CheckHandler
  /** Ask `broker` for a relay for `intro`'s introduction; resolves with the relay address. Absent = never relay. */
  askRelay?: (broker: BrokerClient, intro: Introduce) => Promise<Addr>
  /** Path nonces of live sessions (standby probes, failover). */
  pathRoutes: PathRoutes
  /** May a path to `remote` be used (interfaces_allow/deny)? */
  allowPath?: (remote: Addr) => Promise<boolean>
  emit: (e: DaemonEvent) => void
  logger: Logger
  counters: Counters
}

/** Owns pins, peer states and sessions. */
export class PeerManager {
  private readonly entries = new Map<string, PeerEntry>()
  private readonly repunch: RepunchHost
  private readonly selfKey: string

  constructor(private readonly deps: PeerManagerDeps) {
    this.selfKey = keyToHex(deps.keyPair.publicKey)
    this.repunch = {
      connect: (key, opts) => this.connect(key, opts), brokers: () => deps.brokers(), label: (k) => this.label(k), nameOf: (k) => this.nameOf(k),
      emit: (ev) => deps.emit(ev), logger: deps.logger, counters: deps.counters,
    }
  }

  /** Every peer we know: pinned or seen. */
  list(): PeerInfo[] {
    const keys = new Set<string>([...this.deps.pins.map((p) => p.key), ...this.entries.keys()])
    return [...keys].map((k) => this.info(k))
  }

  /** The display name for a key: pinned name, else the broker name, else null. Events name peers this way. */
  nameOf(key: string): string | null {
    return this.deps.pins.find((p) => p.key === key)?.name ?? this.entries.get(key)?.seenName ?? null
  }

  /** A label for messages: the name, else a short key. */
  label(key: string): string {
    return this.nameOf(key) ?? `${key.slice(0, 12)}…`
  }

  /** Resolve a name or hex key to a key, if we know it. */
  resolveKnown(spec: string): string | null {
    const fromHex = keyFromHex(spec)
    if (fromHex) return spec.toLowerCase()
    return this.deps.pins.find((p) => p.name === spec)?.key ?? null
  }

  /** Pin a name to a key (`p2pctl peer add`). */
  add(name: string, key: string): PeerInfo {
    if (!NAME_RE.test(name)) throw new AppError('BAD_REQUEST', `"${name}" is not a valid peer name`, 'names are 1-32 characters: lowercase letters, digits and "-", starting with a letter or digit')
    if (!keyFromHex(key)) throw new AppError('BAD_REQUEST', 'the key must be 64 hex characters', 'on the peer run: p2pctl id')
    key = key.toLowerCase()
    if (key === this.selfKey) throw new AppError('BAD_REQUEST', 'that is this daemon\'s own key')
    const existing = this.deps.pins.find((p) => p.name === name)
    if (existing && existing.key !== key) throw new AppError('PEER_NAME_TAKEN', `the name ${name} is already pinned to another key (${existing.key.slice(0, 16)}…)`, `to replace it run: p2pctl peer remove ${name}`)
    const other = this.deps.pins.find((p) => p.key === key && p.name !== name)
    if (other) throw new AppError('PEER_NAME_TAKEN', `that key is already pinned as ${other.name}`, `to rename it run: p2pctl peer remove ${other.name}`)
    if (!existing) {
      this.deps.pins.push({ name, key, origin: 'user' })
      this.deps.savePins()
    }
    return this.info(key)
  }

  /** Forget a pin (and close its session). */
  remove(spec: string): void {
    const key = this.resolveKnown(spec)
    const i = this.deps.pins.findIndex((p) => p.name === spec || p.key === key)
    if (i < 0 && (key === null || !this.entries.has(key))) throw new AppError('PEER_UNKNOWN', `no peer ${spec}`, 'list peers with: p2pctl peers')
    if (i >= 0) {
      this.deps.pins.splice(i, 1)
      this.deps.savePins()
    }
    if (key) {
      this.entries.get(key)?.session?.close('peer removed')
      this.entries.get(key)?.paths?.detach()
      this.entries.delete(key)
    }
  }

  /** The live session with `spec`, connecting first when needed. */
  async session(spec: string): Promise<PeerSession> {
    const key = this.resolveKnown(spec)
    const live = key ? this.entries.get(key)?.session : null
    if (live && live.alive) return live
    return this.connect(spec)
  }

  /** Connect (or join the running attempt) and return the session. */
  async connect(spec: string, opts: { fresh?: boolean; direct?: boolean; healing?: boolean } = {}): Promise<PeerSession> {
    const fromHex = keyFromHex(spec)
    if (!fromHex && !NAME_RE.test(spec)) throw new AppError('BAD_REQUEST', `"${spec}" is neither a peer name nor a 64-hex-character key`, 'list peers with: p2pctl peers')
    const pin = this.deps.pins.find((p) => p.name === spec || p.key === spec.toLowerCase())
    const key = fromHex ? spec.toLowerCase() : pin?.key ?? null
    if (key === this.selfKey) throw new AppError('BAD_REQUEST', 'that is this daemon\'s own key')
    if (key) {
      const e = this.entry(key)
      if (e.session?.alive && !opts.fresh) return e.session
      if (e.connecting) return e.connecting
    }
    // A user pin is an alias: ask for the key. A TOFU pin or a bare name: ask by name and check.
    const byName = !fromHex && (pin === undefined || pin.origin === 'tofu')
    const target = byName ? spec : keyFromHex(key!)!
    const label = key ? this.label(key) : spec
    const progress = (k: string | null, stage: PunchStage, detail: string): void => this.deps.emit({ type: 'punch', peer: k ? this.nameOf(k) ?? k : spec, stage, detail })

    const attempt = (async (): Promise<PeerSession> => {
      // Through any live broker: the first that answers introduces us.
      const { broker, intro } = await introduceVia(this.deps.brokers(), target, (b) => progress(key, 'lookup', `asking broker ${b.info().address} to introduce ${label}`)).catch((err: unknown) => {
        if (!key && (err as AppError).code === 'PEER_OFFLINE') {
          throw new AppError('PEER_UNKNOWN', `unknown peer ${spec}: no peer of that name is pinned here or registered with any of our brokers`, `check the name (p2pctl peers), or pin its key: p2pctl peer add ${spec} KEY`)
        }
        throw err
      })
      const introKey = keyToHex(intro.peerKey)
      if (pin && pin.key !== introKey) {
        throw new AppError('PEER_KEY_CHANGED', `${pin.name}'s key has changed: pinned ${pin.key.slice(0, 16)}…, the broker now introduces ${introKey.slice(0, 16)}…; refusing to connect`, `if ${pin.name} really has a new key, run: p2pctl peer remove ${pin.name}, then connect again`)
      }
      if (introKey === this.selfKey) throw new AppError('BAD_REQUEST', `${spec} is this daemon itself`)
      const e = this.entry(introKey)
      if (e.session?.alive && !opts.fresh) return e.session
      e.seenName = intro.peerName || e.seenName
      if (!key && e.connecting) return e.connecting
      // A fresh attempt beside a working session (an upgrade, a re-punch) does not unsettle it.
      if (!e.session?.alive) this.setState(e, 'connecting', 'connect requested')
      progress(introKey, 'introduced', `introduced to ${intro.peerName || introKey.slice(0, 12)} with ${intro.candidates.length} candidate(s)`)
      const askRelay = this.deps.askRelay
      const relay = askRelay && !opts.direct ? { ask: () => askRelay(broker, intro), now: opts.healing === true } : null
      const punched = await this.deps.connector.start(intro, true, (stage, detail) => progress(introKey, stage, detail), relay)
      return this.adopt(punched)
    })()
    const tracked = attempt.catch((err: unknown) => {
      const k = key ?? null
      if (k) {
        const e = this.entry(k)
        // A failed try for a better path while the session works is not the peer's error.
        if (!e.session?.alive || e.session.isStalled) e.lastError = { code: (err as AppError).code ?? 'INTERNAL', message: (err as Error).message }
        if (!e.session?.alive) this.setState(e, 'failed', (err as Error).message)
      }
      progress(k, 'failed', (err as Error).message)
      throw err
    })
    if (key) {
      const e = this.entry(key)
      e.connecting = tracked
      void tracked.catch(() => {}).finally(() => {
        if (e.connecting === tracked) e.connecting = null
      })
    }
    return tracked
  }

  /** An introduction where the other side asked: punch as responder. */
  onIntroduce(intro: Introduce): void {
    const key = keyToHex(intro.peerKey)
    if (key === this.selfKey) return
    // The requester's CONNECT is echoed so that this copy survives loss: run each introduction once.
    if (this.deps.connector.has(intro.punchNonce)) {
      this.deps.counters.inc('introductions_duplicate')
      return
    }
    const namePin = intro.peerName ? this.deps.pins.find((p) => p.name === intro.peerName) : undefined
    const e = this.entry(key)
    if (namePin && namePin.key !== key) this.deps.logger.warn({ name: intro.peerName, key }, 'peer claims a name pinned to another key; showing its key instead')
    else if (intro.peerName) e.seenName = intro.peerName
    // If both sides asked at once, both attempts run (each has its own nonce and a clear
    // initiator); adopt() then keeps the same one of the two sessions on both sides.
    this.setState(e, 'connecting', 'peer asked to connect')
    const progress = (stage: PunchStage, detail: string): void => this.deps.emit({ type: 'punch', peer: this.nameOf(key) ?? key, stage, detail })
    const attempt = this.deps.connector.start(intro, false, progress).then((p) => this.adopt(p))
    if (!e.connecting) {
      e.connecting = attempt
      void attempt.catch(() => {}).finally(() => {
        if (e.connecting === attempt) e.connecting = null
      })
    }
    attempt.catch((err: Error) => {
      if (!e.session?.alive) {
        e.lastError = { code: (err as AppError).code ?? 'INTERNAL', message: err.message }
        this.setState(e, 'failed', err.message)
      }
    })
  }

  /** Tell every connected peer our addresses now (they changed): their monitors try the new ones. */
  announce(addrs: Addr[]): void {
    const msg = { type: 'addrs' as const, addrs: addrs.slice(0, MAX_ADDRS).map((a) => ({ host: a.host, port: a.port, family: familyOf(a.host) })) }
    for (const e of this.entries.values()) if (e.session?.alive) e.session.sendControl(msg)
  }

  /** Close every session. */
  closeAll(): void {
    for (const e of this.entries.values()) e.session?.close('daemon stopping')
  }

  /** Info for one key. */
  info(key: string): PeerInfo {
    const e = this.entries.get(key)
    const s = e?.session?.alive ? e.session : null
    return {
      name: this.nameOf(key),
      key,
      state: e?.state ?? 'idle',
      path: s ? pathInfo(s, e?.paths ?? null) : null,
      lastError: e?.lastError ?? null,
    }
  }

  private adopt(p: Punched, reason?: string): PeerSession {
    const key = keyToHex(p.intro.peerKey)
    const e = this.entry(key)
    // First contact through a broker name pins it (TOFU), unless the user pinned the key already.
    const name = p.intro.peerName
    if (name && !this.deps.pins.some((x) => x.key === key) && !this.deps.pins.some((x) => x.name === name)) {
      this.deps.pins.push({ name, key, origin: 'tofu' })
      this.deps.savePins()
    }
    const session = new PeerSession({
      endpoint: this.deps.endpoint, socket: p.socket, controlRaw: p.controlRaw,
      keys: { tx: p.handshake.tx, rx: p.handshake.rx, hash: p.handshake.hash, initiator: p.initiator },
      publicKey: this.deps.keyPair.publicKey, remoteKey: p.intro.peerKey, remote: p.remote, localHost: p.localHost, standbys: p.standbys, rttMs: p.rttMs,
      kind: p.kind, relayReason: p.relayReason,
      leftover: p.handshake.leftover, selfName: this.deps.name, version: this.deps.version, onOpen: this.deps.onOpen, onCheck: this.deps.onCheck,
      logger: this.deps.logger, counters: this.deps.counters, tcp: this.deps.tcp,
    })
    const old = e.session
    // Two sessions made at once (both sides re-punched): both daemons keep the one whose Noise
    // initiator has the smaller key, so they always agree. An old session that is stalled, or
    // older than the race window (the peer restarted), always gives way.
    if (old && old.alive && !old.isStalled && Date.now() - old.startedAt < RACE_WINDOW_MS) {
      const initiatorOf = (x: PeerSession): string => (x.initiator ? this.selfKey : x.remoteKeyHex)
      if (initiatorOf(old) < initiatorOf(session)) {
        session.retire('a concurrent session with this peer won')
        return old
      }
    }
    e.session = session
    e.lastError = null
    if (old && old !== session) {
      // Same peer, new path: live connections move over in place (no reconnect, no byte lost).
      old.handOver(session)
      old.retire('replaced by a new session')
    }
    this.watchPaths(e, session, p)
    session.on('path-change', () => {
      if (e.session === session) this.deps.emit({ type: 'path', peer: this.nameOf(key) ?? key, path: this.info(key).path, reason: session.onTcp ? 'kernel TCP path up' : 'back on the UDP path' })
    })
    session.on('close', (reason: string) => {
      if (e.session !== session) return
      e.session = null
      this.setState(e, 'idle', `session closed: ${reason}`)
      this.deps.emit({ type: 'path', peer: this.nameOf(key) ?? key, path: null, reason: `session closed: ${reason}` })
    })
    this.deps.counters.inc('sessions_established')
    if (session.kind === 'relay') this.deps.counters.inc('sessions_relayed')
    // One side (the Noise initiator) keeps trying for a direct path; both sides move when it lands.
    if (session.kind === 'relay' && session.initiator) void upgrade(this.repunch, this.entry(key), session, p.bothHard)
    this.deps.emit({ type: 'path', peer: this.nameOf(key) ?? key, path: this.info(key).path, reason: reason ?? (old ? 'moved to a new path after a re-punch' : 'new session') })
    this.setState(e, 'connected', `path ${formatHostPort(p.remote.host, p.remote.port)}`)
    this.deps.emit({ type: 'punch', peer: this.nameOf(key) ?? key, stage: 'connected', detail: `connected to ${this.label(key)} via ${formatHostPort(p.remote.host, p.remote.port)}` })
    return session
  }

  // The path monitor probes the standbys and moves a stalled session to one; with no standby
  // answering, it asks for a re-punch through a broker.
  private watchPaths(e: PeerEntry, session: PeerSession, p: Punched): void {
    e.paths ??= new PathMonitor({
      endpoint: this.deps.endpoint, keyPair: this.deps.keyPair, connector: this.deps.connector, routes: this.deps.pathRoutes, peerKey: p.intro.peerKey,
      peerName: () => e.seenName ?? '', adopt: (q, why) => void this.adopt(q, why), allowPath: this.deps.allowPath, counters: this.deps.counters, logger: this.deps.logger,
      refreshBrokers: () => this.deps.brokers().forEach((b) => b.refreshNow()),
      repunch: (s, silentMs) => {
        this.deps.logger.info({ peer: this.label(e.key), silentMs }, 'path stopped answering; re-punching')
        this.deps.emit({ type: 'punch', peer: this.nameOf(e.key) ?? e.key, stage: 'lookup', detail: `path silent for ${silentMs} ms, no standby answered: re-punching` })
        void heal(this.repunch, e, s)
      },
    })
    e.paths.attach(session, { tx: p.handshake.tx, rx: p.handshake.rx, hash: p.handshake.hash, initiator: p.initiator }, [...p.standbys, ...p.candidates])
  }

  private entry(key: string): PeerEntry {
    let e = this.entries.get(key)
    if (!e) {
      e = { key, seenName: null, state: 'idle', lastError: null, session: null, connecting: null, healing: false, upgrading: null, paths: null }
      this.entries.set(key, e)
    }
    return e
  }

  private setState(e: PeerEntry, state: PeerInfo['state'], reason: string): void {
    e.state = state
    this.deps.emit({ type: 'peer', peer: this.info(e.key), reason })
  }
}
