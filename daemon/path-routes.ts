// Which live session a path probe belongs to: each session's probe nonce and re-punch nonces
// (docs/PROTOCOL.md §10) route to its peer's path monitor. Signatures are checked here, within a
// budget, before anything else looks at a probe.
import type { UDXSocket } from 'udx-native'
import { verifySigned, type Probe, type ProbeAck } from '../protocol/wire.js'
import { bytesEqual, keyToHex } from '../protocol/identity.js'
import { RateLimiter } from '../protocol/rate-limit.js'
import type { Addr } from '../protocol/punch.js'
import type { Counters } from './counters.js'
import type { PathMonitor } from './path-monitor.js'

// Monitors probe each address about once a second: this leaves room for a few dozen paths and a
// re-punch's bursts, and bounds what forged probes with a seen nonce cost in verifications.
const VERIFY = { ratePerS: 200, burst: 400 }

/** Path nonces of live sessions, and where their probes go. */
export class PathRoutes {
  private readonly routes = new Map<string, { monitor: PathMonitor; use: 'probe' | number }>()
  private readonly verify = new RateLimiter({ ...VERIFY, maxKeys: 1 })

  constructor(private readonly deps: { counters: Counters }) {}

  /** Route nonce `hex` to `monitor` (its session's probe nonce, or re-punch nonce number `use`). */
  set(hex: string, monitor: PathMonitor, use: 'probe' | number): void {
    this.routes.set(hex, { monitor, use })
  }

  /** Forget nonce `hex` if it still routes to `monitor`. */
  delete(hex: string, monitor: PathMonitor): void {
    if (this.routes.get(hex)?.monitor === monitor) this.routes.delete(hex)
  }

  /** Take a probe or answer whose nonce is a session's path nonce; false when it is none of theirs. */
  claim(msg: Probe | ProbeAck, raw: Uint8Array, from: Addr, socket: UDXSocket): boolean {
    const route = this.routes.get(keyToHex(msg.punchNonce))
    if (!route) return false
    if (!this.verify.take('', Date.now())) {
      this.deps.counters.inc('path_probes_dropped_rate_limited')
      return true
    }
    if (!bytesEqual(msg.key, route.monitor.peerKey) || !verifySigned(raw, route.monitor.peerKey)) {
      this.deps.counters.inc('path_probes_dropped_bad_signature')
      return true
    }
    this.deps.counters.inc(msg.type === 'probe' ? 'path_probes_received' : 'path_probe_acks_received')
    route.monitor.onProbe(route.use, msg, from, socket)
    return true
  }
}
