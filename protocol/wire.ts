// Datagrams on the shared UDP socket: broker control messages and peer punch probes.
// Layout: magic 0x50 ('P'), version 0x01, type, then a compact-encoding body (docs/PROTOCOL.md).
// UDX's own packets start with 0xff, so the two never collide on one socket.
import { bool, boundedArray, boundedString, c, decodeExact, encodeWithHeader, ipAddress, struct, uint, uint32, uint8, type Encoding, type IpAddress } from './codec.js'
import { ProtocolError } from './errors.js'
import { sign, verify } from './identity.js'

/** First byte of every p2pd datagram. */
export const MAGIC = 0x50
/** Wire version this build speaks. */
export const VERSION = 1
/** Largest datagram either side sends or accepts. */
export const MAX_DATAGRAM = 1200
/** Most host candidates a peer may announce. */
export const MAX_CANDIDATES = 16
/** Longest peer name, bytes. */
export const MAX_NAME = 32
/** Longest error message carried on the wire, bytes. */
export const MAX_ERROR_TEXT = 64

const TYPE = { register: 1, registered: 2, connect: 3, introduce: 4, error: 5, unregister: 6, probe: 7, probeAck: 8, relayRequest: 9, relayAllocated: 10, relayBind: 11, relayBound: 12, registerEndpoint: 13 } as const
/** Message type names. */
export type WireType = keyof typeof TYPE

/** Signed by the registering peer: claims `name` for `key` and announces host candidates. */
export interface Register { type: 'register'; reqId: number; key: Uint8Array; name: string; timestamp: number; nonce: Uint8Array; hosts: IpAddress[]; nat: NatMapping; sig: Uint8Array }
/** Broker's answer to a register: what it saw as our public address, and the lease. */
export interface Registered { type: 'registered'; reqId: number; observed: IpAddress; leaseS: number }
/** Signed request to be introduced to a peer by key or name. */
export interface Connect { type: 'connect'; reqId: number; key: Uint8Array; target: Uint8Array | string; timestamp: number; nonce: Uint8Array; sig: Uint8Array }
/** Broker tells each side the other's candidates and a shared punch nonce, at the same moment. */
export interface Introduce { type: 'introduce'; reqId: number; peerKey: Uint8Array; peerName: string; candidates: IpAddress[]; punchNonce: Uint8Array; requester: boolean; peerNat: NatMapping }
/** Broker refusal of a request. */
export interface WireErrorMsg { type: 'error'; reqId: number; code: number; message: string }
/** Signed goodbye: drop the registration now rather than at lease expiry. */
export interface Unregister { type: 'unregister'; reqId: number; key: Uint8Array; timestamp: number; nonce: Uint8Array; sig: Uint8Array }
/**
 * Signed, sent from another of the peer's sockets (one per interface address): "reach me here
 * too". The broker adds where it came from to the key's live registration as one more candidate
 * and answers REGISTERED with that address.
 */
export interface RegisterEndpoint { type: 'registerEndpoint'; reqId: number; key: Uint8Array; timestamp: number; nonce: Uint8Array; sig: Uint8Array }
/** Peer-to-peer punch probe (and its answer), signed by the sender. */
export interface Probe { type: 'probe'; punchNonce: Uint8Array; key: Uint8Array; streamId: number; seq: number; addr: IpAddress; sig: Uint8Array }
/** Answer to a probe: echoes its seq and says where the probe came from. */
export interface ProbeAck extends Omit<Probe, 'type'> { type: 'probeAck' }

/** Signed request for a relay allocation shared with `peerKey`, for the introduction `punchNonce`. */
export interface RelayRequest { type: 'relayRequest'; reqId: number; key: Uint8Array; peerKey: Uint8Array; punchNonce: Uint8Array; timestamp: number; nonce: Uint8Array; sig: Uint8Array }
/**
 * Broker to both peers of an introduction: the relay address for `punchNonce` (an unspecified
 * host, 0.0.0.0 or ::, means the broker address this came from), its lifetime and rate cap.
 */
export interface RelayAllocated { type: 'relayAllocated'; reqId: number; punchNonce: Uint8Array; relay: IpAddress; lifetimeS: number; rateBytesPerS: number }
/** Signed, sent from the peer's endpoint to the relay address: "forward to me here". */
export interface RelayBind { type: 'relayBind'; key: Uint8Array; punchNonce: Uint8Array; timestamp: number; nonce: Uint8Array; sig: Uint8Array }
/** Relay's answer to a bind: bound, and whether the other peer is bound too (forwarding runs). */
export interface RelayBound { type: 'relayBound'; punchNonce: Uint8Array; peerBound: boolean }

/** How a peer's NAT maps its endpoint, as the peer itself classified it (brokers pass it on). */
export type NatMapping = 'unknown' | 'none' | 'endpoint-independent' | 'endpoint-dependent'
/** Wire order of NatMapping values (one byte). */
export const NAT_MAPPINGS: readonly NatMapping[] = ['unknown', 'none', 'endpoint-independent', 'endpoint-dependent']

/** Any p2pd datagram. */
export type WireMessage = Register | Registered | Connect | Introduce | WireErrorMsg | Unregister | Probe | ProbeAck | RelayRequest | RelayAllocated | RelayBind | RelayBound | RegisterEndpoint
/** Message types that carry a signature as their last field. */
export type SignedMessage = Register | Connect | Unregister | Probe | ProbeAck | RelayRequest | RelayBind | RegisterEndpoint

/** Error codes a broker returns. */
export const BrokerErrorCode = { UNKNOWN_PEER: 1, NOT_REGISTERED: 2, NAME_TAKEN: 3, BAD_SIGNATURE: 4, REPLAYED: 5, RATE_LIMITED: 6, BAD_REQUEST: 7, RELAY_UNAVAILABLE: 8 } as const

const name = boundedString(MAX_NAME)
const hosts = boundedArray(ipAddress, MAX_CANDIDATES)
// Target is a tagged union: 0 = key (32 bytes), 1 = name.
const target: Encoding<Uint8Array | string> = {
  preencode(s, t) {
    c.uint8.preencode(s, 0)
    if (typeof t === 'string') name.preencode(s, t)
    else c.fixed32.preencode(s, t)
  },
  encode(s, t) {
    c.uint8.encode(s, typeof t === 'string' ? 1 : 0)
    if (typeof t === 'string') name.encode(s, t)
    else c.fixed32.encode(s, t)
  },
  decode(s) {
    const tag = c.uint8.decode(s)
    if (tag === 0) return c.fixed32.decode(s)
    if (tag === 1) return name.decode(s)
    throw new ProtocolError('BAD_VALUE', `unknown target tag ${tag}`)
  },
}

const nat: Encoding<NatMapping> = {
  preencode(s) {
    c.uint8.preencode(s, 0)
  },
  encode(s, v) {
    c.uint8.encode(s, NAT_MAPPINGS.indexOf(v))
  },
  decode(s) {
    const n = c.uint8.decode(s)
    const v = NAT_MAPPINGS[n]
    if (v === undefined) throw new ProtocolError('BAD_VALUE', `nat mapping ${n}`)
    return v
  },
}

type Body<M> = Omit<M, 'type'>
const bodies: { [K in WireType]: Encoding<Body<Extract<WireMessage, { type: K }>>> } = {
  register: struct<Body<Register>>({ reqId: uint32, key: c.fixed32, name, timestamp: uint, nonce: c.fixed16, hosts, nat, sig: c.fixed64 }, ['reqId', 'key', 'name', 'timestamp', 'nonce', 'hosts', 'nat', 'sig']),
  registered: struct<Body<Registered>>({ reqId: uint32, observed: ipAddress, leaseS: uint }, ['reqId', 'observed', 'leaseS']),
  connect: struct<Body<Connect>>({ reqId: uint32, key: c.fixed32, target, timestamp: uint, nonce: c.fixed16, sig: c.fixed64 }, ['reqId', 'key', 'target', 'timestamp', 'nonce', 'sig']),
  introduce: struct<Body<Introduce>>({ reqId: uint32, peerKey: c.fixed32, peerName: name, candidates: boundedArray(ipAddress, MAX_CANDIDATES + 1), punchNonce: c.fixed32, requester: bool, peerNat: nat }, ['reqId', 'peerKey', 'peerName', 'candidates', 'punchNonce', 'requester', 'peerNat']),
  error: struct<Body<WireErrorMsg>>({ reqId: uint32, code: uint8, message: boundedString(MAX_ERROR_TEXT) }, ['reqId', 'code', 'message']),
  unregister: struct<Body<Unregister>>({ reqId: uint32, key: c.fixed32, timestamp: uint, nonce: c.fixed16, sig: c.fixed64 }, ['reqId', 'key', 'timestamp', 'nonce', 'sig']),
  probe: struct<Body<Probe>>({ punchNonce: c.fixed32, key: c.fixed32, streamId: uint32, seq: uint32, addr: ipAddress, sig: c.fixed64 }, ['punchNonce', 'key', 'streamId', 'seq', 'addr', 'sig']),
  probeAck: struct<Body<ProbeAck>>({ punchNonce: c.fixed32, key: c.fixed32, streamId: uint32, seq: uint32, addr: ipAddress, sig: c.fixed64 }, ['punchNonce', 'key', 'streamId', 'seq', 'addr', 'sig']),
  relayRequest: struct<Body<RelayRequest>>({ reqId: uint32, key: c.fixed32, peerKey: c.fixed32, punchNonce: c.fixed32, timestamp: uint, nonce: c.fixed16, sig: c.fixed64 }, ['reqId', 'key', 'peerKey', 'punchNonce', 'timestamp', 'nonce', 'sig']),
  relayAllocated: struct<Body<RelayAllocated>>({ reqId: uint32, punchNonce: c.fixed32, relay: ipAddress, lifetimeS: uint, rateBytesPerS: uint }, ['reqId', 'punchNonce', 'relay', 'lifetimeS', 'rateBytesPerS']),
  relayBind: struct<Body<RelayBind>>({ key: c.fixed32, punchNonce: c.fixed32, timestamp: uint, nonce: c.fixed16, sig: c.fixed64 }, ['key', 'punchNonce', 'timestamp', 'nonce', 'sig']),
  relayBound: struct<Body<RelayBound>>({ punchNonce: c.fixed32, peerBound: bool }, ['punchNonce', 'peerBound']),
  registerEndpoint: struct<Body<RegisterEndpoint>>({ reqId: uint32, key: c.fixed32, timestamp: uint, nonce: c.fixed16, sig: c.fixed64 }, ['reqId', 'key', 'timestamp', 'nonce', 'sig']),
}
const typeByCode = new Map<number, WireType>(Object.entries(TYPE).map(([k, v]) => [v, k as WireType]))
const SIGNED: ReadonlySet<WireType> = new Set(['register', 'connect', 'unregister', 'probe', 'probeAck', 'relayRequest', 'relayBind', 'registerEndpoint'])

/** True when the datagram starts like one of ours (cheap demultiplexing test). */
export function isWireDatagram(buf: Uint8Array): boolean {
  return buf.length >= 3 && buf[0] === MAGIC
}

/** The type of a datagram from its 3-byte header alone (nothing else is read), or null. */
export function peekType(buf: Uint8Array): WireType | null {
  if (buf.length < 3 || buf[0] !== MAGIC || buf[1] !== VERSION) return null
  return typeByCode.get(buf[2]!) ?? null
}

/** Encode a message. Throws ProtocolError when a field is out of bounds. */
export function encodeMessage(msg: WireMessage): Uint8Array {
  const { type, ...body } = msg
  const out = encodeWithHeader(new Uint8Array([MAGIC, VERSION, TYPE[type]]), bodies[type] as Encoding<unknown>, body)
  if (out.length > MAX_DATAGRAM) throw new ProtocolError('TOO_LONG', `${type} message of ${out.length} bytes`)
  return out
}

/** Encode a signed message: the signature (last 64 bytes) covers every byte before it. */
export function encodeSigned(msg: SignedMessage, secretKey: Uint8Array): Uint8Array {
  const out = encodeMessage({ ...msg, sig: new Uint8Array(64) })
  out.set(sign(out.subarray(0, out.length - 64), secretKey), out.length - 64)
  return out
}

/** Check the signature of a datagram that decoded as a signed type. */
export function verifySigned(datagram: Uint8Array, publicKey: Uint8Array): boolean {
  if (datagram.length < 3 + 64) return false
  return verify(datagram.subarray(0, datagram.length - 64), datagram.subarray(datagram.length - 64), publicKey)
}

/** True for types whose last field is a signature. */
export function isSignedType(type: WireType): boolean {
  return SIGNED.has(type)
}

/** Decode a datagram. Throws only ProtocolError. */
export function decodeMessage(buf: Uint8Array): WireMessage {
  if (buf.length < 3) throw new ProtocolError('TRUNCATED', `datagram of ${buf.length} bytes`)
  if (buf.length > MAX_DATAGRAM) throw new ProtocolError('TOO_LONG', `datagram of ${buf.length} bytes`)
  if (buf[0] !== MAGIC) throw new ProtocolError('BAD_MAGIC', `magic 0x${buf[0]!.toString(16)}`)
  if (buf[1] !== VERSION) throw new ProtocolError('BAD_VERSION', `version ${buf[1]}`)
  const type = typeByCode.get(buf[2]!)
  if (type === undefined) throw new ProtocolError('BAD_TYPE', `type ${buf[2]}`)
  const body = decodeExact(bodies[type] as Encoding<object>, buf, 3)
  return { type, ...body } as WireMessage
}
