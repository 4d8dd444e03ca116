// What a PeerSession is built from, and the hooks that decide the peer's requests.
import type { Duplex } from 'node:stream'
import type { UDXSocket, UDXStream } from 'udx-native'
import type { Check, Open, OpenFailCode } from '../protocol/control.js'
import type { SessionKeys } from '../protocol/stream-keys.js'
import type { Addr, PathKind } from '../protocol/punch.js'
import type { Logger } from '../common/logger.js'
import type { Endpoint } from './endpoint.js'
import type { Counters } from './counters.js'
import type { PeerSession } from './session.js'
import type { TcpPaths } from './tcp/path.js'

/** What the acceptor decides about an open request. */
export type OpenDecision =
  | { ok: true; attach: (stream: Duplex) => void }
  | { ok: false; code: OpenFailCode; message: string; hint: string }

/** Decides a check from the peer: the expose rules alone. */
export type CheckHandler = (session: PeerSession, req: Check) => Promise<{ ok: true } | { ok: false; code: OpenFailCode; message: string; hint: string }>

/** Decides open requests from the peer (expose rules, then dial). */
export type OpenHandler = (session: PeerSession, req: Open) => Promise<OpenDecision>

/** Everything a PeerSession needs: the punched path, the session keys and the hooks. */
export interface PeerSessionOptions {
  endpoint: Endpoint
  /** The socket the punch found the path on; released when the session ends. */
  socket: UDXSocket
  controlRaw: UDXStream
  keys: SessionKeys
  publicKey: Uint8Array
  remoteKey: Uint8Array
  remote: Addr
  /** Our interface address toward `remote`, when known. */
  localHost: string | null
  /** Other answered remote addresses (failover). */
  standbys: Addr[]
  rttMs: number | null
  kind?: PathKind
  relayReason?: string | null
  leftover: Buffer | null
  selfName: string
  version: string
  onOpen: OpenHandler
  onCheck: CheckHandler
  logger: Logger
  counters: Counters
  /** Kernel TCP paths (null: UDP only). */
  tcp?: TcpPaths | null
}
