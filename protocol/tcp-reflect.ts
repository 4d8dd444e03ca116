// The broker's TCP reflection (docs/PROTOCOL.md §8): a daemon connects from its fixed TCP
// punching port, the broker answers with the address it saw the connection come from and closes.
// That address is the daemon's public TCP mapping: its server-reflexive TCP candidate.
import { decodeExact, encodeWithHeader, ipAddress, type IpAddress } from './codec.js'
import { ProtocolError } from './errors.js'
import { MAGIC, VERSION } from './wire.js'

/** Type byte of the reflection answer (a TCP-only message, apart from the datagram types). */
export const TCP_OBSERVED = 0x80
/** Largest reflection answer: header + IPv6 address. */
export const MAX_TCP_OBSERVED = 3 + 19

/** The broker's answer: `50 01 80` + the observed address. */
export function encodeTcpObserved(observed: IpAddress): Uint8Array {
  return encodeWithHeader(new Uint8Array([MAGIC, VERSION, TCP_OBSERVED]), ipAddress, observed)
}

/** Decode a reflection answer. Throws only ProtocolError. */
export function decodeTcpObserved(buf: Uint8Array): IpAddress {
  if (buf.length < 3) throw new ProtocolError('TRUNCATED', `reflection answer of ${buf.length} bytes`)
  if (buf.length > MAX_TCP_OBSERVED) throw new ProtocolError('TOO_LONG', `reflection answer of ${buf.length} bytes`)
  if (buf[0] !== MAGIC) throw new ProtocolError('BAD_MAGIC', `magic ${buf[0]}`)
  if (buf[1] !== VERSION) throw new ProtocolError('BAD_VERSION', `version ${buf[1]}`)
  if (buf[2] !== TCP_OBSERVED) throw new ProtocolError('BAD_TYPE', `type ${buf[2]}`)
  return decodeExact(ipAddress, buf, 3)
}
