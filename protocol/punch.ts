// The punch state machine: probe every candidate pair of one introduction until a probe is
// answered. Pure: fed events and the time, returns actions for the driver to carry out.

/** A transport address. */
export interface Addr { host: string; port: number }

/** Tunables; defaults suit home NATs. */
export interface PunchConfig {
  /** Pause between probe rounds. */
  intervalMs: number
  /** Give up after this long without an answered probe. */
  timeoutMs: number
  /** Most candidates kept (announced plus peer-reflexive). */
  maxCandidates: number
  /** After the first answer, wait this long for better-ranked candidates to answer too. */
  selectMs: number
  /** Probe addresses the peer's probes come from (peer-reflexive candidates); default true. A move toward a chosen path turns it off, so only that path can win. */
  learnReflexive?: boolean
}

/** Default tunables. */
export const DEFAULT_PUNCH: PunchConfig = { intervalMs: 100, timeoutMs: 10_000, maxCandidates: 24, selectMs: 80 }

/** What a candidate leads to: the peer itself, or a relay that forwards to it. */
export type PathKind = 'direct' | 'relay'

/** An answered candidate: where, how fast, and how good a kind of path it is (lower is better). */
export interface Answered { addr: Addr; rttMs: number; rank: number; kind: PathKind }

/** Rank of a relay candidate: any direct path that answers beats it. */
export const RELAY_RANK = 3

/** State of one punch attempt. */
export interface PunchState {
  phase: 'probing' | 'selecting' | 'succeeded' | 'failed'
  config: PunchConfig
  deadline: number
  nextRoundAt: number
  candidates: Addr[]
  seq: number
  /** Probes in flight, for matching answers and measuring RTT. Bounded. */
  inflight: { seq: number; to: Addr; sentAt: number }[]
  /** The peer's control stream id, learned from its probes or answers. */
  remoteStreamId: number | null
  rounds: number
  /** Candidates whose probe was answered, in order of answer. */
  answered: Answered[]
  /** End of the selection window (phase 'selecting'). */
  selectUntil: number
  /** Candidates that are relays (ranked last). */
  relays: Addr[]
}

/** Inputs to the machine. */
export type PunchEvent =
  | { type: 'tick' }
  | { type: 'probe'; from: Addr; streamId: number; seq: number }
  | { type: 'ack'; from: Addr; streamId: number; seq: number }
  /** A candidate learned mid-punch (a relay allocation, a predicted port); probed from the next round. */
  | { type: 'add-candidate'; addr: Addr; kind: PathKind }

/** Outputs for the driver. */
export type PunchAction =
  | { type: 'send-probe'; to: Addr; seq: number }
  | { type: 'send-ack'; to: Addr; seq: number }
  | { type: 'succeeded'; remote: Addr; kind: PathKind; remoteStreamId: number; rttMs: number; standbys: Answered[] }
  | { type: 'failed'; reason: string }
  | { type: 'wake-at'; at: number }

const MAX_INFLIGHT = 256

/** Start an attempt toward `candidates` (deduplicated, truncated to maxCandidates). */
export function startPunch(candidates: Addr[], now: number, config: PunchConfig = DEFAULT_PUNCH): PunchState {
  const unique: Addr[] = []
  for (const c of candidates) if (!unique.some((u) => sameAddr(u, c))) unique.push(c)
  return {
    phase: 'probing',
    config,
    deadline: now + config.timeoutMs,
    nextRoundAt: now,
    candidates: unique.slice(0, config.maxCandidates),
    seq: 0,
    inflight: [],
    remoteStreamId: null,
    rounds: 0,
    answered: [],
    selectUntil: 0,
    relays: [],
  }
}

/**
 * How good a path to `addr` is, lower first: 0 a private (LAN) address, 1 a global IPv6 address,
 * 2 a public IPv4 address (a NAT's mapping or a public host).
 */
export function rankOf(addr: Addr): number {
  const h = unmap(addr.host)
  if (h.includes(':')) return /^f[cd]/.test(h) ? 0 : 1
  const [a, b] = h.split('.').map(Number) as [number, number]
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 0
  return 2
}

/** Advance the machine by one event. Returns the new state and what to do. */
export function punchStep(state: PunchState, event: PunchEvent, now: number): { state: PunchState; actions: PunchAction[] } {
  const actions: PunchAction[] = []
  let s = state
  switch (event.type) {
    case 'tick': {
      if (s.phase === 'selecting' && now >= s.selectUntil) {
        s = finish(s, actions)
        break
      }
      if (s.phase !== 'probing' && s.phase !== 'selecting') break
      if (now >= s.deadline) {
        s = { ...s, phase: 'failed' }
        actions.push({ type: 'failed', reason: `no answer from ${s.candidates.length} candidate(s) in ${s.config.timeoutMs} ms` })
        break
      }
      if (now >= s.nextRoundAt) {
        const inflight = [...s.inflight]
        let seq = s.seq
        for (const to of s.candidates) {
          seq = (seq + 1) >>> 0
          inflight.push({ seq, to, sentAt: now })
          actions.push({ type: 'send-probe', to, seq })
        }
        s = { ...s, seq, inflight: inflight.slice(-MAX_INFLIGHT), nextRoundAt: now + s.config.intervalMs, rounds: s.rounds + 1 }
      }
      actions.push({ type: 'wake-at', at: Math.min(s.nextRoundAt, s.deadline, s.phase === 'selecting' ? s.selectUntil : Infinity) })
      break
    }
    case 'probe': {
      // Always answer: the peer needs our answer to confirm its side, even after we succeeded.
      actions.push({ type: 'send-ack', to: event.from, seq: event.seq })
      s = { ...s, remoteStreamId: event.streamId }
      // A probe from an address we did not know is a peer-reflexive candidate: probe it too.
      if (s.config.learnReflexive !== false && (s.phase === 'probing' || s.phase === 'selecting') && !s.candidates.some((c) => sameAddr(c, event.from)) && s.candidates.length < s.config.maxCandidates) {
        s = { ...s, candidates: [...s.candidates, event.from] }
        const seq = (s.seq + 1) >>> 0
        s = { ...s, seq, inflight: [...s.inflight, { seq, to: event.from, sentAt: now }].slice(-MAX_INFLIGHT) }
        actions.push({ type: 'send-probe', to: event.from, seq })
      }
      break
    }
    case 'ack': {
      if (s.phase !== 'probing' && s.phase !== 'selecting') break
      const sent = s.inflight.find((p) => p.seq === event.seq)
      if (sent === undefined) break
      s = { ...s, remoteStreamId: event.streamId }
      if (!s.answered.some((x) => sameAddr(x.addr, event.from))) {
        const relay = s.relays.some((r) => sameAddr(r, event.from))
        const answer: Answered = { addr: event.from, rttMs: Math.max(0, now - sent.sentAt), rank: relay ? RELAY_RANK : rankOf(event.from), kind: relay ? 'relay' : 'direct' }
        s = { ...s, answered: [...s.answered, answer] }
      }
      // The first answer opens a short window for better paths; a LAN answer cannot be beaten.
      if (s.phase === 'probing') {
        s = { ...s, phase: 'selecting', selectUntil: now + s.config.selectMs }
        actions.push({ type: 'wake-at', at: s.selectUntil })
      }
      if (s.answered.some((x) => x.rank === 0) || s.config.selectMs === 0) s = finish(s, actions)
      break
    }
    case 'add-candidate': {
      if (s.phase !== 'probing' && s.phase !== 'selecting') break
      if (event.kind === 'relay' && !s.relays.some((r) => sameAddr(r, event.addr))) s = { ...s, relays: [...s.relays, event.addr] }
      // A relay is the last resort: it joins even when the list is full.
      const known = s.candidates.some((c) => sameAddr(c, event.addr))
      if (!known && (event.kind === 'relay' || s.candidates.length < s.config.maxCandidates)) s = { ...s, candidates: [...s.candidates, event.addr] }
      // A late candidate gets a fair chance: at least half the usual time before giving up.
      s = { ...s, deadline: Math.max(s.deadline, now + s.config.timeoutMs / 2), nextRoundAt: now }
      if (s.phase === 'probing') actions.push({ type: 'wake-at', at: now })
      break
    }
    default: {
      const never: never = event
      throw new Error(`unhandled punch event ${(never as { type: string }).type}`)
    }
  }
  return { state: s, actions }
}

// Pick the best answered candidate (rank, then RTT); the others are standbys.
function finish(s: PunchState, actions: PunchAction[]): PunchState {
  const ranked = [...s.answered].sort((x, y) => x.rank - y.rank || x.rttMs - y.rttMs)
  const best = ranked[0]!
  actions.push({ type: 'succeeded', remote: best.addr, kind: best.kind, remoteStreamId: s.remoteStreamId!, rttMs: best.rttMs, standbys: ranked.slice(1) })
  return { ...s, phase: 'succeeded' }
}

/** Address equality after IPv4-mapped normalisation. */
export function sameAddr(a: Addr, b: Addr): boolean {
  return a.port === b.port && unmap(a.host) === unmap(b.host)
}

function unmap(h: string): string {
  return h.startsWith('::ffff:') && h.includes('.') ? h.slice(7) : h.toLowerCase()
}
