// Drives punch attempts: one per introduction. Runs the pure punch machine on real timers and
// the socket, then makes the control stream and runs the Noise handshake over the winning path.
// Past an endpoint-dependent NAT it adds a many-port run (daemon/many-port.ts); a remote is then
// probed from the socket it was last heard on, and that socket becomes the session's.
import { randomInt } from 'node:crypto'
import type { UDXSocket, UDXStream } from 'udx-native'
import { encodeSigned, verifySigned, type Introduce, type NatMapping, type Probe, type ProbeAck } from '../protocol/wire.js'
import { bytesEqual, keyToHex, type KeyPair } from '../protocol/identity.js'
import { punchStep, rankOf, sameAddr, startPunch, type Addr, type PathKind, type PunchAction, type PunchConfig, type PunchEvent } from '../protocol/punch.js'
import { DEFAULT_MANY_PORT, ManyPortLimiter, manyPortRole, type ManyPortConfig } from '../protocol/birthday.js'
import { RateLimiter } from '../protocol/rate-limit.js'
import { planRelay, type RelayPlan } from '../protocol/relay-plan.js'
import { familyOf, normalizeHost, formatHostPort } from '../common/lifecycle.js'
import { preciseNow } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import { AppError } from '../common/errors.js'
import type { Endpoint } from './endpoint.js'
import type { Counters } from './counters.js'
import { runHandshake } from './handshake.js'
import type { PunchStage } from './api/types.js'
import { routeSource } from './route-source.js'
import type { RelayClient } from './relay-client.js'
import { ManyPortRun } from './many-port.js'
import type { Attempt, Punched, RelayOption } from './punched.js'

export type { Punched, RelayOption } from './punched.js'

const HANDSHAKE_TIMEOUT_MS = 5_000
// After an attempt ends, keep answering its probes a while: the peer may still need our answers.
const LINGER_MS = 10_000
// Every probe costs an Ed25519 verify: budgets per attempt (a plain punch answers at most 24
// candidates every 100 ms; a many-port run adds a burst of hundreds) and for the whole daemon.
const VERIFY_PER_ATTEMPT = { ratePerS: 400, burst: 800 }
const VERIFY_GLOBAL = { ratePerS: 3_000, burst: 3_000 }
// At most this many many-port runs at once (a hard-side run holds hundreds of sockets).
const MAX_MANY_PORT_RUNS = 2
// Many-port probes number from here, apart from the punch machine's (their answers are not its).
const MANY_PORT_SEQ = 0x80000000

const addrKey = (a: Addr): string => `${a.host}|${a.port}`

/** Runs punch attempts and answers probes. */
export class Connector {
  private readonly attempts = new Map<string, Attempt>()
  // Introductions between start() and their attempt being registered (the interface check awaits).
  private readonly starting = new Set<string>()
  private readonly verifyPerAttempt = new RateLimiter({ ...VERIFY_PER_ATTEMPT, maxKeys: 1024 })
  private readonly verifyGlobal = new RateLimiter({ ...VERIFY_GLOBAL, maxKeys: 1 })
  private readonly manyPortLimiter = new ManyPortLimiter()
  private manyPortRuns = 0
  private manyPortSeq = 0

  constructor(
    private readonly deps: {
      endpoint: Endpoint; keyPair: KeyPair; punch: PunchConfig; logger: Logger; counters: Counters
      /** May a path to `remote` be used? False when the kernel would reach it through a denied interface. */
      allowPath?: (remote: Addr) => Promise<boolean>
      /** Binds our side of relay allocations; absent = no relaying. */
      relay?: RelayClient
      /** Our own NAT classification (with the peer's, it plans the relay and many-port probing). */
      nat?: () => NatMapping
      manyPort?: ManyPortConfig
      /** Interface sockets of a family (other uplinks): every probe also leaves from each of them. */
      probeSockets?: (family: 4 | 6) => UDXSocket[]
    },
  ) {}

  /** Whether an attempt for this introduction is running or lingering (a copy of its INTRODUCE is a duplicate). */
  has(punchNonce: Uint8Array): boolean {
    const nonceHex = keyToHex(punchNonce)
    return this.attempts.has(nonceHex) || this.starting.has(nonceHex)
  }

  /** Punch toward the peer of `intro`; initiator = we asked for the introduction; `relay` = may ask for a relay; `only` = probe from this socket alone. */
  async start(intro: Introduce, initiator: boolean, progress: (stage: PunchStage, detail: string) => void, relay: RelayOption | null = null, punch: PunchConfig = this.deps.punch, only: UDXSocket | null = null): Promise<Punched> {
    const nonceHex = keyToHex(intro.punchNonce)
    if (this.attempts.has(nonceHex)) throw new AppError('PUNCH_TIMEOUT', 'duplicate introduction')
    this.starting.add(nonceHex)
    try {
      return await this.run(intro, nonceHex, initiator, progress, relay, punch, only)
    } finally {
      this.starting.delete(nonceHex)
    }
  }

  private async run(intro: Introduce, nonceHex: string, initiator: boolean, progress: (stage: PunchStage, detail: string) => void, relay: RelayOption | null, punch: PunchConfig, only: UDXSocket | null): Promise<Punched> {
    const offered = intro.candidates.map((c) => ({ host: normalizeHost(c.host), port: c.port }))
    const allowPath = this.deps.allowPath ?? (async () => true)
    const oks = await Promise.all(offered.map((c) => allowPath(c)))
    const verdicts = new Map(offered.map((c, i) => [formatHostPort(c.host, c.port), oks[i]!]))
    const candidates = offered.filter((_, i) => oks[i])
    if (candidates.length < offered.length) {
      const skipped = offered.filter((c) => !candidates.includes(c)).map((c) => formatHostPort(c.host, c.port))
      progress('probing', `skipping ${skipped.join(', ')}: reached only through an interface that interfaces_allow/deny excludes`)
    }
    if (this.attempts.has(nonceHex)) throw new AppError('PUNCH_TIMEOUT', 'duplicate introduction')
    return new Promise<Punched>((resolve, reject) => {
      const now = preciseNow()
      // The responder's control stream connects on the initiator's first packet (Noise follows).
      const controlRaw: UDXStream = this.deps.endpoint.createStream(initiator ? () => true : (socket, port, host) => this.onFirstPacket(a, socket, port, host))
      controlRaw.on('error', () => {})
      const a: Attempt = {
        intro, nonceHex, initiator, state: startPunch(candidates, now, punch), controlRaw, timer: null,
        handshaking: false, settled: false, standbys: [], verdicts, via: new Map(), socket: null, manyPort: null, only, resolve, reject, progress,
        plan: relayPlanFor(this.deps.nat?.() ?? 'unknown', intro.peerNat, relay), relay: null, relayTimer: null, cancelBind: null,
      }
      this.attempts.set(nonceHex, a)
      this.startManyPort(a, oks[0] ? offered[0] : undefined, now)
      // Whatever happens (a responder whose initiator gave up never sees a handshake), an attempt
      // ends: punching time plus handshake time.
      const hard = setTimeout(() => this.fail(a, new AppError('PUNCH_TIMEOUT', 'no authenticated path came up in time', 'both daemons must be registered with the same broker; p2pctl status shows it')), punch.timeoutMs + HANDSHAKE_TIMEOUT_MS)
      hard.unref()
      const clear = (): void => clearTimeout(hard)
      a.resolve = (p) => {
        clear()
        resolve(p)
      }
      a.reject = (e) => {
        clear()
        reject(e)
      }
      progress('probing', `probing ${candidates.length} candidate(s): ${candidates.map((c) => formatHostPort(c.host, c.port)).join(', ')}`)
      if (relay && this.deps.relay) {
        a.relayTimer = setTimeout(() => this.askRelay(a, relay), a.plan.afterMs)
        a.relayTimer.unref()
      }
      this.step(a, { type: 'tick' })
    })
  }

  /** A relay allocated for the introduction `punchNonce` (asked for by either side): punch through it too. */
  onRelayAllocated(punchNonce: Uint8Array, relay: Addr, askAgain: (() => void) | null = null): void {
    const a = this.attempts.get(keyToHex(punchNonce))
    if (!a || a.settled || !this.deps.relay) {
      this.deps.counters.inc('relay_allocations_unused')
      return
    }
    if (a.relay && sameAddr(a.relay, relay)) return
    a.relay = relay
    // The relay is the broker's address: reachable as the broker is, whatever the interface rules.
    a.verdicts.set(formatHostPort(relay.host, relay.port), true)
    a.progress('probing', `relay ${formatHostPort(relay.host, relay.port)} allocated (${a.plan.reason}); probing through it too`)
    a.cancelBind = this.deps.relay.bind(punchNonce, relay, askAgain)
    this.step(a, { type: 'add-candidate', addr: relay, kind: 'relay' })
  }

  private askRelay(a: Attempt, relay: RelayOption): void {
    a.relayTimer = null
    if (a.settled || a.state.phase === 'succeeded') return
    a.progress('probing', a.plan.bothHard ? 'both sides endpoint-dependent: asking the broker for a relay' : `${a.plan.reason}: asking the broker for a relay`)
    const ask = (): void => {
      if (a.settled) return
      relay.ask().then((addr) => this.onRelayAllocated(a.intro.punchNonce, addr, ask), (err: Error) => {
        this.deps.counters.inc('relay_requests_refused')
        if (!a.relay) a.progress('probing', `no relay: ${err.message}`)
      })
    }
    ask()
  }

  /** Feed a probe or probe answer (already decoded; `raw` for the signature) that arrived on `socket`. */
  handleProbe(msg: Probe | ProbeAck, raw: Uint8Array, from: Addr, socket: UDXSocket = this.deps.endpoint.socket): void {
    const a = this.attempts.get(keyToHex(msg.punchNonce))
    if (!a) {
      this.deps.counters.inc('probes_dropped_unknown_nonce')
      return
    }
    const now = preciseNow()
    if (!this.verifyPerAttempt.take(a.nonceHex, now) || !this.verifyGlobal.take('', now)) {
      this.deps.counters.inc('probes_dropped_rate_limited')
      return
    }
    if (!bytesEqual(msg.key, a.intro.peerKey) || !verifySigned(raw, a.intro.peerKey)) {
      this.deps.counters.inc('probes_dropped_bad_signature')
      return
    }
    this.deps.counters.inc(msg.type === 'probe' ? 'probes_received' : 'probe_acks_received')
    // An answer on another uplink's socket never takes a remote away from the main socket: the
    // default route stays the path when both work (the other becomes the peer's standby).
    if (!a.via.has(addrKey(from)) || this.deps.endpoint.interfaceAddressOf(socket) === null) a.via.set(addrKey(from), socket)
    const event: PunchEvent = { type: msg.type === 'probe' ? 'probe' : 'ack', from, streamId: msg.streamId, seq: msg.seq }
    // A probe from an address we did not probe (or an answer over another route) may have come in
    // through an excluded interface: check its route once per address before it can become a path.
    const id = formatHostPort(from.host, from.port)
    const verdict = this.deps.allowPath ? a.verdicts.get(id) : true
    if (verdict === true) {
      this.step(a, event)
      return
    }
    if (verdict === false) {
      this.deps.counters.inc('probes_dropped_excluded_interface')
      return
    }
    void this.deps.allowPath!(from).then((ok) => {
      a.verdicts.set(id, ok)
      if (!ok) this.deps.counters.inc('probes_dropped_excluded_interface')
      else if (!a.settled) this.step(a, event)
    })
  }

  /** Stop everything (daemon shutdown). */
  stop(): void {
    for (const a of this.attempts.values()) {
      if (a.timer) clearTimeout(a.timer)
      if (!a.settled) this.fail(a, new AppError('PUNCH_TIMEOUT', 'daemon is stopping'))
      this.endManyPort(a, null, false)
    }
    this.attempts.clear()
  }

  private step(a: Attempt, event: PunchEvent): void {
    const { state, actions } = punchStep(a.state, event, preciseNow())
    a.state = state
    for (const act of actions) this.act(a, act)
  }

  private act(a: Attempt, act: PunchAction): void {
    switch (act.type) {
      case 'send-probe': {
        // From every uplink: the peer learns (and answers) each of our paths to it.
        const via = this.viaFor(a, act.to)
        this.sendProbe(a, 'probe', act.to, act.seq, via)
        if (a.only) return
        for (const s of this.deps.probeSockets?.(familyOf(act.to.host)) ?? []) if (s !== via) this.sendProbe(a, 'probe', act.to, act.seq, s)
        return
      }
      case 'send-ack':
        this.sendProbe(a, 'probeAck', act.to, act.seq, this.viaFor(a, act.to))
        return
      case 'wake-at': {
        if (a.timer) clearTimeout(a.timer)
        a.timer = setTimeout(() => this.step(a, { type: 'tick' }), Math.max(0, act.at - preciseNow()))
        return
      }
      case 'succeeded': {
        if (a.timer) clearTimeout(a.timer)
        a.timer = null
        a.standbys = act.standbys.map((x) => x.addr)
        a.progress('path', `path up to ${formatHostPort(act.remote.host, act.remote.port)} (rtt ${act.rttMs} ms${a.standbys.length ? `, ${a.standbys.length} standby` : ''})`)
        // The first confirmed pair ends the many-port run; its sockets close once the session has its own.
        a.manyPort?.stop('pair confirmed')
        if (a.initiator && !a.handshaking) {
          a.handshaking = true
          a.socket = this.viaFor(a, act.remote)
          a.controlRaw.connect(a.socket, act.remoteStreamId, act.remote.port, act.remote.host)
          void this.handshake(a, act.remote, act.rttMs)
        }
        return
      }
      case 'failed': {
        // The responder may still be reached by the initiator's handshake; only the initiator gives up here.
        if (a.initiator || !a.handshaking) this.fail(a, new AppError('PUNCH_TIMEOUT', `could not punch a path to the peer: ${act.reason}`, 'both daemons must be registered with the same broker; p2pctl status shows it'))
        return
      }
      default: {
        const never: never = act
        throw new Error(`unhandled punch action ${(never as { type: string }).type}`)
      }
    }
  }

  private onFirstPacket(a: Attempt, socket: UDXSocket, port: number, host: string): boolean {
    if (a.settled || a.handshaking || a.state.remoteStreamId === null) return true
    a.handshaking = true
    a.socket = socket
    const remote = { host: normalizeHost(host), port }
    a.controlRaw.connect(socket, a.state.remoteStreamId, port, host)
    void this.handshake(a, remote, null)
    return false
  }

  private async handshake(a: Attempt, remote: Addr, rttMs: number | null): Promise<void> {
    const kind: PathKind = a.state.relays.some((r) => sameAddr(r, remote)) ? 'relay' : 'direct'
    a.progress('handshake', `Noise handshake with ${formatHostPort(remote.host, remote.port)}`)
    try {
      const handshake = await runHandshake({
        raw: a.controlRaw, initiator: a.initiator, keyPair: this.deps.keyPair, expectedRemote: a.intro.peerKey,
        prologue: a.intro.punchNonce, timeoutMs: HANDSHAKE_TIMEOUT_MS,
      })
      const socket = a.socket ?? this.deps.endpoint.socket
      // A socket bound to an interface address sends from it; the main one from what the kernel picks.
      const localHost = this.deps.endpoint.interfaceAddressOf(socket) ?? await routeSource(remote.host, remote.port)
      if (a.settled) return
      a.settled = true
      this.endManyPort(a, socket, true)
      this.linger(a)
      this.endRelayWait(a)
      const candidates = a.state.candidates.filter((c) => !a.state.relays.some((r) => sameAddr(r, c)))
      a.resolve({ intro: a.intro, controlRaw: a.controlRaw, handshake, initiator: a.initiator, remote, socket, localHost, standbys: a.standbys, candidates, rttMs, kind, relayReason: kind === 'relay' ? a.plan.reason : null, bothHard: a.plan.bothHard })
    } catch (err) {
      this.fail(a, new AppError('PUNCH_TIMEOUT', `path found but the handshake failed: ${(err as Error).message}`))
    }
  }

  private fail(a: Attempt, err: Error): void {
    if (a.settled) return
    a.settled = true
    if (a.timer) clearTimeout(a.timer)
    this.endRelayWait(a)
    a.cancelBind?.()
    a.controlRaw.destroy()
    this.endManyPort(a, null, false)
    this.linger(a)
    a.progress('failed', err.message)
    a.reject(err)
  }

  // Plan a many-port run when exactly one side's NAT is endpoint-dependent, the other's public
  // mapping is known, and this peer has not had one too recently.
  private startManyPort(a: Attempt, target: Addr | undefined, now: number): void {
    const role = manyPortRole(this.deps.nat?.() ?? 'unknown', a.intro.peerNat)
    if (role === 'none' || target === undefined || rankOf(target) !== 2) return
    const peer = keyToHex(a.intro.peerKey)
    if (this.manyPortRuns >= MAX_MANY_PORT_RUNS || !this.manyPortLimiter.tryStart(peer, now)) {
      this.deps.counters.inc('many_port_runs_skipped')
      a.progress('probing', 'many-port probing skipped: ran toward this peer too recently (or too many runs at once)')
      return
    }
    this.manyPortRuns++
    let ended = false
    a.progress('probing', role === 'hard'
      ? `our NAT is endpoint-dependent: opening up to ${(this.deps.manyPort ?? DEFAULT_MANY_PORT).sockets} sockets toward ${formatHostPort(target.host, target.port)}`
      : `the peer's NAT is endpoint-dependent: probing ports of ${target.host}`)
    a.manyPort = new ManyPortRun({
      endpoint: this.deps.endpoint, role, target, seed: randomInt(0, 2 ** 32 - 1), config: this.deps.manyPort ?? DEFAULT_MANY_PORT,
      probe: (to, socket) => {
        this.manyPortSeq = (this.manyPortSeq + 1) % MANY_PORT_SEQ
        this.sendProbe(a, 'probe', to, MANY_PORT_SEQ + this.manyPortSeq, socket)
      },
      onDone: (sum) => {
        if (ended) return
        ended = true
        this.manyPortRuns--
        this.deps.logger.info({ peer: peer.slice(0, 16), ...sum }, 'many-port run ended')
      },
      logger: this.deps.logger, counters: this.deps.counters,
    })
  }

  // The attempt settled: close the run's sockets but `keep`; a run that did not pay off backs off.
  private endManyPort(a: Attempt, keep: UDXSocket | null, ok: boolean): void {
    if (!a.manyPort) return
    a.manyPort.release(keep)
    a.manyPort = null
    this.manyPortLimiter.finished(keyToHex(a.intro.peerKey), ok, Date.now())
  }

  private viaFor(a: Attempt, to: Addr): UDXSocket {
    return a.only ?? a.via.get(addrKey(to)) ?? this.deps.endpoint.socket
  }

  private sendProbe(a: Attempt, type: 'probe' | 'probeAck', to: Addr, seq: number, via: UDXSocket): void {
    const datagram = encodeSigned(
      { type, punchNonce: a.intro.punchNonce, key: this.deps.keyPair.publicKey, streamId: a.controlRaw.id, seq, addr: { ...to, family: familyOf(to.host) }, sig: new Uint8Array(64) },
      this.deps.keyPair.secretKey,
    )
    this.deps.endpoint.send(datagram, to, via)
    this.deps.counters.inc(type === 'probe' ? 'probes_sent' : 'probe_acks_sent')
  }

  // No relay is asked for once the attempt is over (a running bind finishes on its own).
  private endRelayWait(a: Attempt): void {
    if (a.relayTimer) clearTimeout(a.relayTimer)
    a.relayTimer = null
  }

  private linger(a: Attempt): void {
    const t = setTimeout(() => {
      if (this.attempts.get(a.nonceHex) === a) this.attempts.delete(a.nonceHex)
    }, LINGER_MS)
    t.unref()
  }
}

// A re-punch after the path died asks for a relay at once (a direct answer still wins the select window).
function relayPlanFor(own: NatMapping, peer: NatMapping, relay: RelayOption | null): RelayPlan {
  const plan = planRelay(own, peer)
  return relay?.now && !plan.bothHard ? { ...plan, afterMs: 0, reason: 'the direct path stopped answering' } : plan
}
