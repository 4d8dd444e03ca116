// Per-connection keys from the peer session's Noise keys: one handshake per peer, and still no
// two streams share a key (docs/PROTOCOL.md, "Stream keys").
import sodium from 'sodium-universal'

/** Session secrets from the Noise handshake, and which side this is. */
export interface SessionKeys { tx: Uint8Array; rx: Uint8Array; hash: Uint8Array; initiator: boolean }

/** Keys handed to one secret-stream. */
export interface StreamKeys { tx: Uint8Array; rx: Uint8Array; hash: Uint8Array }

const LABEL = new TextEncoder().encode('p2pd/stream/v1')
const HASH_LABEL = new TextEncoder().encode('p2pd/stream-hash/v1')

/**
 * Keys for the stream the opener numbered `connId` (0 is the control stream).
 * `openerIsInitiator` is the same on both sides, so both derive the same keys, mirrored.
 * The stream's `hash` (from which secret-stream derives its datagram keys) is keyed by both
 * traffic secrets, never by the public handshake transcript alone.
 */
export function deriveStreamKeys(session: SessionKeys, connId: number, openerIsInitiator: boolean): StreamKeys {
  const info = new Uint8Array(LABEL.length + 5)
  info.set(LABEL, 0)
  new DataView(info.buffer).setUint32(LABEL.length, connId >>> 0, true)
  info[LABEL.length + 4] = openerIsInitiator ? 1 : 2
  const [itx, irx] = session.initiator ? [session.tx, session.rx] : [session.rx, session.tx]
  const both = new Uint8Array(64)
  both.set(itx.subarray(0, 32), 0)
  both.set(irx.subarray(0, 32), 32)
  const hashKey = kdf(both.subarray(0, 32), concat(HASH_LABEL, both.subarray(32)))
  return { tx: kdf(session.tx, info), rx: kdf(session.rx, info), hash: kdf(hashKey, concat(info, session.hash)) }
}

function kdf(key: Uint8Array, info: Uint8Array): Uint8Array {
  const out = new Uint8Array(32)
  sodium.crypto_generichash(out, info, key.subarray(0, 32))
  return out
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}
