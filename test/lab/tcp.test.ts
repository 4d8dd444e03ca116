// Kernel TCP paths in the NAT lab: where a TCP path can be had (cone/cone by simultaneous open,
// public/cone by a direct connect) forwarded connections ride it; where it cannot (symmetric),
// the UDP path serves at once; and a TCP path killed mid-transfer hands its live streams to UDP
// without losing a byte. Every transfer is sha256-checked.
import { get } from 'node:http'
import { describe, expect, it } from 'vitest'
import { INTERNET, type Host, type Lab } from './lab.js'
import { forwardedPair, labPerTest, type LabDaemon, type LabNodes } from './nodes.js'
import { labSkipReason } from './netns.js'
import { startServer, transfer } from './traffic.js'
import { waitFor } from '../helpers/wait-for.js'

const MiB = 1024 * 1024
const reason = await labSkipReason('the TCP path lab')

interface PathJson { kind: string; proto: string; local: string; remote: string }

async function pathOf(nodes: LabNodes, d: LabDaemon, peer: string): Promise<PathJson | null> {
  const r = await nodes.ctl(d, ['peers', '--json'])
  return (JSON.parse(r.stdout) as { name: string; path: PathJson | null }[]).find((p) => p.name === peer)?.path ?? null
}

const waitProto = (nodes: LabNodes, d: LabDaemon, proto: 'tcp' | 'udp', timeoutMs = 15_000): Promise<PathJson> =>
  waitFor(async () => {
    const p = await pathOf(nodes, d, d.name === 'alice' ? 'bob' : 'alice')
    return p?.proto === proto ? p : null
  }, { timeoutMs, intervalMs: 100, what: `${d.name}'s path to be ${proto}` })

/** The daemon's Prometheus text (GET /metrics on its API socket). */
function metrics(_nodes: LabNodes, d: LabDaemon): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ socketPath: d.socket, path: '/metrics', headers: { host: 'localhost' } }, (res) => {
      let body = ''
      res.on('data', (x: Buffer) => (body += x.toString()))
      res.on('end', () => resolve(body))
    })
    req.on('error', reject)
  })
}

const logs = (alice: LabDaemon, bob: LabDaemon): string => `\nalice: ${alice.err().slice(-6000)}\nbob: ${bob.err().slice(-6000)}`

describe.skipIf(reason !== null)('TCP paths (NAT lab)', () => {
  const freshLab = labPerTest()

  const topologies: Record<string, (lab: Lab) => Promise<{ a: Host; b: Host }>> = {
    'cone/cone': async (lab) => ({ a: await lab.host('a', await lab.router('cone')), b: await lab.host('b', await lab.router('cone')) }),
    'public/cone': async (lab) => ({ a: await lab.host('a', null), b: await lab.host('b', await lab.router('cone')) }),
  }

  for (const [name, topo] of Object.entries(topologies)) {
    it(`${name}: the active path is TCP; 256 MiB through a forward, sha256-equal`, async () => {
      const { lab, nodes } = await freshLab()
      const { a, b } = await topo(lab)
      const { alice, bob } = await forwardedPair(lab, nodes, a, b)
      const p = await waitProto(nodes, alice, 'tcp')
      expect(p.kind).toBe('direct')
      expect((await waitProto(nodes, bob, 'tcp')).proto).toBe('tcp')
      const down = await transfer(lab, a, 'download', 9100, 256 * MiB)
      expect(down, JSON.stringify(down) + logs(alice, bob)).toMatchObject({ ok: true, bytes: 256 * MiB })
      const up = await transfer(lab, a, 'upload', 9100, 16 * MiB)
      expect(up, JSON.stringify(up) + logs(alice, bob)).toMatchObject({ ok: true, bytes: 16 * MiB })
      // Still the TCP path after the transfers.
      expect((await pathOf(nodes, alice, 'bob'))?.proto).toBe('tcp')
    }, 120_000)
  }

  // A symmetric NAT (--random-fully for TCP as for UDP): the simultaneous open cannot meet, the
  // many-port UDP punch can. Two broker addresses let the daemons classify their NATs.
  it('symmetric/cone: a working UDP path at once, while TCP cannot be had', async () => {
    const { lab, nodes } = await freshLab()
    const a = await lab.host('a', await lab.router('symmetric'))
    const b = await lab.host('b', await lab.router('cone'))
    await nodes.broker(7000, ['--listen', `${INTERNET.secondary}:7001`])
    const brokers = [`${INTERNET.primary}:7000`, `${INTERNET.secondary}:7001`]
    const alice = await nodes.daemon('alice', a, { brokers })
    const bob = await nodes.daemon('bob', b, { brokers })
    await startServer(lab, b, 9000)
    expect((await nodes.ctl(bob, ['expose', '9000', '--peer', 'alice'])).code).toBe(0)
    const f = await nodes.ctl(alice, ['forward', '9100', '--peer', 'bob', '--to', '9000'])
    expect(f.code, f.stderr + logs(alice, bob)).toBe(0)
    // The forward was confirmed over the session already: the transfer starts without waiting
    // for a TCP attempt to give up.
    const t0 = Date.now()
    const first = await transfer(lab, a, 'download', 9100, MiB)
    expect(first, JSON.stringify(first) + logs(alice, bob)).toMatchObject({ ok: true, bytes: MiB })
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect((await pathOf(nodes, alice, 'bob'))?.proto).toBe('udp')
    const more = await transfer(lab, a, 'download', 9100, 16 * MiB)
    expect(more, JSON.stringify(more) + logs(alice, bob)).toMatchObject({ ok: true, bytes: 16 * MiB })
    // The TCP attempt did run, and gave up.
    await waitFor(async () => /name="tcp_attempts_failed"} [1-9]/.test(await metrics(nodes, alice)), { timeoutMs: 15_000, intervalMs: 200, what: 'the TCP attempt to give up' })
    expect((await pathOf(nodes, alice, 'bob'))?.proto).toBe('udp')
  }, 60_000)

  it('TCP dropped on a NAT mid-transfer: the transfer completes over UDP, sha256-equal', async () => {
    const { lab, nodes } = await freshLab()
    const ra = await lab.router('cone', { rateMbit: 200 })
    const rb = await lab.router('cone', { rateMbit: 200 })
    const a = await lab.host('a', ra)
    const b = await lab.host('b', rb)
    const { alice, bob } = await forwardedPair(lab, nodes, a, b)
    await waitProto(nodes, alice, 'tcp')
    const running = transfer(lab, a, 'download', 9100, 64 * MiB, 60_000)
    await waitFor(async () => {
      const f = JSON.parse((await nodes.ctl(alice, ['forwards', '--json'])).stdout) as { bytesIn: number }[]
      return f[0]!.bytesIn > 8 * MiB
    }, { timeoutMs: 30_000, intervalMs: 50, what: 'the transfer under way' })
    // Every TCP packet through bob's router is dropped from now on (UDP still passes).
    for (const rule of ['add table inet cut', 'add chain inet cut cutchain { type filter hook forward priority 0 ; policy accept ; }', 'add rule inet cut cutchain meta l4proto tcp counter drop']) {
      await lab.exec(rb.ns, ['nft', rule])
    }
    const done = await running
    expect(done, JSON.stringify(done) + logs(alice, bob)).toMatchObject({ ok: true, bytes: 64 * MiB })
    console.log(`TCP cut mid-transfer: longest stall ${done.maxGapMs?.toFixed(0)} ms, transfer ${done.ms.toFixed(0)} ms`)
    expect((await waitProto(nodes, alice, 'udp')).proto).toBe('udp')
    // New connections work too (over UDP).
    const after = await transfer(lab, a, 'download', 9100, 4 * MiB)
    expect(after, JSON.stringify(after) + logs(alice, bob)).toMatchObject({ ok: true, bytes: 4 * MiB })
  }, 120_000)
})
