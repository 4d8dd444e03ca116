// Many-port ("birthday") punching past an endpoint-dependent NAT. The hard side (a new external
// port per destination) opens many extra sockets and sends from each toward the easy side's
// public address, creating that many mappings; the easy side probes ports of the hard side's
// public IP until one lands on a mapping. With M mappings among R ports, each probe hits with
// chance M/R (256/64512 ~ 1/252): ~580 probes give 90 %, ~1200 give 99 %.
// Pure: fed the time and a random seed; returns actions. The driver owns sockets and timers.
import type { NatMapping } from './wire.js'
import type { Addr } from './punch.js'

/** Which part this side plays, from both classifications. */
export type ManyPortRole = 'hard' | 'easy' | 'none'

/**
 * The hard side is the endpoint-dependent one facing an endpoint-independent NAT; the easy side is
 * the other. A public peer ('none') needs no many-port run (the hard side's plain probes reach
 * it), and two hard sides cannot meet this way (that is the relay's case).
 */
export function manyPortRole(self: NatMapping, peer: NatMapping): ManyPortRole {
  if (self === 'endpoint-dependent' && peer === 'endpoint-independent') return 'hard'
  if (self === 'endpoint-independent' && peer === 'endpoint-dependent') return 'easy'
  return 'none'
}

/** Tunables of one run. */
export interface ManyPortConfig {
  /** Hard side: extra sockets (mappings) to open. */
  sockets: number
  /** Hard side: sockets opened (each sending one probe) per step. */
  openBatch: number
  /** Hard side: each socket probes again this often (keeps its mapping warm). */
  resendMs: number
  /** Easy side: wait this long first, so the hard side's mappings exist when probes arrive. */
  easyDelayMs: number
  /** Easy side: probes per step. */
  probeBatch: number
  /** Pause between steps. */
  stepMs: number
  /** Easy side: most probes in one run. */
  maxProbes: number
  /** Easy side: ports after the peer's known mapping probed first (sequential allocators). */
  predict: number
  /** A run ends after this long. */
  timeoutMs: number
  /** The hard NAT's port range (Linux and most NATs allocate from 1024-65535). */
  portLo: number
  portHi: number
}

/** Defaults: 256 mappings; up to 4096 probes at ~1300/s (a miss chance below 1e-6 on a random allocator). */
export const DEFAULT_MANY_PORT: ManyPortConfig = {
  sockets: 256, openBatch: 64, resendMs: 5_000, easyDelayMs: 150, probeBatch: 64, stepMs: 50,
  maxProbes: 4096, predict: 512, timeoutMs: 10_000, portLo: 1024, portHi: 65535,
}

/** State of one run. */
export interface ManyPortState {
  role: 'hard' | 'easy'
  phase: 'running' | 'done'
  config: ManyPortConfig
  /** Hard: the easy side's public address. Easy: the hard side's last known mapping. */
  target: Addr
  deadline: number
  nextAt: number
  /** Hard: sockets opened so far (indexes 0..opened-1). */
  opened: number
  /** Easy: probes sent so far. */
  sent: number
  /** Easy: a random permutation of the port range, i -> lo + (mul * i + add) mod size. */
  mul: number
  add: number
  /** Easy: next permutation index. */
  index: number
}

/** Inputs. */
export type ManyPortEvent = { type: 'tick' } | { type: 'stop'; reason: string }

/** Outputs for the driver. */
export type ManyPortAction =
  | { type: 'open-socket'; index: number }
  /** Send a probe to `to`; hard side: from extra socket `socket`, easy side: from the endpoint. */
  | { type: 'probe'; to: Addr; socket: number | null }
  | { type: 'wake-at'; at: number }
  | { type: 'done'; reason: string; probes: number; sockets: number }

/** Start a run; `seed` is a random u32 (it picks the port order). */
export function startManyPort(role: 'hard' | 'easy', target: Addr, now: number, seed: number, config: ManyPortConfig = DEFAULT_MANY_PORT): ManyPortState {
  const size = config.portHi - config.portLo + 1
  return {
    role, phase: 'running', config, target, deadline: now + config.timeoutMs,
    nextAt: role === 'easy' ? now + config.easyDelayMs : now,
    opened: 0, sent: 0, mul: coprimeMultiplier(seed, size), add: (seed >>> 16) % size, index: 0,
  }
}

/** Advance a run by one event. */
export function manyPortStep(state: ManyPortState, event: ManyPortEvent, now: number): { state: ManyPortState; actions: ManyPortAction[] } {
  const actions: ManyPortAction[] = []
  let s = state
  switch (event.type) {
    case 'stop': {
      if (s.phase === 'running') s = end(s, event.reason, actions)
      break
    }
    case 'tick': {
      if (s.phase !== 'running') break
      if (now >= s.deadline) {
        s = end(s, `no pair confirmed in ${s.config.timeoutMs} ms`, actions)
        break
      }
      if (now >= s.nextAt) s = s.role === 'hard' ? hardStep(s, now, actions) : easyStep(s, now, actions)
      if (s.phase === 'running') actions.push({ type: 'wake-at', at: Math.min(s.nextAt, s.deadline) })
      break
    }
    default: {
      const never: never = event
      throw new Error(`unhandled many-port event ${(never as { type: string }).type}`)
    }
  }
  return { state: s, actions }
}

function hardStep(s: ManyPortState, now: number, actions: ManyPortAction[]): ManyPortState {
  const c = s.config
  if (s.opened < c.sockets) {
    const n = Math.min(c.openBatch, c.sockets - s.opened)
    for (let i = s.opened; i < s.opened + n; i++) {
      actions.push({ type: 'open-socket', index: i })
      actions.push({ type: 'probe', to: s.target, socket: i })
    }
    const opened = s.opened + n
    return { ...s, opened, nextAt: opened < c.sockets ? now + c.stepMs : now + c.resendMs }
  }
  for (let i = 0; i < s.opened; i++) actions.push({ type: 'probe', to: s.target, socket: i })
  return { ...s, nextAt: now + c.resendMs }
}

function easyStep(s: ManyPortState, now: number, actions: ManyPortAction[]): ManyPortState {
  const c = s.config
  const size = c.portHi - c.portLo + 1
  let { sent, index } = s
  const batchEnd = Math.min(c.maxProbes, sent + c.probeBatch)
  while (sent < batchEnd) {
    const port = sent < c.predict ? predicted(s, sent) : null
    if (port !== null) {
      actions.push({ type: 'probe', to: { host: s.target.host, port }, socket: null })
      sent++
      continue
    }
    if (index >= size) break
    const p = c.portLo + ((s.mul * index + s.add) % size)
    index++
    // Ports the prediction already covered are not probed twice.
    if (isPredicted(s, p)) continue
    actions.push({ type: 'probe', to: { host: s.target.host, port: p }, socket: null })
    sent++
  }
  const next = { ...s, sent, index, nextAt: now + c.stepMs }
  if (sent >= c.maxProbes || index >= size) return end(next, `sent ${sent} probes without a confirmed pair`, actions)
  return next
}

// Sequential allocators hand out the ports right after the one the broker saw: try those first.
function predicted(s: ManyPortState, i: number): number | null {
  const p = s.target.port + 1 + i
  return p >= s.config.portLo && p <= s.config.portHi ? p : null
}

function isPredicted(s: ManyPortState, port: number): boolean {
  return port > s.target.port && port <= s.target.port + s.config.predict
}

function end(s: ManyPortState, reason: string, actions: ManyPortAction[]): ManyPortState {
  actions.push({ type: 'done', reason, probes: s.role === 'easy' ? s.sent : s.opened, sockets: s.role === 'hard' ? s.opened : 0 })
  return { ...s, phase: 'done' }
}

// An odd multiplier coprime with `size` makes i -> (mul * i + add) mod size a permutation.
function coprimeMultiplier(seed: number, size: number): number {
  let m = (seed % size) | 1
  for (let tries = 0; gcd(m, size) !== 1 && tries < size; tries++) m = (m + 2) % size || 1
  return m
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b]
  return a
}

/** Tunables of the per-peer limiter. */
export interface ManyPortLimitConfig {
  /** Wait after one failed run toward a peer; each further failure doubles it. */
  baseMs: number
  /** The longest wait. */
  maxMs: number
  /** Most peers remembered. */
  maxKeys: number
}

/** Defaults: 5 s after a failed run, doubling up to 10 minutes while they keep failing. */
export const DEFAULT_MANY_PORT_LIMIT: ManyPortLimitConfig = { baseMs: 5_000, maxMs: 600_000, maxKeys: 1024 }

/**
 * How often a many-port run may start toward one peer: one at a time, and after runs that found
 * no path, only after a wait that doubles with each failure (a run costs hundreds of sockets or
 * thousands of probes; a re-punch loop, or a peer that can never be reached, must not repeat it
 * back to back). A run that led to a session clears the wait. Pure: time is passed in.
 */
export class ManyPortLimiter {
  // Map order is least-recently-used first.
  private readonly peers = new Map<string, { running: boolean; endedAt: number; failures: number }>()

  constructor(private readonly config: ManyPortLimitConfig = DEFAULT_MANY_PORT_LIMIT) {}

  /** Whether a run toward `key` may start at `now`; if so, it is counted as running. */
  tryStart(key: string, now: number): boolean {
    const p = this.peers.get(key)
    if (p && (p.running || (p.failures > 0 && now - p.endedAt < this.waitMs(p.failures)))) return false
    this.peers.delete(key)
    this.peers.set(key, { running: true, endedAt: p?.endedAt ?? now, failures: p?.failures ?? 0 })
    while (this.peers.size > this.config.maxKeys) this.peers.delete(this.peers.keys().next().value!)
    return true
  }

  /** Record how a run toward `key` ended at `now`: success clears the wait, failure doubles it. */
  finished(key: string, ok: boolean, now: number): void {
    const p = this.peers.get(key)
    if (!p) return
    p.running = false
    p.endedAt = now
    p.failures = ok ? 0 : Math.min(p.failures + 1, 30)
  }

  /** Wait after `failures` consecutive failed runs (none after a success). */
  waitMs(failures: number): number {
    return failures === 0 ? 0 : Math.min(this.config.maxMs, this.config.baseMs * 2 ** (failures - 1))
  }
}
