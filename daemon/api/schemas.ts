// Typebox schemas for every control-API route, mirroring daemon/api/types.ts. They validate
// requests, shape responses (fast-json-stringify drops fields the contract does not name) and
// feed the OpenAPI document. ctl/ may import this file (and only this one) for the JSON types.
import type { Static, TSchema } from 'typebox'
import { Type } from './json-schema.js'
import type * as T from './types.js'

// Bounds on every string a client can send: the API is local, but a bound costs nothing.
const MAX_NAME = 64
const MAX_KEY = 128
const MAX_HOST = 253

const Proto = Type.Union([Type.Literal('tcp'), Type.Literal('udp')], { description: 'transport protocol' })
const Port = Type.Integer({ minimum: 1, maximum: 65535, description: 'port number, 1-65535' })
const Host = Type.String({ minLength: 1, maxLength: MAX_HOST, description: 'host name or IP address (IPv6 without brackets)' })
const PeerRef = Type.String({ minLength: 1, maxLength: MAX_KEY, description: 'peer name or key' })
const Nullable = <S extends TSchema>(s: S) => Type.Union([s, Type.Null()])

/** One transport path to a peer. */
export const PathInfo = Type.Object({
  kind: Type.Union([Type.Literal('direct'), Type.Literal('relay')]),
  proto: Proto,
  local: Type.String({ description: 'local endpoint, ip:port' }),
  remote: Type.String({ description: 'remote endpoint, ip:port' }),
  rttMs: Nullable(Type.Number({ description: 'smoothed round-trip time in ms' })),
  standbys: Type.Optional(Type.Array(Type.String(), { description: 'other paths to the peer, kept for failover (alive ones first): "ip:port", or "ip:port from LOCAL" when it leaves from another local socket (a second uplink)' })),
  standbyPaths: Type.Optional(Type.Array(Type.Object({ remote: Type.String(), local: Nullable(Type.String({ description: 'the local address the path leaves from ("main" = the main socket) when not the session\'s socket: another uplink' })), rttMs: Nullable(Type.Number()), alive: Type.Boolean() }), { description: 'standbys with what their probes measured' })),
  reason: Type.Optional(Type.String({ description: 'why the path is relayed (kind relay), e.g. "both sides endpoint-dependent"' })),
})

/** A known peer. */
export const PeerInfo = Type.Object({
  name: Nullable(Type.String()),
  key: Type.String({ description: 'lowercase hex Ed25519 public key' }),
  state: Type.Union([Type.Literal('idle'), Type.Literal('connecting'), Type.Literal('connected'), Type.Literal('failed')]),
  path: Nullable(PathInfo),
  lastError: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
})

/** A local listener that carries connections to a peer. */
export const ForwardInfo = Type.Object({
  id: Type.String(),
  proto: Proto,
  bind: Type.String({ description: 'local listen address, host:port' }),
  peer: Type.String(),
  to: Type.String({ description: "target on the peer's side, host:port" }),
  connections: Type.Integer({ minimum: 0 }),
  bytesIn: Type.Integer({ minimum: 0 }),
  bytesOut: Type.Integer({ minimum: 0 }),
  lastError: Type.Optional(Nullable(Type.String())),
  udp: Type.Optional(Type.Object({
    idleS: Type.Integer({ minimum: 1 }),
    maxFlows: Type.Integer({ minimum: 1 }),
    datagramsIn: Type.Integer({ minimum: 0 }),
    datagramsOut: Type.Integer({ minimum: 0 }),
    drops: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'dropped datagrams by reason' }),
    flows: Type.Array(Type.Object({
      source: Type.String(),
      datagramsIn: Type.Integer({ minimum: 0 }),
      datagramsOut: Type.Integer({ minimum: 0 }),
      bytesIn: Type.Integer({ minimum: 0 }),
      bytesOut: Type.Integer({ minimum: 0 }),
      idleS: Type.Integer({ minimum: 0 }),
    })),
  })),
})

/** A rule that lets a peer (or any peer, "*") reach a local host:port. */
export const ExposeInfo = Type.Object({
  id: Type.String(),
  proto: Proto,
  target: Type.String({ description: 'local target, host:port' }),
  peer: Type.String({ description: 'peer name or key, or "*" for any authenticated peer' }),
})

/** One configured broker and our registration with it. */
export const BrokerInfo = Type.Object({
  address: Type.String(),
  state: Type.Union([Type.Literal('registering'), Type.Literal('registered'), Type.Literal('unreachable')]),
  rttMs: Nullable(Type.Number()),
  publicAddress: Nullable(Type.String()),
})

/** A local interface address and the endpoint bound on it. */
export const InterfaceInfo = Type.Object({
  name: Type.String(),
  address: Type.String(),
  family: Type.Union([Type.Literal(4), Type.Literal(6)]),
  endpoint: Type.String(),
  public: Nullable(Type.String()),
  ownEndpoint: Type.Boolean(),
  note: Nullable(Type.String()),
  inUse: Type.Boolean(),
  reason: Nullable(Type.String()),
  activePaths: Type.Integer({ minimum: 0 }),
  type: Nullable(Type.String()),
  virtual: Nullable(Type.Boolean()),
  operstate: Nullable(Type.String()),
})

/** How our NAT maps: one external port for every destination, one per destination, no NAT, or not known yet. */
export const NatMappingSchema = Type.Union([Type.Literal('endpoint-independent'), Type.Literal('endpoint-dependent'), Type.Literal('none'), Type.Literal('unknown')])

/** How our NAT picks external ports. */
export const NatAllocationSchema = Type.Union([Type.Literal('none'), Type.Literal('port-preserving'), Type.Literal('sequential'), Type.Literal('random'), Type.Literal('unknown')])

/** Everything `p2pctl status` shows. */
export const StatusInfo = Type.Object({
  name: Type.String(),
  key: Type.String(),
  version: Type.String(),
  uptimeS: Type.Number(),
  brokers: Type.Array(BrokerInfo),
  nat: Type.Object({
    mapping: NatMappingSchema,
    allocation: NatAllocationSchema,
    publicAddresses: Type.Array(Type.String()),
  }),
  interfaces: Type.Array(InterfaceInfo),
  peers: Type.Array(PeerInfo),
  forwards: Type.Array(ForwardInfo),
})

/** What `p2pctl netcheck` reports. */
export const NetcheckInfo = Type.Object({
  brokers: Type.Array(Type.Object({ address: Type.String(), reachable: Type.Boolean(), rttMs: Nullable(Type.Number()), publicAddress: Nullable(Type.String()) })),
  nat: Type.Object({
    mapping: NatMappingSchema,
    allocation: NatAllocationSchema,
    publicAddresses: Type.Array(Type.String()),
    hairpin: Type.Union([Type.Literal('yes'), Type.Literal('no'), Type.Literal('unknown')]),
  }),
  interfaces: Type.Array(Type.Object({
    name: Type.String(), address: Type.String(), family: Type.Union([Type.Literal(4), Type.Literal(6)]), inUse: Type.Boolean(), towardBrokers: Type.Boolean(),
    mapping: Nullable(NatMappingSchema), allocation: Nullable(NatAllocationSchema),
  })),
  ipv6: Type.Object({ reachable: Type.Union([Type.Literal('yes'), Type.Literal('no'), Type.Literal('unknown')]), addresses: Type.Array(Type.String()), reason: Type.String() }),
})

/** This daemon's identity. */
export const IdInfo = Type.Object({ name: Type.String(), key: Type.String() })

/** Result of one ping. */
export const PingResult = Type.Object({ rttMs: Type.Number(), path: PathInfo })

/** GET /v1/health. */
export const Health = Type.Object({ ok: Type.Literal(true) })

const PunchStage = Type.Union([
  Type.Literal('lookup'), Type.Literal('introduced'), Type.Literal('probing'), Type.Literal('path'),
  Type.Literal('handshake'), Type.Literal('connected'), Type.Literal('failed'),
])
const Added = Type.Union([Type.Literal('added'), Type.Literal('removed')])

/** One message on the /v1/events WebSocket. */
export const DaemonEvent = Type.Union([
  Type.Object({ type: Type.Literal('peer'), peer: PeerInfo, reason: Type.String() }),
  Type.Object({ type: Type.Literal('punch'), peer: Type.String(), stage: PunchStage, detail: Type.String() }),
  Type.Object({ type: Type.Literal('forward'), action: Added, forward: ForwardInfo }),
  Type.Object({ type: Type.Literal('connection'), action: Type.Union([Type.Literal('open'), Type.Literal('close')]), forwardId: Type.String(), connectionId: Type.String(), detail: Type.String() }),
  Type.Object({ type: Type.Literal('expose'), action: Added, expose: ExposeInfo }),
  Type.Object({ type: Type.Literal('broker'), broker: BrokerInfo }),
  Type.Object({ type: Type.Literal('path'), peer: Type.String(), path: Nullable(PathInfo), reason: Type.String() }),
  Type.Object({ type: Type.Literal('error'), code: Type.String(), message: Type.String(), peer: Type.Optional(Type.String()), forwardId: Type.Optional(Type.String()) }),
])

/** POST /v1/peers body. */
export const AddPeerRequest = Type.Object({
  name: Type.String({ minLength: 1, maxLength: MAX_NAME, description: 'local alias' }),
  key: Type.String({ minLength: 1, maxLength: MAX_KEY, description: 'public key, hex or z-base-32' }),
}, { additionalProperties: false })

/** POST /v1/forwards body. */
export const AddForwardRequest = Type.Object({
  bindHost: Type.Optional(Host),
  port: Port,
  peer: PeerRef,
  toHost: Type.Optional(Host),
  toPort: Type.Optional(Port),
  proto: Proto,
  idleS: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: 'UDP: close a flow after this many idle seconds (default 60)' })),
  maxFlows: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536, description: 'UDP: most concurrent flows (default 1024)' })),
}, { additionalProperties: false })

/** POST /v1/exposes body. */
export const AddExposeRequest = Type.Object({
  host: Type.Optional(Host),
  port: Port,
  peer: Type.String({ minLength: 1, maxLength: MAX_KEY, description: 'peer name or key, or "*" for any peer' }),
  proto: Proto,
}, { additionalProperties: false })

/** Route params naming a peer. */
export const PeerParams = Type.Object({ peer: PeerRef })

/** Route params naming a forward or expose by id (a forward also by local port). */
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: MAX_KEY }) })

/** Every error response. */
export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'stable error code, e.g. PEER_UNKNOWN' }),
    message: Type.String(),
    hint: Type.Optional(Type.String({ description: 'what to do about it' })),
  }),
})

/** Error JSON as the API sends it. */
export type ErrorBody = Static<typeof ErrorBody>
export type PathInfo = Static<typeof PathInfo>
export type PeerInfo = Static<typeof PeerInfo>
export type ForwardInfo = Static<typeof ForwardInfo>
export type ExposeInfo = Static<typeof ExposeInfo>
export type BrokerInfo = Static<typeof BrokerInfo>
export type InterfaceInfo = Static<typeof InterfaceInfo>
export type StatusInfo = Static<typeof StatusInfo>
export type NetcheckInfo = Static<typeof NetcheckInfo>
export type IdInfo = Static<typeof IdInfo>
export type PingResult = Static<typeof PingResult>
export type DaemonEvent = Static<typeof DaemonEvent>
export type AddPeerRequest = Static<typeof AddPeerRequest>
export type AddForwardRequest = Static<typeof AddForwardRequest>
export type AddExposeRequest = Static<typeof AddExposeRequest>

// Compile-time proof that the schemas and daemon/api/types.ts say the same thing: if either
// drifts, one of these lines stops type-checking.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const _same: [
  Same<PathInfo, T.PathInfo>, Same<PeerInfo, T.PeerInfo>, Same<ForwardInfo, T.ForwardInfo>,
  Same<ExposeInfo, T.ExposeInfo>, Same<BrokerInfo, T.BrokerInfo>, Same<InterfaceInfo, T.InterfaceInfo>,
  Same<StatusInfo, T.StatusInfo>, Same<DaemonEvent, T.DaemonEvent>, Same<AddForwardRequest, T.AddForwardRequest>,
  Same<AddExposeRequest, T.AddExposeRequest>, Same<IdInfo, ReturnType<T.DaemonApi['id']>>,
  Same<PingResult, Awaited<ReturnType<T.DaemonApi['ping']>>>, Same<NetcheckInfo, T.NetcheckInfo>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true]
void _same
