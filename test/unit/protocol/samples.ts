// Shared fixtures for the protocol tests: a fixed key pair, one valid message of every kind, and
// byte helpers. Deterministic: no randomness, no clock.
import { keyPairFromSeed } from '../../../protocol/identity.js'
import type { ControlMessage } from '../../../protocol/control.js'
import type { MuxFrame } from '../../../protocol/mux.js'
import { ProtocolError, type ProtocolErrorCode } from '../../../protocol/errors.js'
import { encodeMessage, encodeSigned, isSignedType, type Probe, type Register, type RegisterEndpoint, type RelayBind, type RelayRequest, type SignedMessage, type WireMessage } from '../../../protocol/wire.js'

/** The ProtocolError code `f` throws, or 'no error' (anything else is rethrown). */
export function codeOf(f: () => unknown): ProtocolErrorCode | 'no error' {
  try {
    f()
  } catch (e) {
    if (e instanceof ProtocolError) return e.code
    throw e
  }
  return 'no error'
}

/** Bytes start, start+1, … (mod 256). */
export function seq(n: number, start = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff)
}

/** Lowercase hex of bytes. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

/** Bytes from hex (whitespace ignored). */
export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'))
}

/** Concatenate byte arrays and plain byte lists. */
export function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const all = parts.flatMap((p) => Array.from(p))
  return Uint8Array.from(all)
}

/** The golden key pair: seed 00 01 … 1f. */
export const SEED = seq(32)
export const KP = keyPairFromSeed(SEED)
/** A second key pair, for "signed by A, checked with B". */
export const KP_B = keyPairFromSeed(seq(32, 0x80))

/** The golden REGISTER (unsigned fields; sign with encodeSigned). */
export const GOLDEN_REGISTER: Register = {
  type: 'register', reqId: 0x01020304, key: KP.publicKey, name: 'alice', timestamp: 1_700_000_000_000,
  nonce: seq(16, 0xa0), hosts: [{ host: '192.168.1.10', family: 4, port: 40000 }, { host: '2001:db8::1', family: 6, port: 40001 }],
  nat: 'endpoint-independent', sig: new Uint8Array(64),
}
/** The golden PROBE (unsigned fields). */
export const GOLDEN_PROBE: Probe = {
  type: 'probe', punchNonce: seq(32, 0x40), key: KP.publicKey, streamId: 7, seq: 1,
  addr: { host: '203.0.113.7', family: 4, port: 51820 }, sig: new Uint8Array(64),
}
/** The golden RELAY_REQUEST (unsigned fields): KP asks for a relay shared with KP_B. */
export const GOLDEN_RELAY_REQUEST: RelayRequest = {
  type: 'relayRequest', reqId: 0x01020304, key: KP.publicKey, peerKey: KP_B.publicKey, punchNonce: seq(32, 0x40),
  timestamp: 1_700_000_000_000, nonce: seq(16, 0xa0), sig: new Uint8Array(64),
}
/** The golden RELAY_BIND (unsigned fields). */
export const GOLDEN_RELAY_BIND: RelayBind = {
  type: 'relayBind', key: KP.publicKey, punchNonce: seq(32, 0x40), timestamp: 1_700_000_000_000, nonce: seq(16, 0xa0), sig: new Uint8Array(64),
}
/** The golden REGISTER_ENDPOINT (unsigned fields). */
export const GOLDEN_REGISTER_ENDPOINT: RegisterEndpoint = {
  type: 'registerEndpoint', reqId: 0x01020304, key: KP.publicKey, timestamp: 1_700_000_000_000, nonce: seq(16, 0xa0), sig: new Uint8Array(64),
}
/** Expected bytes of encodeSigned(GOLDEN_REGISTER_ENDPOINT, KP.secretKey); see docs/PROTOCOL.md §7. */
export const GOLDEN_REGISTER_ENDPOINT_HEX =
  '50010d' + '04030201' + '03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8' + 'ff0068e5cf8b010000' + 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' +
  '4cc8048f946498156fbd9181748a925c8bf5e24d319c239d28e1e84b551887a1585a3a5c061fe939520556df08000f4b7cb0586564f11935287289c1deb23c0e'
/** Expected bytes of encodeSigned(GOLDEN_RELAY_REQUEST, KP.secretKey); see docs/PROTOCOL.md §7. */
export const GOLDEN_RELAY_REQUEST_HEX =
  '500109' + '04030201' + '03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8' + 'cd14b37f956e953194ff7fb73b3d81dcc561d61a7538094b7c3e1a643ee5f3aa' + '404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f' +
  'ff0068e5cf8b010000' + 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' + '24de8e132da0d2159ff5a5b02a5f2d3d34d56ca7ed6953b6c50dcba7d3fb8ee9daffee922e88a3ba230abf09f900404245c4474993eb70234af9c727d0e43b0d'
/** Expected bytes of encodeSigned(GOLDEN_RELAY_BIND, KP.secretKey). */
export const GOLDEN_RELAY_BIND_HEX =
  '50010b' + '03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8' + '404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f' +
  'ff0068e5cf8b010000' + 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' + 'ccd0fc7ff9d226cb3e27326cd71c15bc219497e160edae9c72bce0ca6f575c69c45b0153f930bb4c61d297d6f697a2bcdd8a0e673558dd4dda3a3ddd7e9abe0f'
/** Expected bytes of encodeSigned(GOLDEN_REGISTER, KP.secretKey); see docs/PROTOCOL.md §7. */
export const GOLDEN_REGISTER_HEX =
  '500101' + '04030201' + '03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8' + '05616c696365' +
  'ff0068e5cf8b010000' + 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' + '02' + '04c0a8010a409c' + '0620010db8000000000000000000000001419c' + '02' +
  '365b8f5544eef244cdd484f93e2fe31d709bdee56ab44ed517c78a2bfe156861a6fbb141a3d5e8503fdec9ba1566ec73d65a44e959637b6b134c192449ade102'
/** Expected bytes of encodeSigned(GOLDEN_PROBE, KP.secretKey). */
export const GOLDEN_PROBE_HEX =
  '500107' + '404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f' +
  '03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8' + '07000000' + '01000000' + '04cb0071076cca' +
  '13dd494e739cfcdb7b0c23eafed554d2c8cd5570f08bcca45bb5b5afe2d24fdf5c894f2a71a6c3a8393a6f8ea99d1f8ba59c703c57da384d74e1f16d8c5ccb07'

const v6 = { host: '2001:db8:0:0:0:0:0:1', family: 6 as const, port: 65535 }
const v4 = { host: '0.0.0.0', family: 4 as const, port: 0 }
const many = Array.from({ length: 17 }, (_, i) => ({ host: `10.0.${i}.255`, family: 4 as const, port: 1000 + i }))

/**
 * One message of every type (several for the interesting ones), in the canonical form a decoder
 * returns: IPv6 uncompressed, signatures as zero bytes (encodeMessage) — see signedDatagrams().
 */
export function sampleMessages(): WireMessage[] {
  const z64 = new Uint8Array(64)
  return [
    { ...GOLDEN_REGISTER, hosts: [GOLDEN_REGISTER.hosts[0]!, v6] },
    { type: 'register', reqId: 0, key: seq(32, 1), name: '', timestamp: 0, nonce: seq(16), hosts: [], nat: 'unknown', sig: z64 },
    { type: 'register', reqId: 0xffffffff, key: seq(32, 2), name: 'a'.repeat(32), timestamp: Number.MAX_SAFE_INTEGER, nonce: seq(16, 9), hosts: many.slice(0, 16), nat: 'endpoint-dependent', sig: seq(64) },
    { type: 'registered', reqId: 5, observed: { host: '198.51.100.20', family: 4, port: 61000 }, leaseS: 90 },
    { type: 'registered', reqId: 6, observed: v6, leaseS: 0x10000 },
    { type: 'connect', reqId: 7, key: KP.publicKey, target: KP_B.publicKey, timestamp: 1_700_000_000_123, nonce: seq(16, 3), sig: z64 },
    { type: 'connect', reqId: 8, key: KP.publicKey, target: 'bob', timestamp: 252, nonce: seq(16, 4), sig: z64 },
    { type: 'introduce', reqId: 9, peerKey: KP_B.publicKey, peerName: 'bob', candidates: [v4, v6], punchNonce: seq(32, 7), requester: true, peerNat: 'none' },
    { type: 'introduce', reqId: 10, peerKey: KP.publicKey, peerName: 'ünïcødé-€', candidates: many, punchNonce: seq(32, 8), requester: false, peerNat: 'endpoint-dependent' },
    { type: 'error', reqId: 11, code: 1, message: 'no such peer' },
    { type: 'error', reqId: 12, code: 255, message: 'x'.repeat(64) },
    { type: 'unregister', reqId: 13, key: KP.publicKey, timestamp: 1_700_000_000_000, nonce: seq(16, 5), sig: z64 },
    { ...GOLDEN_PROBE },
    { type: 'probe', punchNonce: seq(32, 1), key: KP_B.publicKey, streamId: 0xffffffff, seq: 0, addr: v6, sig: z64 },
    { type: 'probeAck', punchNonce: seq(32, 2), key: KP_B.publicKey, streamId: 1, seq: 42, addr: { host: '255.255.255.255', family: 4, port: 1 }, sig: z64 },
    { ...GOLDEN_RELAY_REQUEST },
    { type: 'relayRequest', reqId: 0, key: KP_B.publicKey, peerKey: KP.publicKey, punchNonce: seq(32, 9), timestamp: Number.MAX_SAFE_INTEGER, nonce: seq(16), sig: z64 },
    { type: 'relayAllocated', reqId: 14, punchNonce: seq(32, 0x40), relay: { host: '203.0.113.1', family: 4, port: 40123 }, lifetimeS: 3600, rateBytesPerS: 8 * 1024 * 1024 },
    { type: 'relayAllocated', reqId: 0, punchNonce: seq(32, 3), relay: { host: '0:0:0:0:0:0:0:0', family: 6, port: 0 }, lifetimeS: 0, rateBytesPerS: 0 },
    { ...GOLDEN_RELAY_BIND },
    { type: 'relayBound', punchNonce: seq(32, 0x40), peerBound: false },
    { type: 'relayBound', punchNonce: seq(32, 1), peerBound: true },
    { ...GOLDEN_REGISTER_ENDPOINT },
    { type: 'registerEndpoint', reqId: 0xffffffff, key: KP_B.publicKey, timestamp: 0, nonce: seq(16, 9), sig: seq(64) },
  ]
}

/** Every sample encoded; signed types carry a real signature by KP. */
export function sampleDatagrams(): Uint8Array[] {
  return sampleMessages().map((m) => (isSignedType(m.type) ? encodeSigned(m as SignedMessage, KP.secretKey) : encodeMessage(m)))
}

/** One control message of every type (several for the interesting ones). */
export function sampleControls(): ControlMessage[] {
  return [
    { type: 'hello', name: 'alice', version: '0.1.0' },
    { type: 'hello', name: '', version: 'v'.repeat(32) },
    { type: 'open', connId: 1, proto: 'tcp', host: 'localhost', port: 8080 },
    { type: 'open', connId: 0xffffffff, proto: 'udp', host: 'h'.repeat(253), port: 65535 },
    { type: 'openOk', connId: 1, streamId: 17 },
    { type: 'openFail', connId: 2, code: 'NOT_EXPOSED', message: 'not exposed', hint: 'on bob run: p2pctl expose 8080 --peer alice' },
    { type: 'openFail', connId: 3, code: 'TARGET_REFUSED', message: 'm'.repeat(200), hint: 'é'.repeat(100) },
    { type: 'openFail', connId: 4, code: 'BAD_REQUEST', message: '', hint: '' },
    { type: 'ping', id: 0 },
    { type: 'pong', id: 0xffffffff },
    { type: 'tcpOffer', token: seq(16, 0x10), listen: [{ host: '10.0.1.2', family: 4, port: 40000 }], punch: [{ host: '203.0.113.10', family: 4, port: 41000 }] },
    { type: 'tcpOffer', token: seq(16), listen: many.slice(0, 8), punch: [] },
    { type: 'tcpAnswer', token: seq(16, 0x20), listen: [], punch: [v6, v4] },
    { type: 'carrier', connId: 9 },
    { type: 'check', connId: 5, proto: 'udp', host: '127.0.0.1', port: 53 },
    { type: 'addrs', addrs: [{ host: '10.200.0.2', family: 4, port: 41000 }] },
    { type: 'addrs', addrs: [...many.slice(0, 15), v6] },
    { type: 'addrs', addrs: [] },
  ]
}

/** One multiplexer frame of every type (several for the interesting ones). */
export function sampleMuxFrames(): MuxFrame[] {
  return [
    { type: 'data', id: 1, payload: seq(5) },
    { type: 'data', id: 0xffffffff, payload: new Uint8Array(0) },
    { type: 'data', id: 2, payload: seq(64 * 1024, 3) },
    { type: 'open', id: 3, host: 'localhost', port: 8080 },
    { type: 'open', id: 4, host: 'h'.repeat(253), port: 65535 },
    { type: 'openOk', id: 3 },
    { type: 'openFail', id: 4, code: 'NOT_EXPOSED', message: 'not exposed', hint: 'on bob run: p2pctl expose 8080 --peer alice' },
    { type: 'openFail', id: 5, code: 'TARGET_REFUSED', message: 'm'.repeat(200), hint: '' },
    { type: 'credit', id: 1, bytes: 262144 },
    { type: 'credit', id: 7, bytes: Number.MAX_SAFE_INTEGER },
    { type: 'end', id: 1, at: 67108928 },
    { type: 'reset', id: 9 },
    { type: 'resume', id: 1, received: 14417984 },
    { type: 'resumed' },
    { type: 'ping', id: 0 },
    { type: 'pong', id: 7 },
    { type: 'select' },
  ]
}
