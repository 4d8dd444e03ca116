import { describe, expect, it } from 'vitest'
import { CONTROL_VERSION, decodeControl, encodeControl, type Addrs, type ControlMessage, type Open, type OpenFail, type TcpOffer } from '../../../protocol/control.js'
import { codeOf, hex, sampleControls, unhex } from './samples.js'

/** Golden: OPEN { connId 1, tcp, "localhost", 8080 } (docs/PROTOCOL.md §4). */
const OPEN_HEX = '01' + '02' + '01000000' + '00' + '09' + '6c6f63616c686f7374' + '901f'
/** Golden: OPEN_FAIL { connId 1, NOT_EXPOSED, "not exposed", "on bob run: p2pctl expose 8080 --peer alice" }. */
/** Golden: TCP_OFFER { token 00..0f, listen [10.0.1.2:40000], punch [203.0.113.10:41000] } (docs/PROTOCOL.md §8). */
const TCP_OFFER_HEX = '0108' + '000102030405060708090a0b0c0d0e0f' + '01' + '040a000102409c' + '01' + '04cb00710a28a0'
/** Golden: ADDRS { [10.200.0.2:41000, [2001:db8::1]:65535] } (docs/PROTOCOL.md §4). */
const ADDRS_HEX = '010b' + '02' + '040ac8000228a0' + '06' + '20010db8000000000000000000000001' + 'ffff'
const OPEN_FAIL_HEX = '0104' + '01000000' + '00' + '0b' + hex(new TextEncoder().encode('not exposed')) +
  '2b' + hex(new TextEncoder().encode('on bob run: p2pctl expose 8080 --peer alice'))

describe('control round trip', () => {
  it('decodes every encoded message type to the same message, and re-encodes to the same bytes', () => {
    const types = new Set<string>()
    for (const m of sampleControls()) {
      const bytes = encodeControl(m)
      expect(bytes[0]).toBe(CONTROL_VERSION)
      const back = decodeControl(bytes)
      expect(back).toEqual(m)
      expect(hex(encodeControl(back))).toBe(hex(bytes))
      types.add(m.type)
    }
    expect([...types].sort()).toEqual(['addrs', 'carrier', 'check', 'hello', 'open', 'openFail', 'openOk', 'ping', 'pong', 'tcpAnswer', 'tcpOffer'])
  })

  it('uses the documented type bytes', () => {
    const byType = Object.fromEntries(sampleControls().map((m) => [m.type, encodeControl(m)[1]]))
    expect(byType).toEqual({ hello: 1, open: 2, openOk: 3, openFail: 4, ping: 5, pong: 6, check: 7, tcpOffer: 8, tcpAnswer: 9, carrier: 10, addrs: 11 })
  })
})

describe('control golden vectors', () => {
  it('OPEN matches byte for byte', () => {
    const m: Open = { type: 'open', connId: 1, proto: 'tcp', host: 'localhost', port: 8080 }
    expect(hex(encodeControl(m))).toBe(OPEN_HEX)
    expect(decodeControl(unhex(OPEN_HEX))).toEqual(m)
  })

  it('OPEN_FAIL matches byte for byte', () => {
    const m: OpenFail = { type: 'openFail', connId: 1, code: 'NOT_EXPOSED', message: 'not exposed', hint: 'on bob run: p2pctl expose 8080 --peer alice' }
    expect(hex(encodeControl(m))).toBe(OPEN_FAIL_HEX)
    expect(decodeControl(unhex(OPEN_FAIL_HEX))).toEqual(m)
  })

  it('TCP_OFFER matches byte for byte', () => {
    const m: TcpOffer = { type: 'tcpOffer', token: unhex('000102030405060708090a0b0c0d0e0f'), listen: [{ host: '10.0.1.2', family: 4, port: 40000 }], punch: [{ host: '203.0.113.10', family: 4, port: 41000 }] }
    expect(hex(encodeControl(m))).toBe(TCP_OFFER_HEX)
    expect(decodeControl(unhex(TCP_OFFER_HEX))).toEqual(m)
  })

  it('ADDRS matches byte for byte, and holds at most 16 addresses', () => {
    const m: Addrs = { type: 'addrs', addrs: [{ host: '10.200.0.2', family: 4, port: 41000 }, { host: '2001:db8:0:0:0:0:0:1', family: 6, port: 65535 }] }
    expect(hex(encodeControl(m))).toBe(ADDRS_HEX)
    expect(decodeControl(unhex(ADDRS_HEX))).toEqual(m)
    const seventeen = Array.from({ length: 17 }, (_, i) => ({ host: `10.0.0.${i}`, family: 4 as const, port: 1 }))
    expect(codeOf(() => encodeControl({ type: 'addrs', addrs: seventeen }))).toBe('TOO_LONG')
    expect(codeOf(() => decodeControl(unhex('010b' + '11' + '040a00000001'.repeat(17))))).toBe('TOO_LONG')
  })

  it('refuses more than 8 TCP candidates of a kind', () => {
    const nine = Array.from({ length: 9 }, (_, i) => ({ host: `10.0.0.${i}`, family: 4 as const, port: 1 }))
    expect(codeOf(() => encodeControl({ type: 'tcpAnswer', token: new Uint8Array(16), listen: nine, punch: [] }))).toBe('TOO_LONG')
    const bytes = unhex('0109' + '00'.repeat(16) + '09' + '040a00000001'.repeat(0) + '00')
    expect(codeOf(() => decodeControl(bytes))).toBe('TOO_LONG')
  })

  it('encodes proto and fail codes as documented', () => {
    expect(encodeControl({ type: 'open', connId: 0, proto: 'udp', host: '', port: 0 })[6]).toBe(1)
    const codes = (['NOT_EXPOSED', 'TARGET_REFUSED', 'BAD_REQUEST'] as const).map((code) => encodeControl({ type: 'openFail', connId: 0, code, message: '', hint: '' })[6])
    expect(codes).toEqual([0, 1, 2])
  })
})

describe('control bounds', () => {
  const open = (over: Partial<Open>): ControlMessage => ({ type: 'open', connId: 1, proto: 'tcp', host: 'localhost', port: 8080, ...over })

  it('bounds hello name and version at 32 bytes', () => {
    expect(codeOf(() => encodeControl({ type: 'hello', name: 'n'.repeat(32), version: 'v'.repeat(32) }))).toBe('no error')
    expect(codeOf(() => encodeControl({ type: 'hello', name: 'n'.repeat(33), version: '' }))).toBe('TOO_LONG')
    expect(codeOf(() => encodeControl({ type: 'hello', name: '', version: 'v'.repeat(33) }))).toBe('TOO_LONG')
  })

  it('bounds the open host at 253 bytes (a DNS name)', () => {
    expect(codeOf(() => encodeControl(open({ host: 'h'.repeat(253) })))).toBe('no error')
    expect(codeOf(() => encodeControl(open({ host: 'h'.repeat(254) })))).toBe('TOO_LONG')
  })

  it('bounds openFail message and hint at 200 bytes', () => {
    const fail = (message: string, hint: string): ControlMessage => ({ type: 'openFail', connId: 1, code: 'BAD_REQUEST', message, hint })
    expect(codeOf(() => encodeControl(fail('m'.repeat(200), 'h'.repeat(200))))).toBe('no error')
    expect(codeOf(() => encodeControl(fail('m'.repeat(201), '')))).toBe('TOO_LONG')
    expect(codeOf(() => encodeControl(fail('', 'é'.repeat(101))))).toBe('TOO_LONG')
  })

  it('refuses out-of-range integers instead of truncating them', () => {
    for (const port of [-1, 65536, 80.5]) expect(codeOf(() => encodeControl(open({ port })))).toBe('BAD_VALUE')
    for (const connId of [-1, 2 ** 32]) expect(codeOf(() => encodeControl(open({ connId })))).toBe('BAD_VALUE')
    expect(codeOf(() => encodeControl({ type: 'ping', id: 2 ** 32 }))).toBe('BAD_VALUE')
    expect(codeOf(() => encodeControl({ type: 'openOk', connId: 1, streamId: -1 }))).toBe('BAD_VALUE')
  })

  it('refuses an unknown fail code on encode', () => {
    expect(codeOf(() => encodeControl({ type: 'openFail', connId: 1, code: 'NOPE' as 'BAD_REQUEST', message: '', hint: '' }))).toBe('BAD_VALUE')
  })

  it('keeps the largest legal message within the 1024-byte decode limit', () => {
    const sizes = [
      encodeControl({ type: 'openFail', connId: 0xffffffff, code: 'BAD_REQUEST', message: 'm'.repeat(200), hint: 'h'.repeat(200) }).length,
      encodeControl(open({ host: 'h'.repeat(253) })).length,
      encodeControl({ type: 'hello', name: 'n'.repeat(32), version: 'v'.repeat(32) }).length,
    ]
    expect(sizes).toEqual([409, 265, 68])
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1024)
  })
})
