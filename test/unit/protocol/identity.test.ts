import sodium from 'sodium-universal'
import { describe, expect, it } from 'vitest'
import { bytesEqual, keyFromHex, keyPairFromSeed, keyToHex, sign, verify } from '../../../protocol/identity.js'
import { KP, KP_B, hex, seq, unhex } from './samples.js'

describe('keys', () => {
  it('derives the RFC 8032 test key pair from its seed', () => {
    // RFC 8032 §7.1, TEST 1.
    const kp = keyPairFromSeed(unhex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'))
    expect(hex(kp.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
    expect(kp.secretKey.length).toBe(64)
  })

  it('is deterministic for a seed and refuses seeds that are not 32 bytes', () => {
    expect(hex(keyPairFromSeed(seq(32)).publicKey)).toBe('03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8')
    expect(() => keyPairFromSeed(seq(31))).toThrow(RangeError)
    expect(() => keyPairFromSeed(seq(33))).toThrow(RangeError)
  })

  it('round-trips keys through lowercase hex', () => {
    const h = keyToHex(KP.publicKey)
    expect(h).toMatch(/^[0-9a-f]{64}$/)
    expect(keyFromHex(h)).toEqual(KP.publicKey)
    expect(keyToHex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe('0001abff')
  })

  it('accepts uppercase hex', () => {
    expect(keyFromHex(keyToHex(KP.publicKey).toUpperCase())).toEqual(KP.publicKey)
  })

  it('returns null for anything that is not 64 hex digits', () => {
    const h = keyToHex(KP.publicKey)
    for (const bad of ['', h.slice(2), h + '00', h.slice(1), `0x${h.slice(2)}`, ` ${h.slice(1)}`, `${h.slice(1)}g`, `${h}\n`, 'z'.repeat(64)]) {
      expect(keyFromHex(bad), JSON.stringify(bad)).toBeNull()
    }
  })
})

describe('signatures', () => {
  const msg = new TextEncoder().encode('hello')

  it('verifies what it signs, deterministically', () => {
    const sig = sign(msg, KP.secretKey)
    expect(sig.length).toBe(64)
    expect(verify(msg, sig, KP.publicKey)).toBe(true)
    expect(hex(sign(msg, KP.secretKey))).toBe(hex(sig))
    expect(verify(new Uint8Array(0), sign(new Uint8Array(0), KP.secretKey), KP.publicKey)).toBe(true)
  })

  it('refuses another message, another key, or a damaged signature', () => {
    const sig = sign(msg, KP.secretKey)
    expect(verify(new TextEncoder().encode('hellp'), sig, KP.publicKey)).toBe(false)
    expect(verify(msg, sig, KP_B.publicKey)).toBe(false)
    for (let i = 0; i < 64; i++) {
      const bad = sig.slice()
      bad[i]! ^= 0x01
      expect(verify(msg, bad, KP.publicKey)).toBe(false)
    }
  })

  it('is domain-separated: Ed25519 over "p2pd/sig/v1\\0" ‖ message, never over the bare message', () => {
    const prefixed = new Uint8Array([...new TextEncoder().encode('p2pd/sig/v1\0'), ...msg])
    expect(prefixed.length).toBe(12 + msg.length)
    expect(sodium.crypto_sign_verify_detached(sign(msg, KP.secretKey), prefixed, KP.publicKey)).toBe(true)
    const raw = new Uint8Array(64)
    sodium.crypto_sign_detached(raw, msg, KP.secretKey)
    expect(verify(msg, raw, KP.publicKey)).toBe(false)
  })

  it('returns false instead of throwing on malformed keys and signatures', () => {
    const sig = sign(msg, KP.secretKey)
    expect(verify(msg, sig.subarray(0, 63), KP.publicKey)).toBe(false)
    expect(verify(msg, new Uint8Array(65), KP.publicKey)).toBe(false)
    expect(verify(msg, sig, KP.publicKey.subarray(0, 31))).toBe(false)
    expect(verify(msg, sig, new Uint8Array(33))).toBe(false)
    expect(verify(msg, new Uint8Array(64), new Uint8Array(32))).toBe(false)
    expect(verify(msg, new Uint8Array(64).fill(0xff), new Uint8Array(32).fill(0xff))).toBe(false)
  })
})

describe('bytesEqual', () => {
  it('compares contents and lengths', () => {
    expect(bytesEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true)
    expect(bytesEqual(seq(32), seq(32))).toBe(true)
    expect(bytesEqual(seq(32), seq(31))).toBe(false)
    expect(bytesEqual(seq(32), seq(32, 1))).toBe(false)
    const a = seq(32)
    const b = seq(32)
    b[31] = 0
    expect(bytesEqual(a, b)).toBe(false)
    expect(bytesEqual(Buffer.from(seq(4)), seq(4))).toBe(true)
  })
})
