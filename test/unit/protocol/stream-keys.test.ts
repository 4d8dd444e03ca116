// Per-stream keys and path nonces: both sides derive the same values, mirrored, and they differ
// per use. Golden values pin the derivation documented in docs/PROTOCOL.md.
import { describe, expect, it } from 'vitest'
import { derivePathNonce, deriveStreamKeys, type SessionKeys } from '../../../protocol/stream-keys.js'

const bytes = (start: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => start + i)
const initiator: SessionKeys = { tx: bytes(0), rx: bytes(0x40), hash: bytes(0x80), initiator: true }
const responder: SessionKeys = { tx: bytes(0x40), rx: bytes(0), hash: bytes(0x80), initiator: false }
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('session-derived keys', () => {
  it('stream keys mirror between the two sides', () => {
    const a = deriveStreamKeys(initiator, 3, true)
    const b = deriveStreamKeys(responder, 3, true)
    expect(hex(a.tx)).toBe(hex(b.rx))
    expect(hex(a.rx)).toBe(hex(b.tx))
    expect(hex(a.hash)).toBe(hex(b.hash))
    expect(hex(deriveStreamKeys(initiator, 3, false).tx)).not.toBe(hex(a.tx))
  })

  it('path nonces: the same on both sides, one per use, pinned by golden values', () => {
    expect(hex(derivePathNonce(initiator, 'probe'))).toBe(hex(derivePathNonce(responder, 'probe')))
    expect(hex(derivePathNonce(initiator, 0))).toBe(hex(derivePathNonce(responder, 0)))
    const all = new Set([hex(derivePathNonce(initiator, 'probe')), ...[0, 1, 2].map((k) => hex(derivePathNonce(initiator, k)))])
    expect(all.size).toBe(4)
    // Another session's secrets give other nonces.
    expect(hex(derivePathNonce({ ...initiator, tx: bytes(1) }, 'probe'))).not.toBe(hex(derivePathNonce(initiator, 'probe')))
    expect(hex(derivePathNonce(initiator, 'probe'))).toBe('30c6b5b36addc15a51e4d3daed5cbd6d023ddc0cd41429c4c4f0c20558e6ef7b')
    expect(hex(derivePathNonce(initiator, 0))).toBe('ce879268b0e1b1f4076b420a23b71f85a5e6091820d8ca1d12180deb74b22b10')
  })
})
