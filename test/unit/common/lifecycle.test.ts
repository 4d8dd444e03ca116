import { describe, expect, it } from 'vitest'
import { familyOf, formatHostPort, normalizeHost, parseHostPort } from '../../../common/lifecycle.js'

describe('addresses', () => {
  it('normalizeHost gives one spelling per address: mapped IPv4 unwrapped, IPv6 in RFC 5952 form', () => {
    expect(normalizeHost('::ffff:203.0.113.7')).toBe('203.0.113.7')
    expect(normalizeHost('203.0.113.7')).toBe('203.0.113.7')
    expect(normalizeHost('::ffff:cb00:7107')).toBe('203.0.113.7')
    expect(normalizeHost('2001:db8:0:0:0:0:0:1')).toBe('2001:db8::1')
    expect(normalizeHost('2001:DB8:0000:0001::0001')).toBe('2001:db8:0:1::1')
    expect(normalizeHost('0:0:0:0:0:0:0:1')).toBe('::1')
    expect(normalizeHost('fe80::1%eth0')).toBe('fe80::1%eth0') // not a URL host: left as is
    expect(normalizeHost('localhost')).toBe('localhost')
  })

  it('formats, parses and tells the family of IPv4 and IPv6', () => {
    expect(formatHostPort('2001:db8::1', 7000)).toBe('[2001:db8::1]:7000')
    expect(parseHostPort('[2001:db8::1]:7000', 'x')).toEqual({ host: '2001:db8::1', port: 7000 })
    expect(familyOf('2001:db8::1')).toBe(6)
    expect(familyOf('10.0.0.1')).toBe(4)
  })
})
