import { describe, expect, it } from 'vitest'
import { InterfaceFilter, addressClass, parseInterfaceRule, type LocalAddress } from '../../../daemon/interface-filter.js'
import { LocalInterfaces } from '../../../daemon/interfaces.js'
import { createLogger } from '../../../common/logger.js'

const v4 = (name: string, address: string): LocalAddress => ({ name, address, family: 4 })
const v6 = (name: string, address: string): LocalAddress => ({ name, address, family: 6 })

describe('interface rules', () => {
  it('parses names, globs, CIDRs and bare addresses, and refuses the rest with a reason', () => {
    expect(parseInterfaceRule('eth0')).toMatchObject({ kind: 'name', text: 'eth0' })
    expect(parseInterfaceRule(' docker* ')).toMatchObject({ kind: 'name', text: 'docker*' })
    expect(parseInterfaceRule('10.0.0.0/8')).toMatchObject({ kind: 'cidr' })
    expect(parseInterfaceRule('fd00::/8')).toMatchObject({ kind: 'cidr' })
    expect(parseInterfaceRule('192.168.1.7')).toMatchObject({ kind: 'cidr' })
    expect(() => parseInterfaceRule('10.0.0.0/33')).toThrow(/prefix length must be a whole number from 0 to 32/)
    expect(() => parseInterfaceRule('fd00::/129')).toThrow(/from 0 to 128/)
    expect(() => parseInterfaceRule('10.0.0.0/8x')).toThrow(/prefix length/)
    expect(() => parseInterfaceRule('300.1.1.1/8')).toThrow(/is not an IP address/)
    expect(() => parseInterfaceRule('wl an')).toThrow(/not an interface name/)
    expect(() => parseInterfaceRule('')).toThrow(/not an interface name/)
  })

  it('allows everything but loopback, link-local and unspecified when no rule is given', () => {
    const f = new InterfaceFilter()
    expect(f.verdict(v4('eth0', '192.168.1.2'))).toEqual({ usable: true })
    expect(f.verdict(v6('eth0', '2001:db8::2'))).toEqual({ usable: true })
    expect(f.verdict(v6('eth0', 'fd12::2'))).toEqual({ usable: true })
    expect(f.verdict(v4('lo', '127.0.0.1'))).toEqual({ usable: false, reason: 'loopback' })
    expect(f.verdict(v4('eth0', '169.254.3.4'))).toEqual({ usable: false, reason: 'link-local' })
    expect(f.verdict(v6('eth0', 'fe80::1'))).toEqual({ usable: false, reason: 'link-local' })
    expect(f.verdict(v6('lo', '::1'))).toEqual({ usable: false, reason: 'loopback' })
  })

  it("names the classes of address that never carry a path (the addresses in a peer's ADDRS are filtered by them too)", () => {
    const cls = ['0.0.0.0', '::', '127.0.0.1', '::1', '169.254.3.4', 'fe80::1', '224.0.0.1', '239.1.2.3', 'ff02::1', '255.255.255.255'].map(addressClass)
    expect(cls).toEqual(['unspecified', 'unspecified', 'loopback', 'loopback', 'link-local', 'link-local', 'multicast', 'multicast', 'multicast', 'broadcast'])
    expect(['10.200.0.2', '203.0.113.9', 'fd00::2', '2001:db8::1', 'not an address'].map(addressClass)).toEqual([null, null, null, null, null])
  })

  it('denies by name glob or CIDR, and an allow list keeps only what it names; deny wins over allow', () => {
    const f = new InterfaceFilter(['eth*', 'wlan0', '10.8.0.0/16'], ['eth9', '192.168.7.0/24'])
    expect(f.verdict(v4('eth0', '192.168.1.2'))).toEqual({ usable: true })
    expect(f.verdict(v4('wlan0', '172.16.0.9'))).toEqual({ usable: true })
    expect(f.verdict(v4('tun0', '10.8.3.4'))).toEqual({ usable: true })
    expect(f.verdict(v4('docker0', '172.17.0.1'))).toEqual({ usable: false, reason: 'not in interfaces_allow' })
    expect(f.verdict(v4('wlan01', '172.16.0.10'))).toEqual({ usable: false, reason: 'not in interfaces_allow' })
    expect(f.verdict(v4('eth9', '192.168.1.3'))).toEqual({ usable: false, reason: 'denied by interfaces_deny "eth9"' })
    expect(f.verdict(v4('eth1', '192.168.7.4'))).toEqual({ usable: false, reason: 'denied by interfaces_deny "192.168.7.0/24"' })
    // A v4 CIDR never matches a v6 address and the other way round.
    expect(new InterfaceFilter([], ['0.0.0.0/0']).verdict(v6('eth0', '2001:db8::1'))).toEqual({ usable: true })
    expect(new InterfaceFilter([], ['::/0']).verdict(v4('eth0', '192.0.2.1'))).toEqual({ usable: true })
  })
})

describe('LocalInterfaces', () => {
  const list = () => ({
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    eth0: [{ address: '192.168.1.2', family: 'IPv4', internal: false }, { address: '2001:db8::2', family: 'IPv6', internal: false }, { address: 'fe80::2', family: 'IPv6', internal: false }],
    docker0: [{ address: '172.17.0.1', family: 'IPv4', internal: false }],
  }) as unknown as ReturnType<typeof import('node:os').networkInterfaces>
  const logger = createLogger({ name: 'test', level: 'silent' })

  it('lists every non-internal address with its verdict, and the usable ones per family', () => {
    const t = new LocalInterfaces({ filter: new InterfaceFilter([], ['docker*']), logger, list })
    expect(t.addresses().map((a) => [a.name, a.address, a.usable ? 'ok' : (a as { reason: string }).reason])).toEqual([
      ['eth0', '192.168.1.2', 'ok'], ['eth0', '2001:db8::2', 'ok'], ['eth0', 'fe80::2', 'link-local'], ['docker0', '172.17.0.1', 'denied by interfaces_deny "docker*"'],
    ])
    expect(t.usable(4)).toEqual([v4('eth0', '192.168.1.2')])
    expect(t.usable(6)).toEqual([v6('eth0', '2001:db8::2')])
    t.setFilter(new InterfaceFilter())
    expect(t.usable(4).map((a) => a.name)).toEqual(['eth0', 'docker0'])
  })

  it('loads metadata at most every 5 s, and a failing loader leaves it empty rather than throwing', async () => {
    let now = 0
    let loads = 0
    const t = new LocalInterfaces({
      filter: new InterfaceFilter(), logger, list, now: () => now,
      loadMeta: async () => {
        loads++
        return new Map([['eth0', { type: 'wired', virtual: false, operstate: 'up', isDefault: true }]])
      },
    })
    expect(t.cachedMetadata().size).toBe(0)
    expect((await t.metadata()).get('eth0')?.type).toBe('wired')
    now = 4_000
    await t.metadata()
    expect(loads).toBe(1)
    now = 10_000
    await t.metadata()
    expect(loads).toBe(2)
    const broken = new LocalInterfaces({ filter: new InterfaceFilter(), logger, list, loadMeta: () => Promise.reject(new Error('no /sys')) })
    expect((await broken.metadata()).size).toBe(0)
  })
})
