// Frames of the stream multiplexer that carries forwarded connections over one kernel TCP path
// (or, after that path died, over one UDX stream): one frame per secret-stream message.
// Layout: version 0x01, type, body (docs/PROTOCOL.md §9). DATA is laid out by hand (it is the
// hot path: a fixed 6-byte header, the payload is a view, never copied by the decoder).
import { boundedString, c, decodeExact, encodeWithHeader, struct, uint, uint16, uint32, type Encoding } from './codec.js'
import { failCode, type OpenFailCode } from './control.js'
import { ProtocolError } from './errors.js'

/** Multiplexer frame version this build speaks. */
export const MUX_VERSION = 1
/** Bytes before a DATA frame's payload. */
export const DATA_HEADER = 6
/** Largest DATA payload; bigger writes are split. */
export const MAX_DATA = 64 * 1024
/** Largest frame of any type. */
export const MAX_FRAME = DATA_HEADER + MAX_DATA

const TYPE = { data: 1, open: 2, openOk: 3, openFail: 4, credit: 5, end: 6, reset: 7, resume: 8, resumed: 9, ping: 10, pong: 11, select: 12 } as const
type MuxType = keyof typeof TYPE

/** Bytes of stream `id`, in order. */
export interface MuxData { type: 'data'; id: number; payload: Uint8Array }
/** Open stream `id` (the opener numbers it: odd for the session's Noise initiator, even otherwise) to host:port. */
export interface MuxOpen { type: 'open'; id: number; host: string; port: number }
/** The target was dialled; the stream is open. */
export interface MuxOpenOk { type: 'openOk'; id: number }
/** The open was refused. */
export interface MuxOpenFail { type: 'openFail'; id: number; code: OpenFailCode; message: string; hint: string }
/** The receiver consumed `bytes` more of stream `id`: the sender may send that much more, and forget it. */
export interface MuxCredit { type: 'credit'; id: number; bytes: number }
/** The sender's direction of stream `id` ends after `at` bytes in total. */
export interface MuxEnd { type: 'end'; id: number; at: number }
/** Stream `id` is aborted. */
export interface MuxReset { type: 'reset'; id: number }
/** On a new carrier: we received `received` bytes of stream `id` so far; send the rest. */
export interface MuxResume { type: 'resume'; id: number; received: number }
/** Every RESUME of ours has been sent: streams the peer has and we did not name are gone. */
export interface MuxResumed { type: 'resumed' }
/** Carrier liveness probe. */
export interface MuxPing { type: 'ping'; id: number }
/** Answer to a ping. */
export interface MuxPong { type: 'pong'; id: number }
/** The session initiator chose this carrier (sent first on it). */
export interface MuxSelect { type: 'select' }

/** Any multiplexer frame. */
export type MuxFrame = MuxData | MuxOpen | MuxOpenOk | MuxOpenFail | MuxCredit | MuxEnd | MuxReset | MuxResume | MuxResumed | MuxPing | MuxPong | MuxSelect

type Body<M> = Omit<M, 'type'>
type NonData = Exclude<MuxFrame, MuxData>
const idOnly = struct<{ id: number }>({ id: uint32 }, ['id'])
const empty = struct<Record<string, never>>({}, [])
const text = boundedString(200)
const bodies: { [K in Exclude<MuxType, 'data'>]: Encoding<Body<Extract<NonData, { type: K }>>> } = {
  open: struct<Body<MuxOpen>>({ id: uint32, host: boundedString(253), port: uint16 }, ['id', 'host', 'port']),
  openOk: idOnly,
  openFail: struct<Body<MuxOpenFail>>({ id: uint32, code: failCode, message: text, hint: text }, ['id', 'code', 'message', 'hint']),
  credit: struct<Body<MuxCredit>>({ id: uint32, bytes: uint }, ['id', 'bytes']),
  end: struct<Body<MuxEnd>>({ id: uint32, at: uint }, ['id', 'at']),
  reset: idOnly,
  resume: struct<Body<MuxResume>>({ id: uint32, received: uint }, ['id', 'received']),
  resumed: empty,
  ping: idOnly,
  pong: idOnly,
  select: empty,
}
const typeByCode = new Map<number, MuxType>(Object.entries(TYPE).map(([k, v]) => [v, k as MuxType]))

/** Write a DATA header for stream `id` into buf[0..6); the payload goes at buf[6..]. */
export function writeDataHeader(buf: Uint8Array, id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new ProtocolError('BAD_VALUE', `stream id ${id}`)
  buf[0] = MUX_VERSION
  buf[1] = TYPE.data
  c.uint32.encode(c.state(2, 6, buf), id)
}

/** Encode any frame (DATA into a fresh buffer). Throws ProtocolError when a field is out of bounds. */
export function encodeMux(frame: MuxFrame): Uint8Array {
  if (frame.type === 'data') {
    if (frame.payload.length > MAX_DATA) throw new ProtocolError('TOO_LONG', `DATA payload of ${frame.payload.length} bytes`)
    const out = new Uint8Array(DATA_HEADER + frame.payload.length)
    writeDataHeader(out, frame.id)
    out.set(frame.payload, DATA_HEADER)
    return out
  }
  const { type, ...body } = frame
  return encodeWithHeader(new Uint8Array([MUX_VERSION, TYPE[type]]), bodies[type] as Encoding<unknown>, body)
}

/** Decode a frame; a DATA payload is a view into `buf`. Throws only ProtocolError. */
export function decodeMux(buf: Uint8Array): MuxFrame {
  if (buf.length < 2) throw new ProtocolError('TRUNCATED', `mux frame of ${buf.length} bytes`)
  if (buf.length > MAX_FRAME) throw new ProtocolError('TOO_LONG', `mux frame of ${buf.length} bytes`)
  if (buf[0] !== MUX_VERSION) throw new ProtocolError('BAD_VERSION', `mux version ${buf[0]}`)
  const type = typeByCode.get(buf[1]!)
  if (type === undefined) throw new ProtocolError('BAD_TYPE', `mux type ${buf[1]}`)
  if (type === 'data') {
    if (buf.length < DATA_HEADER) throw new ProtocolError('TRUNCATED', `DATA frame of ${buf.length} bytes`)
    return { type, id: c.uint32.decode(c.state(2, 6, buf)), payload: buf.subarray(DATA_HEADER) }
  }
  if (buf.length > 1024) throw new ProtocolError('TOO_LONG', `mux ${type} frame of ${buf.length} bytes`)
  return { type, ...decodeExact(bodies[type] as Encoding<object>, buf, 2) } as MuxFrame
}
