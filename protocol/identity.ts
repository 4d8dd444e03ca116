// Ed25519 identities and signatures (libsodium). Randomness comes in as a seed.
import type sodiumT from 'sodium-universal'
import { requireCjs } from './cjs.js'

const sodium = requireCjs('sodium-universal') as typeof sodiumT

/** An Ed25519 key pair; publicKey is the peer id. */
export interface KeyPair {
  publicKey: Uint8Array
  secretKey: Uint8Array
}

/** Domain prefix for every signature, so ours can never be confused with another protocol's. */
const DOMAIN = new TextEncoder().encode('p2pd/sig/v1\0')

/** Derive the key pair for a 32-byte seed. */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== 32) throw new RangeError('seed must be 32 bytes')
  const publicKey = new Uint8Array(32)
  const secretKey = new Uint8Array(64)
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed)
  return { publicKey, secretKey }
}

/** Sign `message` (domain-separated). */
export function sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  const sig = new Uint8Array(64)
  sodium.crypto_sign_detached(sig, concat(DOMAIN, message), secretKey)
  return sig
}

/** Check a signature made by sign(). Never throws. */
export function verify(message: Uint8Array, sig: Uint8Array, publicKey: Uint8Array): boolean {
  if (sig.length !== 64 || publicKey.length !== 32) return false
  try {
    return sodium.crypto_sign_verify_detached(sig, concat(DOMAIN, message), publicKey)
  } catch {
    return false
  }
}

/** Lowercase hex of a key. */
export function keyToHex(key: Uint8Array): string {
  let s = ''
  for (const b of key) s += b.toString(16).padStart(2, '0')
  return s
}

/** Parse a 64-char hex public key; null when it is not one. */
export function keyFromHex(hex: string): Uint8Array | null {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return null
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

/** Constant-time-ish equality of two byte arrays. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let d = 0
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!
  return d === 0
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}
