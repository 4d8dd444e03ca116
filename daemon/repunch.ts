// The peer manager's two re-punch loops: healing a stalled session through a broker, and moving a
// relayed session to a direct path when one can be had. Both end in the manager's connect(),
// whose new session takes over the old one's streams.
import { upgradeDelayMs } from '../protocol/relay-plan.js'
import type { AppError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { BrokerClient } from './broker-client.js'
import type { Counters } from './counters.js'
import type { DaemonEvent } from './api/types.js'
import type { PeerEntry } from './peers.js'
import type { PeerSession } from './session.js'

const HEAL_ATTEMPTS = 20
const HEAL_SETTLE_MS = 200
// Both sides see a path die at once. The session's Noise initiator re-punches first; the other
// side waits this long, so that usually one new session (one relay) replaces the old one: two at
// once make streams move twice, and udx cannot start a move while one is still in flight.
const HEAL_DEFER_MS = 1_500
const HEAL_RETRY_MS = 1_000
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
// Waits that must not keep a stopping daemon alive.
const unrefDelay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref())

/** What the loops need of the peer manager. */
export interface RepunchHost {
  connect(key: string, opts: { fresh?: boolean; direct?: boolean; healing?: boolean }): Promise<PeerSession>
  brokers(): BrokerClient[]
  label(key: string): string
  nameOf(key: string): string | null
  emit(e: DaemonEvent): void
  logger: Logger
  counters: Counters
}

/**
 * A stalled path: refresh our registration (the broker learns a changed NAT mapping at once),
 * give the peer's refresh a moment to land, then punch a new path; the new session takes over
 * the old one's streams. Retried until it works or the old session gives up.
 */
export async function heal(host: RepunchHost, e: PeerEntry, stalled: PeerSession): Promise<void> {
  if (e.healing) return
  e.healing = true
  try {
    for (let attempt = 0; attempt < HEAL_ATTEMPTS && stalled.alive && e.session === stalled; attempt++) {
      for (const b of host.brokers()) b.refreshNow()
      await delay(attempt > 0 ? HEAL_RETRY_MS : stalled.initiator ? HEAL_SETTLE_MS : HEAL_DEFER_MS)
      if (!stalled.alive || e.session !== stalled || !stalled.isStalled) return
      try {
        await host.connect(e.key, { fresh: true, healing: true })
        host.counters.inc('paths_healed')
        return
      } catch (err) {
        host.logger.warn({ peer: host.label(e.key), err: (err as Error).message }, 're-punch failed; will retry')
        host.emit({ type: 'error', code: (err as AppError).code ?? 'INTERNAL', message: `re-punch failed: ${(err as Error).message}`, peer: host.nameOf(e.key) ?? e.key })
      }
    }
  } finally {
    e.healing = false
  }
}

/**
 * A relayed session tries for a direct path now and then (rarely when both NATs are hard); a
 * direct session replaces it through the manager's adopt(), which moves its streams in place.
 */
export async function upgrade(host: RepunchHost, e: PeerEntry, relayed: PeerSession, bothHard: boolean): Promise<void> {
  if (e.upgrading?.alive) return
  e.upgrading = relayed
  try {
    for (let attempt = 0; attempt < 1000 && relayed.alive && e.session === relayed; attempt++) {
      await unrefDelay(upgradeDelayMs(attempt, bothHard))
      if (!relayed.alive || e.session !== relayed || relayed.isStalled) continue
      try {
        const s = await host.connect(e.key, { fresh: true, direct: true })
        if (s.kind === 'direct') {
          host.counters.inc('paths_upgraded')
          host.logger.info({ peer: host.label(e.key) }, 'relayed session moved to a direct path')
          return
        }
      } catch {
        host.counters.inc('path_upgrades_failed')
      }
    }
  } finally {
    if (e.upgrading === relayed) e.upgrading = null
  }
}
