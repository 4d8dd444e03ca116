// A live session's path as the API shows it: the ends forwarded connections ride (the kernel TCP
// path while there is one), the RTT, and the standbys with what their probes measured.
import { formatHostPort } from '../common/lifecycle.js'
import type { PathInfo } from './api/types.js'
import type { PathMonitor } from './path-monitor.js'
import type { PeerSession } from './session.js'

/** The path of session `s`; `paths` = its peer's monitor, if any. */
export function pathInfo(s: PeerSession, paths: PathMonitor | null): PathInfo {
  return {
    ...pathEnds(s),
    ...pathStandbys(s, paths),
    kind: s.onTcp ? 'direct' : s.kind, ...(s.relayReason !== null && !s.onTcp ? { reason: s.relayReason } : {}),
  }
}

function pathEnds(s: PeerSession): { proto: 'tcp' | 'udp'; local: string; remote: string } {
  const t = s.onTcp ? s.mux.info : null
  if (t?.local && t.remote) return { proto: 'tcp', local: formatHostPort(t.local.host, t.local.port), remote: formatHostPort(t.remote.host, t.remote.port) }
  return { proto: 'udp', local: formatHostPort(s.local.host, s.local.port), remote: formatHostPort(s.remote.host, s.remote.port) }
}

// RTT as the session's heartbeats measure it (rtt.ts; the punch's estimate until the first
// answer), else as the monitor's probes do (each signed and verified on both sides, so on a LAN
// they read higher). Standbys as the monitor sees them.
function pathStandbys(s: PeerSession, paths: PathMonitor | null): Pick<PathInfo, 'rttMs' | 'standbys' | 'standbyPaths'> {
  const rtt = s.rttMs ?? paths?.activeRttMs() ?? null
  const rttMs = rtt === null ? null : Math.round(rtt * 1000) / 1000
  if (!paths) return { rttMs, standbys: s.standbys.map((x) => formatHostPort(x.host, x.port)) }
  const list = paths.standbys()
  return { rttMs, standbys: list.map((x) => (x.local === null ? x.remote : `${x.remote} from ${x.local}`)), standbyPaths: list }
}
