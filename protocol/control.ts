// Messages on a peer session's encrypted control stream (one per secret-stream message).
// Layout: version 0x01, type, compact-encoding body (docs/PROTOCOL.md).
import { boundedArray, boundedString, c, decodeExact, encodeWithHeader, ipAddress, struct, uint16, uint32, type Encoding, type IpAddress } from './codec.js'
import { ProtocolError } from './errors.js'

/** Control-channel version this build speaks. */
export const CONTROL_VERSION = 1

const TYPE = { hello: 1, open: 2, openOk: 3, openFail: 4, ping: 5, pong: 6, check: 7, tcpOffer: 8, tcpAnswer: 9, carrier: 10, addrs: 11 } as const
type ControlType = keyof typeof TYPE

/** First message each side sends: who it is. */
export interface Hello { type: 'hello'; name: string; version: string }
/** Ask the peer to dial host:port and join it to our stream `connId`. */
export interface Open { type: 'open'; connId: number; proto: 'tcp' | 'udp'; host: string; port: number }
/** Would an open of host:port be allowed? Answered with openOk (streamId 0) or openFail; nothing is dialled. */
export interface Check { type: 'check'; connId: number; proto: 'tcp' | 'udp'; host: string; port: number }
/** The peer accepted: its own stream id for the connection. */
export interface OpenOk { type: 'openOk'; connId: number; streamId: number }
/** The peer refused: a reason code, a message and a hint for the user. */
export interface OpenFail { type: 'openFail'; connId: number; code: OpenFailCode; message: string; hint: string }
/** Liveness and RTT probe over the session. */
export interface Ping { type: 'ping'; id: number }
/** Answer to a ping, echoing its id. */
export interface Pong { type: 'pong'; id: number }

/** Most TCP candidates of each kind in an offer or answer. */
export const MAX_TCP_CANDIDATES = 8
/**
 * TCP candidates for a kernel TCP path (docs/PROTOCOL.md §8): `listen` are addresses of our TCP
 * listener (direct connects; the dialer sends `token` first), `punch` are the public mappings
 * of our fixed punching port (simultaneous open). The session initiator offers, the responder
 * answers with its own, and both then dial for a bounded window.
 */
export interface TcpOffer { type: 'tcpOffer'; token: Uint8Array; listen: IpAddress[]; punch: IpAddress[] }
/** The responder's candidates for the offer carrying `token`. */
export interface TcpAnswer { type: 'tcpAnswer'; token: Uint8Array; listen: IpAddress[]; punch: IpAddress[] }
/** "Our UDX stream `connId` carries the stream multiplexer" (fallback when a TCP path died); answered with OPEN_OK. */
export interface Carrier { type: 'carrier'; connId: number }

/** Most addresses in an ADDRS message. */
export const MAX_ADDRS = 16
/**
 * "These are my addresses now" (docs/PROTOCOL.md §10): sent on every live session when the
 * sender's interface addresses change, so the peer's path monitor can try them (a LAN both
 * walked into) without a broker.
 */
export interface Addrs { type: 'addrs'; addrs: IpAddress[] }

/** Any control message. */
export type ControlMessage = Hello | Open | OpenOk | OpenFail | Ping | Pong | Check | TcpOffer | TcpAnswer | Carrier | Addrs

/** Why an open was refused. */
export type OpenFailCode = 'NOT_EXPOSED' | 'TARGET_REFUSED' | 'BAD_REQUEST'
const FAIL_CODES: OpenFailCode[] = ['NOT_EXPOSED', 'TARGET_REFUSED', 'BAD_REQUEST']

/** The OPEN_FAIL code byte (shared with the stream multiplexer's OPEN_FAIL). */
export const failCode: Encoding<OpenFailCode> = {
  preencode(s) { c.uint8.preencode(s, 0) },
  encode(s, v) { c.uint8.encode(s, FAIL_CODES.indexOf(v)) },
  decode(s) {
    const n = c.uint8.decode(s)
    const code = FAIL_CODES[n]
    if (code === undefined) throw new ProtocolError('BAD_VALUE', `fail code ${n}`)
    return code
  },
}
const proto: Encoding<'tcp' | 'udp'> = {
  preencode(s) { c.uint8.preencode(s, 0) },
  encode(s, v) { c.uint8.encode(s, v === 'tcp' ? 0 : 1) },
  decode(s) {
    const n = c.uint8.decode(s)
    if (n > 1) throw new ProtocolError('BAD_VALUE', `proto ${n}`)
    return n === 0 ? 'tcp' : 'udp'
  },
}

type Body<M> = Omit<M, 'type'>
const text = boundedString(200)
const candidateList = boundedArray(ipAddress, MAX_TCP_CANDIDATES)
const tcpCandidates = struct<Body<TcpOffer>>({ token: c.fixed16, listen: candidateList, punch: candidateList }, ['token', 'listen', 'punch'])
const bodies: { [K in ControlType]: Encoding<Body<Extract<ControlMessage, { type: K }>>> } = {
  hello: struct<Body<Hello>>({ name: boundedString(32), version: boundedString(32) }, ['name', 'version']),
  open: struct<Body<Open>>({ connId: uint32, proto, host: boundedString(253), port: uint16 }, ['connId', 'proto', 'host', 'port']),
  check: struct<Body<Check>>({ connId: uint32, proto, host: boundedString(253), port: uint16 }, ['connId', 'proto', 'host', 'port']),
  openOk: struct<Body<OpenOk>>({ connId: uint32, streamId: uint32 }, ['connId', 'streamId']),
  openFail: struct<Body<OpenFail>>({ connId: uint32, code: failCode, message: text, hint: text }, ['connId', 'code', 'message', 'hint']),
  ping: struct<Body<Ping>>({ id: uint32 }, ['id']),
  pong: struct<Body<Pong>>({ id: uint32 }, ['id']),
  tcpOffer: tcpCandidates as Encoding<Body<TcpOffer>>,
  tcpAnswer: tcpCandidates as Encoding<Body<TcpAnswer>>,
  carrier: struct<Body<Carrier>>({ connId: uint32 }, ['connId']),
  addrs: struct<Body<Addrs>>({ addrs: boundedArray(ipAddress, MAX_ADDRS) }, ['addrs']),
}
const typeByCode = new Map<number, ControlType>(Object.entries(TYPE).map(([k, v]) => [v, k as ControlType]))

/** Encode a control message. Throws ProtocolError when a field is out of bounds. */
export function encodeControl(msg: ControlMessage): Uint8Array {
  const { type, ...body } = msg
  return encodeWithHeader(new Uint8Array([CONTROL_VERSION, TYPE[type]]), bodies[type] as Encoding<unknown>, body)
}

/** Decode a control message. Throws only ProtocolError. */
export function decodeControl(buf: Uint8Array): ControlMessage {
  if (buf.length < 2) throw new ProtocolError('TRUNCATED', `control message of ${buf.length} bytes`)
  if (buf.length > 1024) throw new ProtocolError('TOO_LONG', `control message of ${buf.length} bytes`)
  if (buf[0] !== CONTROL_VERSION) throw new ProtocolError('BAD_VERSION', `control version ${buf[0]}`)
  const type = typeByCode.get(buf[1]!)
  if (type === undefined) throw new ProtocolError('BAD_TYPE', `control type ${buf[1]}`)
  return { type, ...decodeExact(bodies[type] as Encoding<object>, buf, 2) } as ControlMessage
}
