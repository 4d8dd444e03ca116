// Per-connection keys from the peer session's Noise keys: one handshake per peer, and still no
// two streams share a key (docs/PROTOCOL.md, "Stream keys").
import type sodiumT from 'sodium-universal'
import { requireCjs } from './cjs.js'

const sodium = requireCjs('sodium-universal') as typeof sodiumT

/** Session secrets from the Noise handshake, and which side this is. */
export interface SessionKeys { tx: Uint8Array; rx: Uint8Array; hash: Uint8Array; initiator: boolean }

/** Keys handed to one secret-stream. */
export interface StreamKeys { tx: Uint8Array; rx: Uint8Array; hash: Uint8Array }

const LABEL = new TextEncoder().encode('p2pd/stream/v1')
const HASH_LABEL = new TextEncoder().encode('p2pd/stream-hash/v1')
const PATH_LABEL = new TextEncoder().encode('p2pd/path/v1')

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
  const hashKey = sharedSecret(session, HASH_LABEL)
  return { tx: kdf(session.tx, info), rx: kdf(session.rx, info), hash: kdf(hashKey, concat(info, session.hash)) }
}

/**
 * The 32-byte `punchNonce` of a session's own probes: `use` 'probe' for the standby probes,
 * a number k for its k-th re-punch without a broker (docs/PROTOCOL.md §10). Both sides derive
 * the same value; nobody else can (it is keyed by both traffic secrets).
 */
export function derivePathNonce(session: SessionKeys, use: 'probe' | number): Uint8Array {
  const info = new Uint8Array(5)
  info[0] = use === 'probe' ? 0 : 1
  new DataView(info.buffer).setUint32(1, use === 'probe' ? 0 : use >>> 0, true)
  return kdf(sharedSecret(session, PATH_LABEL), info)
}

// BLAKE2b-256(key = the initiator's tx, label ‖ the initiator's rx): the same on both sides.
function sharedSecret(session: SessionKeys, label: Uint8Array): Uint8Array {
  const [itx, irx] = session.initiator ? [session.tx, session.rx] : [session.rx, session.tx]
  return kdf(itx.subarray(0, 32), concat(label, irx.subarray(0, 32)))
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
