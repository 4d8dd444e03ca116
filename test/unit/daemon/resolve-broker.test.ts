// Which address a broker name resolves to: IPv4 first, IPv6 only for a name without IPv4 and a
// socket that carries IPv6 (a fake resolver stands in for DNS).
import { describe, expect, it } from 'vitest'
import { resolveBroker } from '../../../daemon/broker-client.js'

const dns: Record<string, { 4?: string; 6?: string }> = {
  'both.test': { 4: '203.0.113.5', 6: '2001:db8::5' },
  'v6only.test': { 6: '2001:db8::6' },
}
const look = async (host: string, family: 4 | 6): Promise<string> => {
  const a = dns[host]?.[family]
  if (a === undefined) throw Object.assign(new Error(`queryA ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
  return a
}

describe('resolveBroker', () => {
  it('takes the IPv4 address when there is one, even on a dual-stack socket', async () => {
    expect(await resolveBroker('both.test', true, look)).toBe('203.0.113.5')
  })

  it('falls back to IPv6 for a name with only an IPv6 address, when the socket carries IPv6', async () => {
    expect(await resolveBroker('v6only.test', true, look)).toBe('2001:db8::6')
    await expect(resolveBroker('v6only.test', false, look)).rejects.toThrow(/ENOTFOUND v6only\.test/)
  })

  it('fails for a name with no address at all', async () => {
    await expect(resolveBroker('nowhere.test', true, look)).rejects.toThrow(/ENOTFOUND/)
  })

  it('passes literal addresses through with the default resolver', async () => {
    expect(await resolveBroker('2001:db8::7', true)).toBe('2001:db8::7')
    expect(await resolveBroker('198.51.100.7', false)).toBe('198.51.100.7')
  })
})
