// A host with two uplinks (two LANs, two NATs, source routing as a multi-WAN host has it): both
// are punched (the second has an endpoint of its own, registered through its own NAT, and each
// side keeps a live standby path through it); when the active uplink dies mid-transfer, the
// session fails over to that standby without a broker, and the transfer completes sha256-equal.
import { describe, expect, it } from 'vitest'
import { forwardedPair, labPerTest } from './nodes.js'
import { INTERNET } from './lab.js'
import { labSkipReason } from './netns.js'
import { transfer } from './traffic.js'
import { waitFor } from '../helpers/wait-for.js'

const MiB = 1024 * 1024
const reason = await labSkipReason('the multi-homed lab')

describe.skipIf(reason !== null)('a host with two uplinks', () => {
  const freshLab = labPerTest()

  // A forwarded connection is a multiplexer stream: when the path moves it resumes on a fresh
  // carrier of the new session from the bytes each side got. Data toward the host that moved (a
  // download here) is the hard case: libudx would resend a moved UDX stream's unacked packets to
  // the old address only (test/integration/udx-change-remote.test.ts), so no stream is moved.
  // Without source routing on the host, what the second uplink's socket sends leaves by the first
  // uplink and no answer comes back: its endpoint says so, and a dead first uplink is healed by a
  // re-punch (the main socket's packets then take the second uplink's route).
  const cases = [
    { mode: 'upload', tcp: false, routing: true },
    { mode: 'download', tcp: false, routing: true },
    { mode: 'download', tcp: true, routing: true },
    { mode: 'download', tcp: false, routing: false },
  ] as const
  for (const { mode, tcp, routing } of cases) it(`${tcp ? 'over a TCP path' : 'UDP only'}${routing ? ': both uplinks are punched; killing the active one' : ', no source routing: killing the active uplink'} mid-${mode} ${routing ? 'fails over to the other' : 're-punches through the other'}; 64 MiB completes sha256-equal`, async () => {
    const { lab, nodes } = await freshLab()
    const r1 = await lab.router('cone', { rateMbit: 200 })
    const r2 = await lab.router('cone', { rateMbit: 200 })
    const a = await lab.host('a', r1)
    const a2 = await lab.uplink(a, r2, 'eth1', 200, routing)
    const b = await lab.host('b', await lab.router('cone', { rateMbit: 200 }))
    const { alice, bob } = await forwardedPair(lab, nodes, a, b, tcp ? {} : { extra: ['--no-tcp'] })
    const status = async (): Promise<{ nat: { publicAddresses: string[] }; peers: { name: string; path: { local: string; remote: string; proto: string } | null }[] }> =>
      JSON.parse((await nodes.ctl(alice, ['status', '--json'])).stdout)
    const moved = async (): Promise<number> => {
      const f = (JSON.parse((await nodes.ctl(alice, ['forwards', '--json'])).stdout) as { bytesIn: number; bytesOut: number }[])[0]!
      return f.bytesIn + f.bytesOut
    }
    if (tcp) await waitFor(async () => (await status()).peers.find((p) => p.name === 'bob')?.path?.proto === 'tcp', { timeoutMs: 15_000, intervalMs: 100, what: 'the TCP path' })
    // Both uplinks are punched: the second has an endpoint of its own, registered through its
    // NAT, and bob keeps the path to it as a live standby. The path starts on the first
    // (lower-metric) one.
    type Iface = { name: string; address: string; endpoint: string; public: string | null; ownEndpoint: boolean; note: string | null }
    const ifaces = async (): Promise<Iface[]> => JSON.parse((await nodes.ctl(alice, ['interfaces', '--json'])).stdout)
    if (routing) await waitFor(async () => (await ifaces()).some((i) => i.address === a2 && i.ownEndpoint && i.public?.startsWith(`${r2.wan}:`)), { timeoutMs: 15_000, intervalMs: 100, what: `alice's second uplink registered through ${r2.wan}` })
    else await waitFor(async () => (await ifaces()).find((i) => i.address === a2 && i.ownEndpoint && i.public === null)?.note?.match(/^no broker answered through .*source routing/), { timeoutMs: 15_000, intervalMs: 200, what: 'a note on the second uplink that no broker answers through it' })
    const second = (await ifaces()).find((i) => i.address === a2)!
    expect((await ifaces()).find((i) => i.address === a.ip)).toMatchObject({ ownEndpoint: false, public: expect.stringMatching(new RegExp(`^${r1.wan.replace(/\./g, '\\.')}:`)) })
    type Standby = { remote: string; alive: boolean }
    const bobSees = async (): Promise<Standby[]> => ((JSON.parse((await nodes.ctl(bob, ['peers', '--json'])).stdout) as { name: string; path: { standbyPaths?: Standby[] } | null }[]).find((p) => p.name === 'alice')?.path?.standbyPaths ?? [])
    if (routing) await waitFor(async () => (await bobSees()).some((x) => x.remote === second.public && x.alive), { timeoutMs: 15_000, intervalMs: 100, what: `bob's standby path to alice's second uplink (${second.public})` })
    const aliceSees = async (): Promise<(Standby & { local: string | null })[]> => ((await status()).peers as unknown as { name: string; path: { standbyPaths?: (Standby & { local: string | null })[] } | null }[]).find((p) => p.name === 'bob')?.path?.standbyPaths ?? []
    if (routing) await waitFor(async () => (await aliceSees()).some((x) => x.local === a2 && x.alive), { timeoutMs: 15_000, intervalMs: 100, what: `alice's standby path to bob from her second uplink (${a2})` })
    const before = await status()
    expect(before.nat.publicAddresses.map((x) => x.split(':')[0])).toEqual([r1.wan])
    expect(before.peers.find((p) => p.name === 'bob')?.path?.local).toMatch(new RegExp(`^${a.ip.replace(/\./g, '\\.')}:`))
    const running = transfer(lab, a, mode, 9100, 64 * MiB, 30_000)
    await waitFor(async () => (await moved()) > 8 * MiB, { timeoutMs: 30_000, intervalMs: 50, what: 'the transfer under way' })
    await lab.linkDown(a, 'eth0')
    const done = await running
    expect(done, `${JSON.stringify(done)}\nalice: ${alice.err().slice(-4000)}\nbob: ${bob.err().slice(-4000)}`).toMatchObject({ ok: true, bytes: 64 * MiB })
    console.log(`${tcp ? 'TCP path' : 'UDP only'}${routing ? '' : ', no source routing'}: uplink killed mid-${mode}: longest stall ${done.maxGapMs?.toFixed(0)} ms, transfer ${done.ms.toFixed(0)} ms`)
    // With source routing alice moved onto her standby through the second uplink, no broker
    // re-punch needed; without, a re-punch did it.
    if (routing) {
      expect(await nodes.counter(alice, 'path_failovers')).toBeGreaterThan(0)
      for (const d of [alice, bob]) expect(await nodes.counter(d, 'paths_healed')).toBe(0)
    } else expect((await nodes.counter(alice, 'paths_healed')) + (await nodes.counter(bob, 'paths_healed'))).toBeGreaterThan(0)
    // The path and the broker registration now go out through the second NAT.
    const after = await status()
    expect(after.peers.find((p) => p.name === 'bob')?.path?.local).toMatch(new RegExp(`^${a2.replace(/\./g, '\\.')}:`))
    await waitFor(async () => (await status()).nat.publicAddresses.some((x) => x.startsWith(`${r2.wan}:`)), { timeoutMs: 10_000, what: 'the broker to see the second uplink' })
  }, 120_000)

  it('netcheck classifies the NAT behind each uplink: a cone first uplink and a symmetric second one', async () => {
    const { lab, nodes } = await freshLab()
    const a = await lab.host('a', await lab.router('cone'))
    const a2 = await lab.uplink(a, await lab.router('symmetric'))
    const brokers = [`${INTERNET.primary}:7000`, `${INTERNET.secondary}:7001`]
    await nodes.broker(7000, ['--listen', `${INTERNET.secondary}:7001`])
    const alice = await nodes.daemon('alice', a, { brokers, extra: ['--no-tcp'] })
    type Check = { interfaces: { address: string; towardBrokers: boolean; mapping: string | null }[] }
    const check = async (): Promise<Check['interfaces']> => (JSON.parse((await nodes.ctl(alice, ['netcheck', '--json'])).stdout) as Check).interfaces
    const byAddress = await waitFor(async () => {
      const list = await check()
      const m = (ip: string): string | null | undefined => list.find((i) => i.address === ip)?.mapping
      return m(a.ip) === 'endpoint-independent' && m(a2) !== null && m(a2) !== 'unknown' ? list : null
    }, { timeoutMs: 20_000, intervalMs: 500, what: 'netcheck to classify both uplinks' })
    expect(byAddress.find((i) => i.address === a.ip)).toMatchObject({ towardBrokers: true, mapping: 'endpoint-independent' })
    expect(byAddress.find((i) => i.address === a2)).toMatchObject({ towardBrokers: true, mapping: 'endpoint-dependent' })
    console.log(`netcheck on a host with two uplinks:\n${(await nodes.ctl(alice, ['netcheck'])).stdout}`)
  }, 60_000)
})
