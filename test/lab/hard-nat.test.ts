// Past a hard NAT: netcheck classifies each NAT; a cone (endpoint-independent) side and a
// symmetric (--random-fully) side find a direct path by many-port probing, in both directions,
// over repeated fresh connects; the session runs on the hard side's winning extra socket and
// carries sha256-checked data.
import { describe, expect, it } from 'vitest'
import { INTERNET, type Host, type Lab } from './lab.js'
import { labPerTest, type LabDaemon, type LabNodes } from './nodes.js'
import { labSkipReason } from './netns.js'
import { startServer, transfer } from './traffic.js'
import { waitFor } from '../helpers/wait-for.js'

const MiB = 1024 * 1024
const ATTEMPTS = 10
const reason = await labSkipReason('the hard-NAT lab')
const BROKERS = [`${INTERNET.primary}:7000`, `${INTERNET.secondary}:7001`]
// Many-port punching is about UDP: no kernel TCP paths, so the data below runs on the punched socket.
const UDP_ONLY = ['--no-tcp']

interface NetcheckInfo {
  brokers: { address: string; reachable: boolean; rttMs: number | null }[]
  nat: { mapping: string; allocation: string; hairpin: string }
  interfaces: { towardBrokers: boolean; mapping: string | null }[]
  ipv6: { reachable: string }
}

interface PeerView { name: string; state: string; path: { kind: string; remote: string; local: string } | null }

async function peerView(nodes: LabNodes, d: LabDaemon, peer: string): Promise<PeerView | undefined> {
  return (JSON.parse((await nodes.ctl(d, ['peers', '--json'])).stdout) as PeerView[]).find((p) => p.name === peer)
}

async function natOf(nodes: LabNodes, d: LabDaemon): Promise<string> {
  return waitFor(async () => {
    const st = JSON.parse((await nodes.ctl(d, ['status', '--json'])).stdout) as { brokers: { state: string }[]; nat: { mapping: string } }
    return st.brokers.every((b) => b.state === 'registered') && st.nat.mapping !== 'unknown' ? st.nat.mapping : null
  }, { timeoutMs: 15_000, intervalMs: 100, what: `${d.name} classified by both broker addresses` })
}

interface Run { ok: number; ms: number[]; failures: string[]; probes: number; sockets: number }

/**
 * `ATTEMPTS` fresh connects from `from` to `to`: each removes the previous session on both sides
 * first, connects, and checks the path is direct to the peer's NAT.
 */
async function attempts(nodes: LabNodes, from: LabDaemon, to: LabDaemon, hard: LabDaemon): Promise<Run> {
  const run: Run = { ok: 0, ms: [], failures: [], probes: 0, sockets: 0 }
  const easy = hard === from ? to : from
  const probes0 = await nodes.counter(easy, 'many_port_probes_sent')
  const sockets0 = await nodes.counter(hard, 'udp_extra_sockets_opened')
  for (let i = 0; i < ATTEMPTS; i++) {
    // A fresh start: no session on either side (the peer sees ours close).
    await nodes.ctl(from, ['peer', 'remove', to.name])
    await waitFor(async () => (await peerView(nodes, to, from.name))?.state !== 'connected', { timeoutMs: 10_000, intervalMs: 100, what: `${to.name} to drop the old session` })
    const t0 = performance.now()
    const c = await nodes.ctl(from, ['connect', to.name])
    const ms = performance.now() - t0
    const p = await peerView(nodes, from, to.name)
    if (c.code === 0 && p?.path?.kind === 'direct' && ms < 30_000) {
      run.ok++
      run.ms.push(Math.round(ms))
    } else {
      run.failures.push(`attempt ${i}: code ${c.code} ${c.stderr.trim()} path ${JSON.stringify(p?.path)}`)
    }
  }
  run.probes = await nodes.counter(easy, 'many_port_probes_sent') - probes0
  run.sockets = await nodes.counter(hard, 'udp_extra_sockets_opened') - sockets0
  return run
}

describe.skipIf(reason !== null)('hard NATs: many-port punching', () => {
  const freshLab = labPerTest()

  async function scene(lab: Lab, nodes: LabNodes): Promise<{ cone: Host; sym: Host }> {
    await nodes.broker(7000, ['--listen', `${INTERNET.secondary}:7001`])
    return { cone: await lab.host('c', await lab.router('cone')), sym: await lab.host('s', await lab.router('symmetric')) }
  }

  it('netcheck tells cone, symmetric and public apart: mapping, allocation, broker RTTs, hairpin, IPv6', async () => {
    const { lab, nodes } = await freshLab()
    const { cone, sym } = await scene(lab, nodes)
    const pub = await lab.host('p', null)
    const checks: Record<string, NetcheckInfo> = {}
    for (const [name, host] of [['cone', cone], ['sym', sym], ['pub', pub]] as const) {
      const d = await nodes.daemon(name, host, { brokers: BROKERS, extra: UDP_ONLY })
      await natOf(nodes, d)
      const r = await nodes.ctl(d, ['netcheck', '--json'])
      expect(r.code, r.stderr).toBe(0)
      checks[name] = JSON.parse(r.stdout) as NetcheckInfo
      const text = await nodes.ctl(d, ['netcheck'])
      console.log(`netcheck on ${name}:\n${text.stdout}`)
      expect(text.stdout).toMatch(/^nat\s+/m)
    }
    expect(checks.cone!.nat).toMatchObject({ mapping: 'endpoint-independent', allocation: 'port-preserving', hairpin: 'no' })
    expect(checks.sym!.nat).toMatchObject({ mapping: 'endpoint-dependent', allocation: 'random' })
    expect(checks.pub!.nat).toMatchObject({ mapping: 'none', allocation: 'none' })
    for (const c of Object.values(checks)) {
      expect(c.brokers).toHaveLength(2)
      expect(c.brokers.every((b) => b.reachable && typeof b.rttMs === 'number')).toBe(true)
      // The lab's hosts have no IPv6 here: said so, not guessed.
      expect(c.ipv6.reachable).toBe('unknown')
      // The interface toward the brokers carries the verdict.
      expect(c.interfaces.some((i) => i.towardBrokers && i.mapping === c.nat.mapping)).toBe(true)
    }
  }, 60_000)

  it(`cone/symmetric and symmetric/cone: a direct path in at least 9 of ${ATTEMPTS} fresh connects each, data on the hard side's extra socket`, async () => {
    const { lab, nodes } = await freshLab()
    const { cone, sym } = await scene(lab, nodes)
    // Two pairs on the same two NATs, one asking from each side.
    const alice = await nodes.daemon('alice', cone, { brokers: BROKERS, extra: UDP_ONLY })
    const bob = await nodes.daemon('bob', sym, { brokers: BROKERS, extra: UDP_ONLY })
    const carol = await nodes.daemon('carol', sym, { brokers: BROKERS, extra: UDP_ONLY })
    const dave = await nodes.daemon('dave', cone, { brokers: BROKERS, extra: UDP_ONLY })
    for (const d of [alice, dave]) expect(await natOf(nodes, d)).toBe('endpoint-independent')
    for (const d of [bob, carol]) expect(await natOf(nodes, d)).toBe('endpoint-dependent')

    const [coneSym, symCone] = await Promise.all([attempts(nodes, alice, bob, bob), attempts(nodes, carol, dave, carol)])
    const logs = `\nalice: ${alice.err().slice(-2000)}\nbob: ${bob.err().slice(-2000)}\ncarol: ${carol.err().slice(-2000)}\ndave: ${dave.err().slice(-2000)}`
    for (const [name, r] of [['cone/symmetric', coneSym], ['symmetric/cone', symCone]] as const) {
      const sorted = [...r.ms].sort((x, y) => x - y)
      console.log(`${name}: ${r.ok}/${ATTEMPTS} direct; connect ms median ${sorted[Math.floor(sorted.length / 2)]} max ${sorted.at(-1)}; the easy side sent ${r.probes} probes to random ports, the hard side opened ${r.sockets} sockets, in all${r.failures.length ? `; ${r.failures.join('; ')}` : ''}`)
      expect(r.ok, `${name}: ${r.failures.join('\n')}${logs}`).toBeGreaterThanOrEqual(9)
    }

    // The hard side's path runs on an extra socket (not its registered endpoint), and carries data.
    await startServer(lab, cone, 9000)
    expect((await nodes.ctl(dave, ['expose', '9000', '--peer', 'carol'])).code).toBe(0)
    const f = await nodes.ctl(carol, ['forward', '9100', '--peer', 'dave', '--to', '9000'])
    expect(f.code, f.stderr).toBe(0)
    const p = await peerView(nodes, carol, 'dave')
    const endpointPort = (JSON.parse((await nodes.ctl(carol, ['interfaces', '--json'])).stdout) as { endpoint: string }[])[0]!.endpoint.split(':')[1]
    expect(p?.path?.local.split(':')[1]).not.toBe(endpointPort)
    const down = await transfer(lab, sym, 'download', 9100, 16 * MiB)
    expect(down, JSON.stringify(down) + logs).toMatchObject({ ok: true, bytes: 16 * MiB })
    const up = await transfer(lab, sym, 'upload', 9100, 16 * MiB)
    expect(up, JSON.stringify(up) + logs).toMatchObject({ ok: true, bytes: 16 * MiB })
    // 20 runs opened thousands of sockets on the symmetric host; the losers were closed, so only
    // the daemons' endpoints and the live sessions' sockets (plus the traffic tools') remain.
    const open = async (): Promise<number> => (await lab.exec(sym.ns, ['ss', '-uanH'])).trim().split('\n').length
    await waitFor(async () => (await open()) < 16, { timeoutMs: 15_000, intervalMs: 200, what: `the many-port sockets closed (${await open()} UDP sockets open)` })
  }, 240_000)
})
