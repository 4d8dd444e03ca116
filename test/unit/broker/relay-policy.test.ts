// The relay's address rules: every special address refused in every spelling, the public
// internet (and the documentation nets the lab uses for it) allowed.
import { describe, expect, it } from 'vitest'
import { relayRefusal } from '../../../broker/relay-policy.js'

const strict = { allowPrivate: false }
const lan = { allowPrivate: true }
const refused = (h: string, p = strict): boolean => relayRefusal(h, p) !== null

describe('relay address policy', () => {
  it('allows public unicast, including the documentation nets that stand in for the internet', () => {
    for (const h of ['203.0.113.10', '198.51.100.7', '192.0.2.1', '8.8.8.8', '1.1.1.1', '2001:db8::1', '2606:4700::1111', '::ffff:203.0.113.10', '::ffff:cb00:710a']) {
      expect(relayRefusal(h, strict), h).toBeNull()
    }
  })

  it('refuses loopback and private nets by default, allows them with allowPrivate', () => {
    const priv = ['127.0.0.1', '127.255.255.254', '10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '100.64.0.1', '::1', 'fd12:3456::1', 'fc00::1']
    for (const h of priv) {
      expect(refused(h), h).toBe(true)
      expect(relayRefusal(h, lan), h).toBeNull()
    }
    expect(relayRefusal('10.0.0.1', strict)).toMatch(/--relay-allow-private/)
    for (const h of ['172.15.255.255', '172.32.0.0', '100.128.0.1', '11.0.0.1']) expect(refused(h), h).toBe(false)
  })

  it('refuses link-local, metadata, multicast, broadcast, unspecified and reserved even with allowPrivate', () => {
    for (const h of ['169.254.169.254', '169.254.1.1', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254', 'fe80::1', 'fe80::1%eth0', '224.0.0.1', '239.255.255.250', 'ff02::1',
      '255.255.255.255', '0.0.0.0', '0.1.2.3', '::', '240.0.0.1', '192.0.0.8', '198.18.0.1', 'fec0::1', '100::1', '2001:0:4136:e378::1']) {
      expect(refused(h, lan), h).toBe(true)
    }
    expect(relayRefusal('169.254.169.254', lan)).toMatch(/metadata/)
    expect(relayRefusal('fd00:ec2::254', lan)).toMatch(/metadata/)
  })

  it('sees through every IPv6 wrapping of an IPv4 address', () => {
    const wrapped = [
      '::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:169.254.169.254', '::ffff:a9fe:a9fe', '::ffff:10.0.0.1', '::ffff:0:10.0.0.1',
      '64:ff9b::127.0.0.1', '64:ff9b::a9fe:a9fe', '64:ff9b:1::a00:1', '2002:7f00:1::', '2002:a9fe:a9fe::1', '::127.0.0.1', '::10.0.0.1', '0:0:0:0:0:ffff:7f00:0001',
    ]
    for (const h of wrapped) expect(refused(h), h).toBe(true)
    expect(relayRefusal('::ffff:169.254.169.254', lan)).toMatch(/metadata/)
    expect(relayRefusal('64:ff9b::a9fe:a9fe', lan)).toMatch(/metadata/)
    // Wrapped public addresses are fine.
    for (const h of ['64:ff9b::808:808', '2002:cb00:710a::1', '::ffff:8.8.8.8']) expect(relayRefusal(h, strict), h).toBeNull()
  })

  it('refuses odd IPv4 spellings (hex, octal, short) and whatever is not an address', () => {
    for (const h of ['0x7f.1', '2130706433', '0177.0.0.1', '0xa9.0xfe.0xa9.0xfe', '1.2.3', '0x08.8.8.8']) expect(relayRefusal(h, lan), h).toMatch(/not a plain dotted-quad/)
    for (const h of ['', 'localhost', 'metadata.google.internal', '::g', '300.1.1.1']) expect(relayRefusal(h, lan), h).toMatch(/not an IP address/)
  })
})
