// The contract between the daemon core and its control API. The API layer (routes, schemas)
// depends only on this file and common/errors.ts; the core implements DaemonApi.

/** How our NAT maps: one external port for every destination, one per destination, no NAT, or not known yet. */
export type NatMappingKind = 'endpoint-independent' | 'endpoint-dependent' | 'none' | 'unknown'

/** How our NAT picks external ports (port-preserving, sequential = predictable, random). */
export type NatAllocationKind = 'none' | 'port-preserving' | 'sequential' | 'random' | 'unknown'

/** What `p2pctl netcheck` reports: a fresh look at brokers, NAT, interfaces, IPv6 and hairpinning. */
export interface NetcheckInfo {
  /** Each broker after a fresh registration round trip. */
  brokers: { address: string; reachable: boolean; rttMs: number | null; publicAddress: string | null }[]
  nat: {
    mapping: NatMappingKind
    allocation: NatAllocationKind
    publicAddresses: string[]
    /** Does our NAT pass a packet from inside to its own public address back in? */
    hairpin: 'yes' | 'no' | 'unknown'
  }
  /** Per interface address: the NAT verdict applies to the ones the brokers are reached through. */
  interfaces: { name: string; address: string; family: 4 | 6; inUse: boolean; towardBrokers: boolean; mapping: NatMappingKind | null; allocation: NatAllocationKind | null }[]
  ipv6: { reachable: 'yes' | 'no' | 'unknown'; addresses: string[]; reason: string }
}

/** One transport path to a peer. */
export interface PathInfo {
  kind: 'direct' | 'relay'
  proto: 'udp' | 'tcp'
  /** Local endpoint, "ip:port". */
  local: string
  /** Remote endpoint, "ip:port". */
  remote: string
  /** Smoothed round-trip time over the session, ms, from its heartbeats (every 500 ms); null before the first measurement. */
  rttMs: number | null
  /** Other paths to the peer, kept for failover (probed now and then; alive ones first): "ip:port", or "ip:port from LOCAL" from another local socket. */
  standbys?: string[]
  /** The same with what the standby probes measured: RTT and whether it answered lately. */
  standbyPaths?: { remote: string; local: string | null; rttMs: number | null; alive: boolean }[]
  /** Why the path is relayed (kind relay): "both sides endpoint-dependent", "no direct path answered within 3 s". */
  reason?: string
}

/** A known peer: pinned by name, or seen through a broker. */
export interface PeerInfo {
  name: string | null
  /** Lowercase hex Ed25519 public key (64 chars). */
  key: string
  state: 'idle' | 'connecting' | 'connected' | 'failed'
  path: PathInfo | null
  /** Last failure, if state is 'failed'. */
  lastError: { code: string; message: string } | null
}

/** A local listener that carries connections to a peer. */
export interface ForwardInfo {
  id: string
  proto: 'tcp' | 'udp'
  /** Local listen address, "127.0.0.1:8080". */
  bind: string
  /** Peer name (or key when it has no name). */
  peer: string
  /** Target on the peer's side, "localhost:8080". */
  to: string
  /** Currently open connections. */
  connections: number
  bytesIn: number
  bytesOut: number
  /** Why the last connection or flow could not be opened, if it failed. */
  lastError?: string | null
  /** UDP forwards: flow settings and datagram counters. */
  udp?: {
    idleS: number
    maxFlows: number
    datagramsIn: number
    datagramsOut: number
    /** Dropped datagrams by reason (oversize, flowLimit, refused, replay, ...). */
    drops: Record<string, number>
    flows: { source: string; datagramsIn: number; datagramsOut: number; bytesIn: number; bytesOut: number; idleS: number }[]
  }
}

/** A rule that lets a peer (or any peer) reach a local host:port. */
export interface ExposeInfo {
  id: string
  proto: 'tcp' | 'udp'
  /** Local target, "localhost:8080". */
  target: string
  /** Peer name or key, or "*" for any authenticated peer. */
  peer: string
}

/** One configured broker and our registration with it. */
export interface BrokerInfo {
  address: string
  state: 'registering' | 'registered' | 'unreachable'
  rttMs: number | null
  /** Our public address as this broker saw it ("ip:port"), once registered. */
  publicAddress: string | null
}

/** A local interface address and the endpoint bound on it. */
export interface InterfaceInfo {
  name: string
  address: string
  family: 4 | 6
  /** Local UDP endpoint, "ip:port". */
  endpoint: string
  /** Public mapping as the brokers reported it, if any. */
  public: string | null
  /** True when this address has a socket of its own (off the default route: a second uplink); false when the main socket serves it. */
  ownEndpoint: boolean
  /** Why an own endpoint has no public mapping (no broker answered through it, …), else null. */
  note: string | null
  /** Announced to brokers and punched from. */
  inUse: boolean
  /** Why not in use (loopback, link-local, denied by a rule, ...), else null. */
  reason: string | null
  /** Peer paths whose local address this is. */
  activePaths: number
  /** From systeminformation, null when unknown: wired, wireless, virtual, ... */
  type: string | null
  virtual: boolean | null
  operstate: string | null
}

/** Everything `p2pctl status` shows. */
export interface StatusInfo {
  name: string
  key: string
  version: string
  uptimeS: number
  brokers: BrokerInfo[]
  nat: { mapping: NatMappingKind; allocation: NatAllocationKind; publicAddresses: string[] }
  interfaces: InterfaceInfo[]
  peers: PeerInfo[]
  forwards: ForwardInfo[]
}

/** Stages of a connect attempt, reported as progress events. */
export type PunchStage = 'lookup' | 'introduced' | 'probing' | 'path' | 'handshake' | 'connected' | 'failed'

/** Events streamed on /v1/events. */
export type DaemonEvent =
  | { type: 'peer'; peer: PeerInfo; reason: string }
  // punch.peer: the peer's name when it has one, else its key.
  | { type: 'punch'; peer: string; stage: PunchStage; detail: string }
  | { type: 'forward'; action: 'added' | 'removed'; forward: ForwardInfo }
  | { type: 'connection'; action: 'open' | 'close'; forwardId: string; connectionId: string; detail: string }
  | { type: 'expose'; action: 'added' | 'removed'; expose: ExposeInfo }
  | { type: 'broker'; broker: BrokerInfo }
  /** The path to a peer changed (new session, migration after a NAT change, or lost). */
  | { type: 'path'; peer: string; path: PathInfo | null; reason: string }
  /** Something failed that no request is waiting on (a refused forwarded connection, a failed re-punch). */
  | { type: 'error'; code: string; message: string; peer?: string; forwardId?: string }

/** Request to add a forward. */
export interface AddForwardRequest {
  /** Local bind host; default 127.0.0.1. */
  bindHost?: string
  /** Local port to listen on (1-65535). */
  port: number
  /** Peer name or key. */
  peer: string
  /** Target host on the peer's side; default "localhost". */
  toHost?: string
  /** Target port on the peer's side; default = port. */
  toPort?: number
  proto: 'tcp' | 'udp'
  /** UDP: idle seconds before a flow closes (default 60). */
  idleS?: number
  /** UDP: most concurrent flows (default 1024). */
  maxFlows?: number
}

/** Request to add an expose rule. */
export interface AddExposeRequest {
  /** Local target host; default "localhost". */
  host?: string
  port: number
  /** Peer name or key, or "*" for any peer. */
  peer: string
  proto: 'tcp' | 'udp'
}

/** A pipe to a peer's target for `p2pctl nc`: a byte stream (TCP) or a datagram pipe (UDP). */
export type PeerPipe =
  | { proto: 'tcp'; stream: import('node:stream').Duplex }
  | {
      proto: 'udp'
      /** Largest datagram the path carries. */
      maxPayload: number
      send(datagram: Uint8Array): void
      onDatagram(fn: (datagram: Uint8Array) => void): void
      onClose(fn: () => void): void
      close(): void
    }

/** What the daemon core offers its control API. Methods throw AppError (common/errors.ts). */
export interface DaemonApi {
  status(): StatusInfo
  id(): { name: string; key: string }
  interfaces(): Promise<InterfaceInfo[]>
  peers(): PeerInfo[]
  /** Pin a name to a key. Throws BAD_REQUEST (malformed key/name), PEER_NAME_TAKEN. */
  addPeer(name: string, key: string): PeerInfo
  /** Forget a pinned peer. Throws PEER_UNKNOWN. */
  removePeer(peer: string): void
  /** Punch and authenticate a path. Throws PEER_UNKNOWN, PEER_KEY_CHANGED, PUNCH_TIMEOUT, NO_BROKER. */
  connect(peer: string): Promise<PeerInfo>
  /** Round trip over the peer session (connects first if needed). */
  ping(peer: string): Promise<{ rttMs: number; path: PathInfo }>
  /** Throws PORT_IN_USE, FORWARD_EXISTS, BAD_REQUEST. */
  addForward(req: AddForwardRequest): Promise<ForwardInfo>
  forwards(): ForwardInfo[]
  /** By id, or by local port number. Throws FORWARD_UNKNOWN. */
  removeForward(idOrPort: string): Promise<void>
  addExpose(req: AddExposeRequest): ExposeInfo
  exposes(): ExposeInfo[]
  /** By id. Throws EXPOSE_UNKNOWN. */
  removeExpose(id: string): void
  /** Open a pipe to host:port on the peer (connects first if needed). Throws NOT_EXPOSED, TARGET_REFUSED, SESSION_LOST, ... */
  openPipe(peer: string, proto: 'tcp' | 'udp', host: string, port: number): Promise<PeerPipe>
  /** Subscribe to events; returns the unsubscribe function. */
  subscribe(listener: (event: DaemonEvent) => void): () => void
  /** A fresh network check (takes a second or two); without it GET /v1/netcheck answers 404. */
  netcheck?(): Promise<NetcheckInfo>
  /** Prometheus text for GET /metrics; without it the route answers 404. */
  metrics?(): Promise<{ contentType: string; text: string }>
}
