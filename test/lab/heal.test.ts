// Paths that heal: a NAT (the exposing side's or the forwarding side's) that forgets its mappings
// or changes its WAN address in the middle of a transfer, and a long idle past the NAT's UDP
// timeout. Every transfer is sha256-checked.
import { describe, expect, it } from 'vitest'
import type { Host, Lab, Router } from './lab.js'
import { forwardedPair, labPerTest, type LabDaemon, type LabNodes } from './nodes.js'
import { labSkipReason } from './netns.js'
import { transfer } from './traffic.js'
import { waitFor } from '../helpers/wait-for.js'

const MiB = 1024 * 1024
const reason = await labSkipReason('the healing lab')

interface Setup { lab: Lab; nodes: LabNodes; ra: Router; rb: Router; a: Host; b: Host; alice: LabDaemon; bob: LabDaemon }

describe.skipIf(reason !== null)('paths that heal (cone/cone)', () => {
  const freshLab = labPerTest()

  async function setup(rateMbit?: number): Promise<Setup> {
    const { lab, nodes } = await freshLab()
    const ra = await lab.router('cone', rateMbit ? { rateMbit } : {})
    const rb = await lab.router('cone', rateMbit ? { rateMbit } : {})
    const a = await lab.host('a', ra)
    const b = await lab.host('b', rb)
    // UDP paths only: these cases are about the UDP path healing (a kernel TCP path, where one
    // comes up, is covered by tcp.test.ts, including its loss).
    return { lab, nodes, ra, rb, a, b, ...(await forwardedPair(lab, nodes, a, b, { extra: ['--no-tcp', '--log-level', 'info'] })) }
  }

  // Bytes through alice's forward, either way.
  const bytesMoved = async (s: Setup): Promise<number> => {
    const f = (JSON.parse((await s.nodes.ctl(s.alice, ['forwards', '--json'])).stdout) as { bytesIn: number; bytesOut: number }[])[0]!
    return f.bytesIn + f.bytesOut
  }

  // What both daemons say of their peer and their multiplexer, for a failure message.
  const diag = async (s: Setup): Promise<string> => {
    const one = async (d: LabDaemon): Promise<string> => {
      const peers = (await s.nodes.ctl(d, ['peers', '--json'])).stdout
      const counters = ['mux_carriers_udp', 'mux_carriers_tcp', 'mux_carriers_lost', 'mux_carrier_opens_failed', 'paths_stalled', 'paths_healed']
      const values = await Promise.all(counters.map(async (c) => `${c}=${await s.nodes.counter(d, c)}`))
      return `${values.join(' ')}\n${peers}`
    }
    return `alice: ${await one(s.alice)}\nbob: ${await one(s.bob)}\nalice log: ${s.alice.err().slice(-3000)}\nbob log: ${s.bob.err().slice(-3000)}`
  }

  // The path's remote address as `on` sees its peer `peer` (default: alice's view of bob).
  const remoteOf = async (s: Setup, on: LabDaemon = s.alice, peer = 'bob'): Promise<string | undefined> =>
    (JSON.parse((await s.nodes.ctl(on, ['peers', '--json'])).stdout) as { name: string; path: { remote: string } | null }[]).find((p) => p.name === peer)?.path?.remote

  // Which NAT breaks, and which way the data flows: from the side that moved, and toward it (the
  // case a moved UDX stream cannot survive, test/integration/udx-change-remote.test.ts: the
  // forwarded connection resumes on a fresh carrier instead).
  const cases = [
    { fault: 'forgets its mappings', side: 'bob (exposing)', mode: 'download' },
    { fault: 'forgets its mappings', side: 'bob (exposing)', mode: 'upload' },
    { fault: 'changes its WAN address', side: 'bob (exposing)', mode: 'download' },
    { fault: 'changes its WAN address', side: 'alice (forwarding)', mode: 'upload' },
    { fault: 'changes its WAN address', side: 'alice (forwarding)', mode: 'download' },
  ] as const
  for (const { fault, side, mode } of cases) {
    it(`${side}: a NAT that ${fault} mid-${mode}: 64 MiB completes, sha256-equal`, async () => {
      const s = await setup(200)
      const before = await remoteOf(s)
      // Not awaited yet: the transfer runs while the fault hits.
      const running = transfer(s.lab, s.a, mode, 9100, 64 * MiB, 60_000)
      await waitFor(async () => (await bytesMoved(s)) > 8 * MiB, { timeoutMs: 30_000, intervalMs: 50, what: 'the transfer under way' })
      const router = side.startsWith('bob') ? s.rb : s.ra
      if (fault === 'forgets its mappings') await s.lab.forgetMappings(router)
      else await s.lab.changeWan(router)
      const done = await running
      expect(done, `${JSON.stringify(done)}\n${done.ok ? '' : await diag(s)}`).toMatchObject({ ok: true, bytes: 64 * MiB })
      console.log(`${side}'s NAT ${fault} mid-${mode}: longest stall ${done.maxGapMs?.toFixed(0)} ms, transfer ${done.ms.toFixed(0)} ms`)
      // The path moved: the peer is reached at its new external address or port now.
      if (side.startsWith('bob')) expect(await remoteOf(s)).not.toBe(before)
      else expect(await remoteOf(s, s.bob, 'alice')).toMatch(new RegExp(`^${s.ra.wan.replace(/\./g, '\\.')}:`))
    }, 120_000)
  }

  // The second move finds the streams on the session the first move made (an idle or ack-only
  // stream's move once aborted the hand-over and left them on the replaced session).
  it('bob (exposing): a NAT that changes its WAN address twice mid-download: 128 MiB completes, sha256-equal', async () => {
    const s = await setup(200)
    const running = transfer(s.lab, s.a, 'download', 9100, 128 * MiB, 90_000)
    let mark = 8 * MiB
    for (let i = 0; i < 2; i++) {
      await waitFor(async () => (await bytesMoved(s)) > mark, { timeoutMs: 30_000, intervalMs: 50, what: 'the transfer under way' })
      const before = await remoteOf(s)
      await s.lab.changeWan(s.rb)
      await waitFor(async () => (await remoteOf(s)) !== before, { timeoutMs: 20_000, intervalMs: 100, what: 'the path moved' })
      mark = (await bytesMoved(s)) + 8 * MiB
    }
    const done = await running
    expect(done, `${JSON.stringify(done)}\n${done.ok ? '' : await diag(s)}`).toMatchObject({ ok: true, bytes: 128 * MiB })
    console.log(`bob's NAT changes its WAN address twice mid-download: longest stall ${done.maxGapMs?.toFixed(0)} ms, transfer ${done.ms.toFixed(0)} ms`)
  }, 180_000)

  it('idle for three times the NAT UDP timeout: the path carries data at once afterwards', async () => {
    const s = await setup()
    for (const r of [s.ra, s.rb]) {
      await s.lab.exec(r.ns, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=3'])
      await s.lab.exec(r.ns, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout_stream=3'])
    }
    expect((await transfer(s.lab, s.a, 'download', 9100, MiB)).ok).toBe(true)
    // Nine seconds without a byte of forwarded traffic, measured by the routers' own clock.
    const t0 = Date.now()
    await waitFor(() => Date.now() - t0 >= 9_000, { timeoutMs: 12_000, intervalMs: 250, what: 'nine idle seconds' })
    const after = await transfer(s.lab, s.a, 'download', 9100, 4 * MiB)
    expect(after, JSON.stringify(after)).toMatchObject({ ok: true, bytes: 4 * MiB })
  }, 60_000)
})
