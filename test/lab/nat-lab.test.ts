// The NAT lab end to end: real brokers and daemons in namespaces behind real Linux NAT, driven
// by p2pctl. One scenario body runs over a matrix of topologies.
import { describe, expect, it } from 'vitest'
import { INTERNET, type Host, type Lab } from './lab.js'
import { forwardedPair, labPerTest, type LabDaemon } from './nodes.js'
import { labSkipReason } from './netns.js'
import { classify, observedMappings } from './nat-check.js'
import { waitFor } from '../helpers/wait-for.js'
import { transfer } from './traffic.js'

const MiB = 1024 * 1024
const reason = await labSkipReason('the NAT lab')

/** A topology: where alice and bob sit, and which address alice's path must reach bob at. */
type Topology = (lab: Lab) => Promise<{ a: Host; b: Host }>

const expectedRemote: Record<string, RegExp> = {
  'cone/cone': /^203\.0\.113\.\d+:\d+$/,
  'public/cone': /^203\.0\.113\.\d+:\d+$/,
  'cone/public': /^203\.0\.113\.\d+:\d+$/,
  'double/cone': /^203\.0\.113\.\d+:\d+$/,
  // Both behind one NAT: the LAN address beats the hairpin through the router.
  'same NAT': /^10\.\d+\.\d+\.\d+:\d+$/,
}

const topologies: Record<string, Topology> = {
  'cone/cone': async (lab) => ({ a: await lab.host('a', await lab.router('cone')), b: await lab.host('b', await lab.router('cone')) }),
  'public/cone': async (lab) => ({ a: await lab.host('a', null), b: await lab.host('b', await lab.router('cone')) }),
  'cone/public': async (lab) => ({ a: await lab.host('a', await lab.router('cone')), b: await lab.host('b', null) }),
  'double/cone': async (lab) => {
    const outer = await lab.router('cone')
    return { a: await lab.host('a', await lab.router('cone', { upstream: outer })), b: await lab.host('b', await lab.router('cone')) }
  },
  'same NAT': async (lab) => {
    const r = await lab.router('cone')
    return { a: await lab.host('a', r), b: await lab.host('b', r) }
  },
}

describe.skipIf(reason !== null)('NAT lab', () => {
  const freshLab = labPerTest()

  it('builds NATs that behave as named', async () => {
    const { lab } = await freshLab()
    const cone = await lab.host('c', await lab.router('cone'))
    const sym = await lab.host('s', await lab.router('symmetric'))
    expect(classify(await observedMappings(lab, cone))).toBe('cone')
    expect(classify(await observedMappings(lab, sym))).toBe('symmetric')
  })

  for (const [name, topo] of Object.entries(topologies)) {
    it(`${name}: direct path, 64 MiB each way through a forward, sha256-equal`, async () => {
      const { lab, nodes } = await freshLab()
      const { a, b } = await topo(lab)
      const { alice, bob } = await forwardedPair(lab, nodes, a, b)
      const c = await nodes.ctl(alice, ['connect', 'bob'])
      expect(c.code, `${c.stderr}\nalice: ${alice.err().slice(-1500)}\nbob: ${bob.err().slice(-1500)}`).toBe(0)
      const peers = JSON.parse((await nodes.ctl(alice, ['peers', '--json'])).stdout) as { name: string; state: string; path: { kind: string; remote: string; local: string } | null }[]
      const p = peers.find((x) => x.name === 'bob')!
      expect(p.state).toBe('connected')
      expect(p.path?.kind).toBe('direct')
      expect(p.path?.remote).toMatch(expectedRemote[name]!)
      expect(p.path?.local.startsWith(`${a.ip}:`), `local ${p.path?.local}, host ${a.ip}`).toBe(true)
      const up = await transfer(lab, a, 'upload', 9100, 64 * MiB)
      expect(up, JSON.stringify(up)).toMatchObject({ ok: true, bytes: 64 * MiB })
      const down = await transfer(lab, a, 'download', 9100, 64 * MiB)
      expect(down, JSON.stringify(down)).toMatchObject({ ok: true, bytes: 64 * MiB })
    })
  }

  it('3 % packet loss on both WAN links: 32 MiB each way completes, sha256-equal', async () => {
    const { lab, nodes } = await freshLab()
    const ra = await lab.router('cone', { lossPct: 3 })
    const rb = await lab.router('cone', { lossPct: 3 })
    const a = await lab.host('a', ra)
    const b = await lab.host('b', rb)
    // The UDP transport under loss (a kernel TCP path, which would take over, has its own lab).
    await forwardedPair(lab, nodes, a, b, { extra: ['--no-tcp'] })
    const up = await transfer(lab, a, 'upload', 9100, 32 * MiB)
    expect(up, JSON.stringify(up)).toMatchObject({ ok: true, bytes: 32 * MiB })
    const down = await transfer(lab, a, 'download', 9100, 32 * MiB)
    expect(down, JSON.stringify(down)).toMatchObject({ ok: true, bytes: 32 * MiB })
    // 64 MiB is ~50k datagrams each way: 3 % of them is well over a thousand drops per router.
    expect(await lab.droppedPackets(ra)).toBeGreaterThan(1000)
    expect(await lab.droppedPackets(rb)).toBeGreaterThan(1000)
  })

  it('tells its NAT apart through one broker on two addresses: cone is endpoint-independent, symmetric is not', async () => {
    const { lab, nodes } = await freshLab()
    const c = await lab.host('c', await lab.router('cone'))
    const s = await lab.host('s', await lab.router('symmetric'))
    const p = await lab.host('p', null)
    await nodes.broker(7000, ['--listen', `${INTERNET.secondary}:7001`])
    const brokers = [`${INTERNET.primary}:7000`, `${INTERNET.secondary}:7001`]
    const mapping = async (d: LabDaemon): Promise<string> => {
      return waitFor(async () => {
        const st = JSON.parse((await nodes.ctl(d, ['status', '--json'])).stdout) as { brokers: { state: string }[]; nat: { mapping: string } }
        return st.brokers.every((b) => b.state === 'registered') ? st.nat.mapping : null
      }, { timeoutMs: 15_000, intervalMs: 100, what: `${d.name} registered with both broker addresses` })
    }
    expect(await mapping(await nodes.daemon('cone', c, { brokers }))).toBe('endpoint-independent')
    expect(await mapping(await nodes.daemon('sym', s, { brokers }))).toBe('endpoint-dependent')
    expect(await mapping(await nodes.daemon('pub', p, { brokers }))).toBe('none')
  })
})
