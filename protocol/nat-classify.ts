// NAT classification from what brokers observed: the mapping behaviour (does the external port
// depend on the destination?) and the allocation pattern (how external ports are chosen).
// Pure: fed observations, returns a verdict.
import type { NatMapping } from './wire.js'
import type { Addr } from './punch.js'

/**
 * How the NAT picks external ports: the local port kept, the next free one (predictable), or
 * random; 'none' without a NAT; 'unknown' when the observations cannot tell.
 */
export type NatAllocation = 'none' | 'port-preserving' | 'sequential' | 'random' | 'unknown'

/** One broker's view of one of our sockets. */
export interface NatObservation {
  /** The broker address the socket talked to. */
  server: Addr
  /** The socket's local port. */
  localPort: number
  /** The source address the broker saw. */
  observed: Addr
  /** When this mapping was first seen (ms), to order mappings by creation. */
  at: number
}

/** The verdict. */
export interface NatClassification { mapping: NatMapping; allocation: NatAllocation }

// Two mappings this close are read as sequential allocation: other traffic may take a few ports
// in between. A random allocator over ~64k ports lands this close with chance ~1/1000.
const SEQUENTIAL_MAX_GAP = 32

/**
 * Classify from observations of one local socket by different broker addresses; `localHosts` are
 * our interface addresses (an observed address among them means no NAT).
 */
export function classifyNat(observations: NatObservation[], localHosts: string[]): NatClassification {
  const seen = dedupeByServer(observations)
  if (seen.length === 0) return { mapping: 'unknown', allocation: 'unknown' }
  const noNat = seen.every((o) => localHosts.includes(o.observed.host) && o.observed.port === o.localPort) || seen.every((o) => o.observed.host.startsWith('127.'))
  if (noNat) return { mapping: 'none', allocation: 'none' }
  const preserved = seen.every((o) => o.observed.port === o.localPort)
  if (seen.length < 2) return { mapping: 'unknown', allocation: preserved ? 'port-preserving' : 'unknown' }
  const first = seen[0]!
  const independent = seen.every((o) => o.observed.port === first.observed.port && o.observed.host === first.observed.host)
  if (independent) return { mapping: 'endpoint-independent', allocation: preserved ? 'port-preserving' : 'unknown' }
  return { mapping: 'endpoint-dependent', allocation: dependentAllocation(seen) }
}

// Endpoint-dependent: each destination got its own port. In order of creation, small steps up
// mean a counter (predictable), anything else random.
function dependentAllocation(seen: NatObservation[]): NatAllocation {
  const ports = [...seen].sort((a, b) => a.at - b.at).map((o) => o.observed.port)
  const steps = ports.slice(1).map((p, i) => p - ports[i]!)
  return steps.every((d) => d > 0 && d <= SEQUENTIAL_MAX_GAP) ? 'sequential' : 'random'
}

// One observation per broker address (the newest mapping): the others say nothing more.
function dedupeByServer(observations: NatObservation[]): NatObservation[] {
  const by = new Map<string, NatObservation>()
  for (const o of observations) {
    const k = `${o.server.host}|${o.server.port}`
    const prev = by.get(k)
    if (!prev || o.at >= prev.at) by.set(k, o)
  }
  return [...by.values()]
}
