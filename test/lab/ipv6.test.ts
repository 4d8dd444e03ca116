// IPv6 as home ISPs hand it out: global addresses, no NAT, a stateful firewall on each router.
// Both daemons announce their global IPv6 address next to IPv4; the punch opens both firewalls
// and, IPv6 ranking above a public IPv4 mapping, the path runs over IPv6.
import { describe, expect, it } from 'vitest'
import { forwardedPair, labPerTest } from './nodes.js'
import { labSkipReason } from './netns.js'
import { transfer } from './traffic.js'
import { waitFor } from '../helpers/wait-for.js'

const MiB = 1024 * 1024
const reason = await labSkipReason('the IPv6 lab')

describe.skipIf(reason !== null)('IPv6 lab', () => {
  const freshLab = labPerTest()

  it('the routers firewall unsolicited IPv6: a datagram from the internet to a host is dropped and counted', async () => {
    const { lab } = await freshLab()
    const r = await lab.router('cone', { ipv6: true })
    const h = await lab.host('h', r)
    expect(h.ip6).toMatch(/^2001:db8:[0-9a-f]+::2$/)
    const before = await lab.firewallDrops6(r)
    // From the internet namespace (where brokers live), straight at the host's global address.
    await lab.exec(lab.inet, [process.execPath, '-e', `const s = require('node:dgram').createSocket('udp6'); s.send('x', 4000, '${h.ip6}', () => s.close())`])
    expect(await lab.firewallDrops6(r)).toBeGreaterThan(before)
  })

  it('cone/cone with IPv6 on both sides: the path is IPv6, and 64 MiB each way go through it sha256-equal', async () => {
    const { lab, nodes } = await freshLab()
    const a = await lab.host('a', await lab.router('cone', { ipv6: true }))
    const b = await lab.host('b', await lab.router('cone', { ipv6: true }))
    // UDP paths only: a kernel TCP path would take over from the UDP path over IPv6 this is about.
    const { alice, bob } = await forwardedPair(lab, nodes, a, b, { extra: ['--no-tcp'] })
    const iface = JSON.parse((await nodes.ctl(alice, ['interfaces', '--json'])).stdout) as { address: string; inUse: boolean }[]
    expect(iface.find((i) => i.address === a.ip6)).toMatchObject({ inUse: true })
    const c = await nodes.ctl(alice, ['connect', 'bob', '--json'])
    expect(c.code, `${c.stderr}\nalice: ${alice.err().slice(-1500)}\nbob: ${bob.err().slice(-1500)}`).toBe(0)
    // (The forward made the path already.) bob's global IPv6 address, offered next to his IPv4
    // mapping, wins: a direct IPv6 path, bob's global address on the far end, alice's on this end.
    // On a loaded machine the IPv4 answer can beat it into the punch's selection window; then the
    // path monitor moves to the better class a few seconds later.
    const pathNow = async (): Promise<{ kind: string; remote: string; local: string } | undefined> =>
      (JSON.parse((await nodes.ctl(alice, ['peers', '--json'])).stdout) as { name: string; path: { kind: string; remote: string; local: string } | null }[]).find((p) => p.name === 'bob')?.path ?? undefined
    expect((JSON.parse(c.stdout) as { path: { kind: string } }).path.kind).toBe('direct')
    await waitFor(async () => (await pathNow())?.remote.startsWith(`[${b.ip6}]:`) === true, { timeoutMs: 20_000, intervalMs: 200, what: 'the path over IPv6' })
    const path = (await pathNow())!
    expect(path.kind).toBe('direct')
    expect(path.local.startsWith(`[${a.ip6}]:`), path.local).toBe(true)
    for (const mode of ['download', 'upload'] as const) {
      const t = await transfer(lab, a, mode, 9100, 64 * MiB)
      expect(t, `${mode}: ${JSON.stringify(t)}`).toMatchObject({ ok: true, bytes: 64 * MiB })
    }
  })

  it('symmetric/symmetric with IPv6 on both sides: a direct IPv6 path, not the relay IPv4 would need, and a kernel TCP path over IPv6', async () => {
    const { lab, nodes } = await freshLab()
    const a = await lab.host('a', await lab.router('symmetric', { ipv6: true }))
    const b = await lab.host('b', await lab.router('symmetric', { ipv6: true }))
    const { alice, bob } = await forwardedPair(lab, nodes, a, b)
    const c = await nodes.ctl(alice, ['connect', 'bob', '--json'])
    expect(c.code, `${c.stderr}\nalice: ${alice.err().slice(-1500)}\nbob: ${bob.err().slice(-1500)}`).toBe(0)
    // A relay answer that beat the IPv6 one into the selection window would give way to it soon.
    const udpPath = async (): Promise<{ kind: string; remote: string } | undefined> =>
      (JSON.parse((await nodes.ctl(alice, ['peers', '--json'])).stdout) as { name: string; path: { kind: string; remote: string } | null }[]).find((p) => p.name === 'bob')?.path ?? undefined
    await waitFor(async () => { const p = await udpPath(); return p?.kind === 'direct' && p.remote.startsWith(`[${b.ip6}]:`) }, { timeoutMs: 20_000, intervalMs: 200, what: 'a direct path over IPv6' })
    // No TCP hole punch gets through a symmetric NAT, but over IPv6 the crossed SYNs open both
    // firewalls: the kernel TCP path is IPv6 too.
    const tcpPath = async (): Promise<{ proto: string; remote: string } | undefined> =>
      (JSON.parse((await nodes.ctl(alice, ['peers', '--json'])).stdout) as { name: string; path: { proto: string; remote: string } | null }[]).find((p) => p.name === 'bob')?.path ?? undefined
    await waitFor(async () => (await tcpPath())?.proto === 'tcp', { timeoutMs: 15_000, intervalMs: 100, what: 'the kernel TCP path over IPv6' })
    expect((await tcpPath())?.remote.startsWith(`[${b.ip6}]:`)).toBe(true)
    const t = await transfer(lab, a, 'download', 9100, 32 * MiB)
    expect(t, JSON.stringify(t)).toMatchObject({ ok: true, bytes: 32 * MiB })
  })
})
