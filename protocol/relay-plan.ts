// When to fall back to a relay, and how often a relayed session tries for a direct path again.
// Pure: fed the two NAT classifications (REGISTER nat, INTRODUCE peerNat) and attempt counts.
import type { NatMapping } from './wire.js'

/** Without an answer from any direct candidate for this long, a punch asks for a relay. */
export const RELAY_AFTER_MS = 3_000

/** How a punch uses the relay. */
export interface RelayPlan {
  /** Ask for a relay this long after the punch starts (0 = at once). */
  afterMs: number
  /** Why the path would be relayed, for `p2pctl peers`. */
  reason: string
  /** Both sides hard: a direct path is unlikely, so upgrades are tried rarely. */
  bothHard: boolean
}

/** Plan a punch: both sides endpoint-dependent go straight to a relay; otherwise only when punching is slow. */
export function planRelay(own: NatMapping, peer: NatMapping, afterMs = RELAY_AFTER_MS): RelayPlan {
  if (own === 'endpoint-dependent' && peer === 'endpoint-dependent') return { afterMs: 0, reason: 'both sides endpoint-dependent', bothHard: true }
  return { afterMs, reason: `no direct path answered within ${Math.round(afterMs / 100) / 10} s`, bothHard: false }
}

/** Delay before upgrade attempt `attempt` (0-based) of a relayed session: soon and then less often; rarely when both sides are hard. */
export function upgradeDelayMs(attempt: number, bothHard: boolean): number {
  const [first, cap] = bothHard ? [60_000, 30 * 60_000] : [2_000, 5 * 60_000]
  return Math.min(cap, first * 2 ** Math.min(Math.max(0, attempt), 20))
}
