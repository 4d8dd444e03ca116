// A punch attempt in flight, what it delivers (a path ready to become a session) and how it may
// use a relay.
import type { UDXSocket, UDXStream } from 'udx-native'
import type { Introduce } from '../protocol/wire.js'
import type { Addr, PathKind, PunchState } from '../protocol/punch.js'
import type { RelayPlan } from '../protocol/relay-plan.js'
import type { PunchStage } from './api/types.js'
import type { ManyPortRun } from './many-port.js'
import type { HandshakeResult } from './handshake.js'

/** A punched, authenticated path, ready to become a session. */
export interface Punched {
  intro: Introduce
  controlRaw: UDXStream
  handshake: HandshakeResult
  initiator: boolean
  remote: Addr
  /** The socket the path runs on: the endpoint's, or a many-port socket the session now owns. */
  socket: UDXSocket
  /** Our interface address toward `remote` (the endpoint itself binds 0.0.0.0). */
  localHost: string | null
  /** Other remote addresses that answered (standbys for failover). */
  standbys: Addr[]
  /** Every direct candidate the punch probed (the path monitor keeps probing them). */
  candidates: Addr[]
  rttMs: number | null
  /** Direct, or through a broker's relay (then `relayReason` says why). */
  kind: PathKind
  relayReason: string | null
  /** Both sides endpoint-dependent: a direct path is unlikely (upgrade attempts are rare). */
  bothHard: boolean
}

/** How a punch may use a relay: the requester asks the broker for one (null = direct only). */
export interface RelayOption {
  ask: () => Promise<Addr>
  /** Ask at once, not after the usual wait: a re-punch after the path died, where every second stalls live streams. */
  now?: boolean
}

/** One punch attempt in flight (daemon/connector.ts runs it). */
export interface Attempt {
  intro: Introduce
  nonceHex: string
  initiator: boolean
  state: PunchState
  controlRaw: UDXStream
  timer: NodeJS.Timeout | null
  handshaking: boolean
  settled: boolean
  standbys: Addr[]
  /** "host:port" -> may a path to it be used (its egress address is not denied)? */
  verdicts: Map<string, boolean>
  plan: RelayPlan
  relay: Addr | null
  relayTimer: NodeJS.Timeout | null
  cancelBind: (() => void) | null
  /** Where each remote was last heard (verified): probes and answers to it leave from there. */
  via: Map<string, UDXSocket>
  /** The socket the control stream was connected on. */
  socket: UDXSocket | null
  manyPort: ManyPortRun | null
  /** Probe only from this socket (a move onto a path measured from it); null = from every uplink. */
  only: UDXSocket | null
  resolve: (p: Punched) => void
  reject: (e: Error) => void
  progress: (stage: PunchStage, detail: string) => void
}
