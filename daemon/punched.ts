// What a punch attempt delivers (a path ready to become a session) and how it may use a relay.
import type { UDXSocket, UDXStream } from 'udx-native'
import type { Introduce } from '../protocol/wire.js'
import type { Addr, PathKind } from '../protocol/punch.js'
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
