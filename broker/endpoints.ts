// A registration's other endpoints: a daemon with several interface addresses registers each
// extra socket with REGISTER_ENDPOINT, and the broker passes what it saw of each on in
// introductions, so a peer can punch every uplink (not only the one the kernel routes by default).
import type { IpAddress } from '../protocol/codec.js'
import { MAX_CANDIDATES } from '../protocol/wire.js'

/** One extra endpoint as the broker saw it, with its own lease. */
export interface ExtraEndpoint {
  observed: IpAddress
  expiresAt: number
}

/** Most extra endpoints kept per key: a host with more uplinks than this is rare. */
export const MAX_EXTRA_ENDPOINTS = 4

const same = (a: IpAddress, b: IpAddress): boolean => a.host === b.host && a.port === b.port

/** The live extras of `list` plus `observed` (refreshed when known), oldest dropped past the cap. */
export function withExtra(list: readonly ExtraEndpoint[], observed: IpAddress, now: number, leaseMs: number): ExtraEndpoint[] {
  const kept = list.filter((e) => e.expiresAt > now && !same(e.observed, observed))
  const out = [...kept, { observed, expiresAt: now + leaseMs }]
  return out.slice(Math.max(0, out.length - MAX_EXTRA_ENDPOINTS))
}

/** The live extras of `list` other than `primary` (a re-registration may have moved onto one). */
export function liveExtras(list: readonly ExtraEndpoint[], primary: IpAddress, now: number): ExtraEndpoint[] {
  return list.filter((e) => e.expiresAt > now && !same(e.observed, primary))
}

/**
 * Candidates an introduction carries: the observed address first (the one most likely to work
 * from outside the peer's network), then each extra endpoint, then the announced host addresses;
 * duplicates dropped, cut to what an INTRODUCE holds.
 */
export function candidatesOf(reg: { observed: IpAddress; extras: readonly ExtraEndpoint[]; hosts: readonly IpAddress[] }, now: number): IpAddress[] {
  const out: IpAddress[] = []
  for (const c of [reg.observed, ...liveExtras(reg.extras, reg.observed, now).map((e) => e.observed), ...reg.hosts]) {
    if (!out.some((o) => same(o, c))) out.push(c)
  }
  return out.slice(0, MAX_CANDIDATES + 1)
}
