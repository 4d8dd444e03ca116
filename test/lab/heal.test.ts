// Paths that heal: a NAT that forgets its mappings or changes its WAN address in the middle of a
// transfer, and a long idle past the NAT's UDP timeout. Every transfer is sha256-checked.
import { afterEach, describe, expect, it } from 'vitest'
import { Lab, type Host, type Router } from './lab.js'
import { LabNodes, type LabDaemon } from './nodes.js'
import { labUnavailableReason } from './netns.js'
import { startServer, transfer, transferInBackground } from './traffic.js'
import { waitFor } from '../helpers/wait-for.js'

const MiB = 1024 * 1024
const reason = await labUnavailableReason()
if (reason && process.env.P2PD_LAB_REQUIRED === '1') throw new Error(`P2PD_LAB_REQUIRED=1 but the NAT lab cannot run: ${reason}`)
if (reason) console.warn(`skipping the healing lab: ${reason}`)

interface Setup { lab: Lab; nodes: LabNodes; ra: Router; rb: Router; a: Host; b: Host; alice: LabDaemon; bob: LabDaemon }

describe.skipIf(reason !== null)('paths that heal (cone/cone)', () => {
  let env: Setup | null = null
  afterEach(async () => {
    await env?.lab.destroy()
    await env?.nodes.cleanup()
    env = null
  })

  async function setup(rateMbit?: number): Promise<Setup> {
    const lab = await Lab.create()
    const nodes = new LabNodes(lab)
    await nodes.init()
    const ra = await lab.router('cone', rateMbit ? { rateMbit } : {})
    const rb = await lab.router('cone', rateMbit ? { rateMbit } : {})
    const a = await lab.host('a', ra)
    const b = await lab.host('b', rb)
    await nodes.broker()
    const alice = await nodes.daemon('alice', a)
    const bob = await nodes.daemon('bob', b)
    await startServer(lab, b, 9000)
    expect((await nodes.ctl(bob, ['expose', '9000', '--peer', 'alice'])).code).toBe(0)
    const f = await nodes.ctl(alice, ['forward', '9100', '--peer', 'bob', '--to', '9000'])
    expect(f.code, f.stderr).toBe(0)
    env = { lab, nodes, ra, rb, a, b, alice, bob }
    return env
  }

  const bytesIn = async (s: Setup): Promise<number> =>
    (JSON.parse((await s.nodes.ctl(s.alice, ['forwards', '--json'])).stdout) as { bytesIn: number }[])[0]!.bytesIn

  const remoteOf = async (s: Setup): Promise<string | undefined> =>
    (JSON.parse((await s.nodes.ctl(s.alice, ['peers', '--json'])).stdout) as { name: string; path: { remote: string } | null }[]).find((p) => p.name === 'bob')?.path?.remote

  for (const fault of ['forgets its mappings', 'changes its WAN address'] as const) {
    it(`a NAT that ${fault} mid-transfer: 64 MiB completes, sha256-equal`, async () => {
      const s = await setup(200)
      const before = await remoteOf(s)
      const running = transferInBackground(s.lab, s.a, 'download', 9100, 64 * MiB)
      await waitFor(async () => (await bytesIn(s)) > 8 * MiB, { timeoutMs: 30_000, intervalMs: 50, what: 'the transfer under way' })
      // Bob's side of the path breaks: his router loses its state (or its address).
      if (fault === 'forgets its mappings') await s.lab.forgetMappings(s.rb)
      else await s.lab.changeWan(s.rb)
      const done = await running
      expect(done, `${JSON.stringify(done)}\nalice: ${s.alice.err().slice(-3000)}\nbob: ${s.bob.err().slice(-3000)}`).toMatchObject({ ok: true, bytes: 64 * MiB })
      console.log(`NAT ${fault}: longest stall ${done.maxGapMs?.toFixed(0)} ms, transfer ${done.ms.toFixed(0)} ms`)
      // The path moved: bob is reached at his new external address or port now.
      expect(await remoteOf(s)).not.toBe(before)
    }, 120_000)
  }

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
