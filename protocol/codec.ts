// Bounded building blocks over compact-encoding. Every variable length has a hard cap, and
// decoding goes through decodeExact, which turns any failure into a ProtocolError.
import type cT from 'compact-encoding'
import type { Encoding, IpAddress, State } from 'compact-encoding'
import { ProtocolError } from './errors.js'
import { requireCjs } from './cjs.js'

const c = requireCjs('compact-encoding') as typeof cT

export type { Encoding, IpAddress, State }
export { c }

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** A UTF-8 string of at most `maxBytes` bytes (checked on encode and decode). */
export function boundedString(maxBytes: number): Encoding<string> {
  return {
    preencode(state, s) {
      if (Buffer.byteLength(s) > maxBytes) throw new ProtocolError('TOO_LONG', `string over ${maxBytes} bytes`)
      c.string.preencode(state, s)
    },
    encode(state, s) {
      c.string.encode(state, s)
    },
    decode(state) {
      const len = c.uint.decode(state)
      if (len > maxBytes) throw new ProtocolError('TOO_LONG', `string of ${len} bytes, limit ${maxBytes}`)
      if (state.end - state.start < len) throw new ProtocolError('TRUNCATED', `string of ${len} bytes runs past the end`)
      // Strict UTF-8: a lossy decode would turn bytes into U+FFFD (3 bytes each), so a valid
      // 32-byte name could come back as a string too long to encode again.
      const bytes = state.buffer!.subarray(state.start, (state.start += len))
      try {
        return UTF8.decode(bytes)
      } catch {
        throw new ProtocolError('BAD_VALUE', 'string is not valid UTF-8')
      }
    },
  }
}

/** An array of at most `max` items. */
export function boundedArray<T>(enc: Encoding<T>, max: number): Encoding<T[]> {
  const inner = c.array(enc)
  return {
    preencode(state, a) {
      if (a.length > max) throw new ProtocolError('TOO_LONG', `array of ${a.length} items, limit ${max}`)
      inner.preencode(state, a)
    },
    encode(state, a) {
      inner.encode(state, a)
    },
    decode(state) {
      const start = state.start
      const len = c.uint.decode(state)
      if (len > max) throw new ProtocolError('TOO_LONG', `array of ${len} items, limit ${max}`)
      state.start = start
      return inner.decode(state)
    },
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

/** An IPv4 or IPv6 address with port; refuses to encode malformed hosts. */
export const ipAddress: Encoding<IpAddress> = {
  preencode(state, a) {
    if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw new ProtocolError('BAD_VALUE', `bad port ${a.port}`)
    // compact-encoding's text parser silently mangles anything else (zone ids, dotted tails).
    const ok = a.family === 4 ? IPV4.test(a.host) : a.family === 6 && isIPv6(a.host)
    if (!ok) throw new ProtocolError('BAD_VALUE', `bad address ${a.host}`)
    c.ipAddress.preencode(state, a)
  },
  encode(state, a) {
    c.ipAddress.encode(state, a)
  },
  decode(state) {
    // compact-encoding reads any family byte other than 4 as IPv6 and returns it as is.
    const family = state.start < state.end ? state.buffer![state.start] : 4
    if (family !== 4 && family !== 6) throw new ProtocolError('BAD_VALUE', `address family ${family}`)
    return c.ipAddress.decode(state)
  },
}

const HEX16 = /^[0-9a-fA-F]{1,4}$/

/** Plain IPv6 text (hex groups, at most one "::"): the only form compact-encoding encodes faithfully. */
function isIPv6(host: string): boolean {
  const halves = host.split('::')
  if (halves.length > 2) return false
  const groups = halves.flatMap((h) => (h === '' ? [] : h.split(':')))
  if (!groups.every((g) => HEX16.test(g))) return false
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8
}

function checkedUint(enc: Encoding<number>, max: number, what: string): Encoding<number> {
  return {
    preencode(state, n) {
      if (!Number.isInteger(n) || n < 0 || n > max) throw new ProtocolError('BAD_VALUE', `${n} is not a ${what}`)
      enc.preencode(state, n)
    },
    encode: (state, n) => enc.encode(state, n),
    decode: (state) => enc.decode(state),
  }
}

/** u8; refuses to encode values that compact-encoding would silently truncate. */
export const uint8 = checkedUint(c.uint8, 0xff, 'uint8')
/** u16 LE; refuses out-of-range values on encode. */
export const uint16 = checkedUint(c.uint16, 0xffff, 'uint16')
/** u32 LE; refuses out-of-range values on encode. */
export const uint32 = checkedUint(c.uint32, 0xffffffff, 'uint32')
/** Varint up to 2^53-1; a larger u64 on the wire is BAD_VALUE, not a generic failure. */
export const uint: Encoding<number> = {
  ...checkedUint(c.uint, Number.MAX_SAFE_INTEGER, 'safe integer'),
  decode(state) {
    const b = state.buffer!
    // 0xff + u64 LE: the high u32 must stay within 2^21 - 1 for the value to be exact.
    if (b[state.start] === 0xff && state.end - state.start >= 9 && c.uint32.decode(c.state(state.start + 5, state.end, b)) > 0x1fffff) {
      throw new ProtocolError('BAD_VALUE', 'varint above 2^53 - 1')
    }
    return c.uint.decode(state)
  },
}

/** A boolean byte: exactly 0 or 1 (compact-encoding reads any other byte as false). */
export const bool: Encoding<boolean> = {
  preencode(state) {
    c.bool.preencode(state, false)
  },
  encode(state, v) {
    c.bool.encode(state, v)
  },
  decode(state) {
    const n = c.uint8.decode(state)
    if (n > 1) throw new ProtocolError('BAD_VALUE', `boolean byte ${n}`)
    return n === 1
  },
}

/** Encode with `enc` into a fresh buffer prefixed by `header`. Throws ProtocolError on bad values. */
export function encodeWithHeader<T>(header: Uint8Array, enc: Encoding<T>, value: T): Uint8Array {
  const state = c.state()
  state.end = header.length
  try {
    enc.preencode(state, value)
    state.buffer = new Uint8Array(state.end)
    state.buffer.set(header, 0)
    state.start = header.length
    enc.encode(state, value)
  } catch (e) {
    if (e instanceof ProtocolError) throw e
    throw new ProtocolError('BAD_VALUE', `cannot encode: ${(e as Error).message}`)
  }
  return state.buffer
}

/** Decode `buf[offset..]` with `enc`, requiring every byte to be consumed. Throws only ProtocolError. */
export function decodeExact<T>(enc: Encoding<T>, buf: Uint8Array, offset: number): T {
  const state = c.state(offset, buf.length, buf)
  let value: T
  try {
    value = enc.decode(state)
  } catch (e) {
    if (e instanceof ProtocolError) throw e
    throw new ProtocolError('TRUNCATED', `malformed message: ${(e as Error).message}`)
  }
  if (state.start !== buf.length) throw new ProtocolError('TRAILING_BYTES', `${buf.length - state.start} bytes after the message`)
  return value
}

/** A struct codec from an ordered list of [field, encoding] pairs. */
export function struct<T extends object>(fields: { [K in keyof T]: Encoding<T[K]> }, order: (keyof T)[]): Encoding<T> {
  return {
    preencode(state, v) {
      for (const k of order) fields[k].preencode(state, v[k])
    },
    encode(state, v) {
      for (const k of order) fields[k].encode(state, v[k])
    },
    decode(state) {
      const out = {} as T
      for (const k of order) out[k] = fields[k].decode(state)
      return out
    },
  }
}
