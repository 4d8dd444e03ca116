// Path selection for a live session: every known address of the peer is probed now and then
// (the active one too, so RTTs compare like with like); when the active path stalls, a standby
// that answered while it was silent takes over at once, and otherwise the driver re-punches.
// The controlling side (the session's Noise initiator) also moves to a better path: a better
// class (LAN, then IPv6, then public IPv4) that has stayed alive a while, or, within one class, an
// RTT that stays clearly lower for a sustained time, so paths do not flap. A path is an address
// of the peer and the local socket it is reached from: the session's own (`via` null), or one of
// the other local sockets the driver names (another uplink's), so a host with two uplinks has a
// standby through each. Pure: fed events and the time, returns actions for the driver
// (daemon/path-monitor.ts).
import { RELAY_RANK, rankOf, sameAddr, type Addr } from './punch.js'

/** Tunables (defaults below). */
export interface PathSelectConfig {
  /** Probe each live (or new) path this often. */
  probeMs: number
  /** Probe a path that stopped answering this often (it may come back; it keeps the NAT open). */
  deadProbeMs: number
  /** A path that answered within this is alive. */
  liveMs: number
  /** A better-class path must have been alive this long before we move to it. */
  upgradeHoldMs: number
  /** A lower RTT must have held this long before we move for it. */
  rttHoldMs: number
  /** ... and be at most this fraction of the active path's RTT ... */
  rttRatio: number
  /** ... and at least this many ms lower. */
  rttMinGainMs: number
  /** No move for a better path sooner than this after the last move. */
  switchGapMs: number
  /** The side that does not control waits this long after a stall for the controlling side to move first. */
  followMs: number
  /** Most addresses tracked per peer. */
  maxPaths: number
  /** A standby's answer counts for a failover only if it came this long after the active path's last message (the heartbeat's spacing, and a margin). */
  staleMs: number
  /** After a stall is noticed (every path probed then), how long to wait for a standby's answer before re-punching. */
  stallWaitMs: number
}

/** Default tunables: probes every second per path; a move for RTT needs 10 s of a halved RTT. */
export const DEFAULT_PATH_SELECT: PathSelectConfig = {
  probeMs: 1_000, deadProbeMs: 5_000, liveMs: 3_500, upgradeHoldMs: 5_000, rttHoldMs: 10_000,
  rttRatio: 0.5, rttMinGainMs: 5, switchGapMs: 20_000, followMs: 750, maxPaths: 24, staleMs: 600, stallWaitMs: 400,
}

/** Another local socket paths can leave from: an id the driver maps to a socket, and its family (0 = both). */
export interface LocalVia { id: string; family: 0 | 4 | 6 }

/** What is known of one address of the peer, reached from one local socket. */
export interface PathStat {
  addr: Addr
  /** The local socket: null = the session's own, else a LocalVia id. */
  via: string | null
  /** Class, lower is better (protocol/punch.ts rankOf; RELAY_RANK for a relay). */
  rank: number
  /** Smoothed RTT of answered probes, ms. */
  rttMs: number | null
  /** Last answered probe. */
  lastAck: number | null
  /** Start of the current unbroken run of liveness. */
  aliveSince: number | null
  /** Since when this path's RTT is clearly better than the active one's. */
  betterSince: number | null
  addedAt: number
  nextProbeAt: number
}

/** Why the session moves. */
export type SwitchReason =
  | { type: 'failover'; from: Addr; silentMs: number }
  | { type: 'better-class'; from: Addr; fromRank: number; toRank: number; rttMs: number | null; fromRttMs: number | null }
  | { type: 'lower-rtt'; from: Addr; rttMs: number; fromRttMs: number }
  /** The peer started the move (we join it). */
  | { type: 'peer'; from: Addr }

/** Where the machine is. */
export type PathPhase =
  | { type: 'steady' }
  /**
   * The active path went silent at `since`, noticed at `noticedAt` (every path was probed then);
   * `actAt` = when this side acts (at once when controlling).
   */
  | { type: 'stalled'; since: number; noticedAt: number; silentMs: number; actAt: number }
  /** A move to `to` is under way (the driver reports switched or switch-failed). */
  | { type: 'switching'; to: Addr; via: string | null; reason: SwitchReason; stalled: { since: number; noticedAt: number } | null }
  /** No standby: the driver re-punches through a broker (the next 'switched' or 'recovered' ends it). */
  | { type: 'repunching' }

/** State of one peer's paths. */
export interface PathSelectState {
  config: PathSelectConfig
  /** The side that moves for better paths, and moves first on a stall. */
  controlling: boolean
  active: Addr
  /** The other local sockets (the active path leaves from the session's own). */
  vias: LocalVia[]
  paths: PathStat[]
  seq: number
  inflight: { seq: number; to: Addr; via: string | null; sentAt: number }[]
  lastSwitchAt: number
  phase: PathPhase
}

/** Inputs. */
export type PathEvent =
  | { type: 'tick' }
  /** A verified answer to our probe `seq`, from `from`, on local socket `via`. */
  | { type: 'ack'; from: Addr; seq: number; via: string | null }
  /** A verified probe of the peer's, from `from` (an address of the peer, maybe a new one). */
  | { type: 'probe'; from: Addr }
  /** The other local sockets now (an interface came or went, or the session moved to another socket). */
  | { type: 'vias'; vias: LocalVia[] }
  /** A known address of the peer (a candidate of a new introduction, a standby of a punch). */
  | { type: 'add'; addr: Addr; rank: number }
  /** The active path has been silent this long. */
  | { type: 'stalled'; silentMs: number }
  /** The active path carries traffic again. */
  | { type: 'recovered' }
  /** The session now runs on `remote` (our move, the peer's, or a re-punch); `rank` its class; `relocated` = on another local socket than before (what was measured from the old one no longer holds). */
  | { type: 'switched'; remote: Addr; rank: number; relocated?: boolean }
  /** The move to `to` (from `via`) did not come up. */
  | { type: 'switch-failed'; to: Addr; via: string | null }
  /** The peer started a move, first heard from `from`: we join it rather than start our own. */
  | { type: 'peer-moving'; from: Addr }

/** Outputs. */
export type PathAction =
  | { type: 'send-probe'; to: Addr; via: string | null; seq: number }
  | { type: 'switch'; to: Addr; via: string | null; reason: SwitchReason }
  | { type: 'repunch'; silentMs: number }
  | { type: 'wake-at'; at: number }

const MAX_INFLIGHT = 256
const INFLIGHT_MS = 10_000

/** Start tracking a session on `active` (class `rank`) with the other known addresses and local sockets. */
export function startPathSelect(active: Addr, rank: number, others: { addr: Addr; rank: number }[], controlling: boolean, now: number, config: PathSelectConfig = DEFAULT_PATH_SELECT, vias: LocalVia[] = []): PathSelectState {
  let s: PathSelectState = { config, controlling, active, vias, paths: [], seq: 0, inflight: [], lastSwitchAt: now, phase: { type: 'steady' } }
  s = addPath(s, active, rank, now)
  for (const o of others) s = addPath(s, o.addr, o.rank, now)
  return s
}

/** Advance by one event. */
export function pathStep(state: PathSelectState, event: PathEvent, now: number): { state: PathSelectState; actions: PathAction[] } {
  const actions: PathAction[] = []
  let s = state
  switch (event.type) {
    case 'tick':
      break
    case 'ack': {
      const sent = s.inflight.find((p) => p.seq === event.seq && sameAddr(p.to, event.from) && p.via === event.via)
      if (!sent) return { state: s, actions }
      const rtt = Math.max(0, now - sent.sentAt)
      s = { ...s, inflight: s.inflight.filter((p) => p !== sent) }
      s = { ...s, paths: s.paths.map((p) => (samePath(p, event.from, event.via) ? answered(p, rtt, now, s.config) : p)) }
      s = updateBetter(s, now)
      break
    }
    case 'probe':
      if (!s.paths.some((p) => sameAddr(p.addr, event.from))) s = addPath(s, event.from, rankOf(event.from), now)
      break
    case 'add':
      s = addPath(s, event.addr, event.rank, now)
      break
    case 'vias': {
      const ids = new Set(event.vias.map((v) => v.id))
      s = { ...s, vias: event.vias, paths: s.paths.filter((p) => p.via === null || ids.has(p.via)) }
      for (const p of s.paths.filter((x) => x.via === null)) s = addPath(s, p.addr, p.rank, now)
      break
    }
    case 'stalled':
      if (s.phase.type !== 'steady') break
      // Every path is probed at once: an answer in the next moments makes a standby eligible.
      s = { ...s, phase: { type: 'stalled', since: now - event.silentMs, noticedAt: now, silentMs: event.silentMs, actAt: s.controlling ? now : now + s.config.followMs }, paths: s.paths.map((p) => ({ ...p, nextProbeAt: now })) }
      break
    case 'recovered':
      if (s.phase.type === 'stalled' || s.phase.type === 'repunching') s = { ...s, phase: { type: 'steady' } }
      break
    case 'switched': {
      s = addPath(s, event.remote, event.rank, now)
      // From another socket every path is another path: probe them all afresh.
      const fresh = (p: PathStat): PathStat => (event.relocated ? { ...p, lastAck: null, aliveSince: null, rttMs: null, nextProbeAt: now } : p)
      s = { ...s, active: event.remote, lastSwitchAt: now, phase: { type: 'steady' }, paths: s.paths.map((p) => ({ ...fresh(p), betterSince: null, ...(sameAddr(p.addr, event.remote) ? { rank: event.rank } : {}) })) }
      break
    }
    case 'switch-failed': {
      if (s.phase.type !== 'switching' || !sameAddr(s.phase.to, event.to) || s.phase.via !== event.via) break
      const stalled = s.phase.stalled
      // The path did not carry a session: count it as dead until it answers again.
      s = { ...s, paths: s.paths.map((p) => (samePath(p, event.to, event.via) ? { ...p, lastAck: null, aliveSince: null, betterSince: null } : p)) }
      s = { ...s, lastSwitchAt: now, phase: stalled !== null ? { type: 'stalled', ...stalled, silentMs: now - stalled.since, actAt: now } : { type: 'steady' } }
      break
    }
    case 'peer-moving': {
      if (s.phase.type === 'switching') break
      const stalled = s.phase.type === 'stalled' ? { since: s.phase.since, noticedAt: s.phase.noticedAt } : null
      s = { ...s, phase: { type: 'switching', to: event.from, via: null, reason: { type: 'peer', from: s.active }, stalled } }
      break
    }
    default: {
      const never: never = event
      throw new Error(`unhandled path event ${(never as { type: string }).type}`)
    }
  }
  s = decide(s, now, actions)
  s = probeDue(s, now, actions)
  actions.push({ type: 'wake-at', at: nextWake(s, now) })
  return { state: s, actions }
}

/** Whether `p` answered recently enough to count as alive. */
export function isAlive(p: PathStat, now: number, config: PathSelectConfig): boolean {
  return p.lastAck !== null && now - p.lastAck <= config.liveMs
}

/** The known paths other than the active one, best first (alive, then class, then RTT). */
export function standbysOf(s: PathSelectState, now: number): PathStat[] {
  const alive = (p: PathStat): number => (isAlive(p, now, s.config) ? 0 : 1)
  return s.paths.filter((p) => !samePath(p, s.active, null)).sort((a, b) => alive(a) - alive(b) || a.rank - b.rank || (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity))
}

/** The active path's entry. */
export function activeOf(s: PathSelectState): PathStat | undefined {
  return s.paths.find((p) => samePath(p, s.active, null))
}

function decide(s: PathSelectState, now: number, actions: PathAction[]): PathSelectState {
  const phase = s.phase
  if (phase.type === 'stalled') {
    const silentMs = now - phase.since
    // A standby qualifies if it answered while the active path was already dead: a heartbeat's
    // spacing after the last message (an answer just before the break, e.g. over the very link
    // that then died, proves nothing), or to the probes sent when the stall was noticed.
    const after = Math.min(phase.since + s.config.staleMs, phase.noticedAt)
    const live = standbysOf(s, now).filter((p) => p.rank < RELAY_RANK && isAlive(p, now, s.config) && p.lastAck! >= after)
    const to = live[0]
    // With a standby, the side that does not control gives the other a moment to move first;
    // without one, both re-punch once the answers to the stall's probes had time to come.
    if (to && now < phase.actAt) return s
    if (!to && now < phase.noticedAt + s.config.stallWaitMs) return s
    if (to) {
      const reason: SwitchReason = { type: 'failover', from: s.active, silentMs }
      actions.push({ type: 'switch', to: to.addr, via: to.via, reason })
      return { ...s, phase: { type: 'switching', to: to.addr, via: to.via, reason, stalled: { since: phase.since, noticedAt: phase.noticedAt } } }
    }
    actions.push({ type: 'repunch', silentMs })
    return { ...s, phase: { type: 'repunching' } }
  }
  if (phase.type !== 'steady' || !s.controlling || now - s.lastSwitchAt < s.config.switchGapMs) return s
  const active = activeOf(s)
  if (!active) return s
  const cfg = s.config
  let best: { p: PathStat; reason: SwitchReason } | null = null
  for (const p of s.paths) {
    if (p === active || p.rank >= RELAY_RANK || !isAlive(p, now, cfg)) continue
    let reason: SwitchReason | null = null
    if (p.rank < active.rank && p.aliveSince !== null && now - p.aliveSince >= cfg.upgradeHoldMs) {
      reason = { type: 'better-class', from: s.active, fromRank: active.rank, toRank: p.rank, rttMs: p.rttMs, fromRttMs: active.rttMs }
    } else if (p.rank === active.rank && p.betterSince !== null && now - p.betterSince >= cfg.rttHoldMs && p.rttMs !== null && active.rttMs !== null) {
      reason = { type: 'lower-rtt', from: s.active, rttMs: p.rttMs, fromRttMs: active.rttMs }
    }
    if (reason && (!best || p.rank < best.p.rank || (p.rank === best.p.rank && (p.rttMs ?? Infinity) < (best.p.rttMs ?? Infinity)))) best = { p, reason }
  }
  if (!best) return s
  actions.push({ type: 'switch', to: best.p.addr, via: best.p.via, reason: best.reason })
  return { ...s, phase: { type: 'switching', to: best.p.addr, via: best.p.via, reason: best.reason, stalled: null } }
}

// Send the probes that are due; a stalled side probes every path at once.
function probeDue(s: PathSelectState, now: number, actions: PathAction[]): PathSelectState {
  let seq = s.seq
  const sent: PathSelectState['inflight'] = []
  const due = s.paths.filter((p) => p.nextProbeAt <= now).length
  const paths = s.paths.map((p) => {
    if (p.nextProbeAt > now) return p
    // Paths due together are probed together (a stalled side wants every answer at once), but
    // their next probes spread over half a pace: each probe is signed here and verified and
    // answered there, and a round of a dozen at once held both event loops for milliseconds.
    const spread = Math.floor((sent.length * (s.config.probeMs / 2)) / due)
    seq = (seq + 1) >>> 0
    sent.push({ seq, to: p.addr, via: p.via, sentAt: now })
    actions.push({ type: 'send-probe', to: p.addr, via: p.via, seq })
    const quiet = !isAlive(p, now, s.config) && now - p.addedAt > s.config.liveMs
    return { ...p, nextProbeAt: now + (quiet ? s.config.deadProbeMs : s.config.probeMs) + spread }
  })
  if (sent.length === 0) return s
  const inflight = [...s.inflight.filter((x) => now - x.sentAt < INFLIGHT_MS), ...sent].slice(-MAX_INFLIGHT)
  return { ...s, seq, paths, inflight }
}

function nextWake(s: PathSelectState, now: number): number {
  let at = Math.min(...s.paths.map((p) => p.nextProbeAt))
  // Holds ripen at the next probe round at the latest (every path is probed each probeMs or deadProbeMs).
  if (s.phase.type === 'stalled') {
    // When this side may act, and the end of the wait for answers; not moments already past
    // (answers wake the machine anyway, and waking at a past time would spin).
    for (const t of [s.phase.actAt, s.phase.noticedAt + s.config.stallWaitMs]) if (t > now) at = Math.min(at, t)
  }
  return at
}

function answered(p: PathStat, rtt: number, now: number, cfg: PathSelectConfig): PathStat {
  const wasAlive = isAlive(p, now, cfg)
  // A quiet path that answers is probed at the live pace again (its liveness must stay unbroken);
  // a live one keeps its slot in the round.
  return {
    ...p, lastAck: now, aliveSince: wasAlive && p.aliveSince !== null ? p.aliveSince : now, rttMs: p.rttMs === null ? rtt : p.rttMs * 0.75 + rtt * 0.25,
    nextProbeAt: wasAlive ? p.nextProbeAt : Math.min(p.nextProbeAt, now + cfg.probeMs),
  }
}

// Which standbys' RTT is clearly better than the active path's, and since when.
function updateBetter(s: PathSelectState, now: number): PathSelectState {
  const active = activeOf(s)
  const a = active?.rttMs ?? null
  const cfg = s.config
  return {
    ...s,
    paths: s.paths.map((p) => {
      if (p === active) return p.betterSince === null ? p : { ...p, betterSince: null }
      const better = a !== null && p.rttMs !== null && p.rttMs <= a * cfg.rttRatio && a - p.rttMs >= cfg.rttMinGainMs
      if (!better) return p.betterSince === null ? p : { ...p, betterSince: null }
      return p.betterSince === null ? { ...p, betterSince: now } : p
    }),
  }
}

function newPath(addr: Addr, via: string | null, rank: number, now: number): PathStat {
  return { addr, via, rank, rttMs: null, lastAck: null, aliveSince: null, betterSince: null, addedAt: now, nextProbeAt: now }
}

function samePath(p: PathStat, addr: Addr, via: string | null): boolean {
  return p.via === via && sameAddr(p.addr, addr)
}

// An address of the peer: a path from the session's socket, and one from each other local socket
// of its family (relays only from the session's: a relay allocation is bound to one socket).
function addPath(s: PathSelectState, addr: Addr, rank: number, now: number): PathSelectState {
  const family = addr.host.includes(':') && !addr.host.startsWith('::ffff:') ? 6 : 4
  const vias = [null, ...(rank >= RELAY_RANK ? [] : s.vias.filter((v) => v.family === 0 || v.family === family).map((v) => v.id))]
  let paths = s.paths
  for (const via of vias) {
    if (paths.some((p) => samePath(p, addr, via))) continue
    if (paths.length >= s.config.maxPaths) {
      // Full: the path silent the longest gives way (never the active one, nor one alive now).
      // A long session collects addresses (a laptop on many networks, the peer's ADDRS); without
      // this a new LAN address would find no room.
      const stale = staleOf(paths, s.active, now, s.config)
      if (!stale) break
      paths = paths.filter((p) => p !== stale)
    }
    paths = [...paths, newPath(addr, via, rank, now)]
  }
  return paths === s.paths ? s : { ...s, paths }
}

// The path that has answered least recently (or, never answering, was added first), not alive
// and not the active one; undefined if there is none.
function staleOf(paths: PathStat[], active: Addr, now: number, cfg: PathSelectConfig): PathStat | undefined {
  let worst: PathStat | undefined
  for (const p of paths) {
    if (samePath(p, active, null) || isAlive(p, now, cfg) || now - p.addedAt <= cfg.liveMs) continue
    if (!worst || (p.lastAck ?? p.addedAt) < (worst.lastAck ?? worst.addedAt)) worst = p
  }
  return worst
}

/** One line for events and logs: "standby 10.0.0.2:4000 took over: active silent for 1.5 s". */
export function describeSwitch(to: Addr, reason: SwitchReason, via: string | null = null): string {
  const at = via === null ? fmt(to) : `${fmt(to)} (from ${via})`
  switch (reason.type) {
    case 'failover':
      return `standby ${at} took over: active ${fmt(reason.from)} silent for ${(reason.silentMs / 1000).toFixed(1)} s`
    case 'better-class':
      return `switched to ${CLASS_NAMES[reason.toRank] ?? 'a better'} path ${at}${reason.rttMs !== null && reason.fromRttMs !== null ? `: rtt ${ms(reason.rttMs)} vs ${ms(reason.fromRttMs)}` : ''} (was ${CLASS_NAMES[reason.fromRank] ?? 'another'} path ${fmt(reason.from)})`
    case 'lower-rtt':
      return `switched to ${at}: rtt ${ms(reason.rttMs)} vs ${ms(reason.fromRttMs)} on ${fmt(reason.from)}`
    case 'peer':
      return `the peer moved the session to ${at} (from ${fmt(reason.from)})`
    default: {
      const never: never = reason
      throw new Error(`unhandled switch reason ${(never as { type: string }).type}`)
    }
  }
}

const CLASS_NAMES = ['LAN', 'IPv6', 'public', 'relay']

function fmt(a: Addr): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}

function ms(x: number): string {
  return `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`
}
