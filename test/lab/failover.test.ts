// Standbys that take over without a re-punch: alice and bob sit behind their own NATs and also
// share a LAN, so the session runs on the LAN path with the public path (through both NATs) as
// a standby that both sides keep probing. Pulling alice's LAN cable moves the session to the
// standby: no broker involved, every transfer sha256-checked.
import { spawn, type ChildProcess } from 'node:child_process'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { forwardedPair, labPerTest, type LabDaemon, type LabNodes } from './nodes.js'
import { labSkipReason } from './netns.js'
import { transfer } from './traffic.js'
import { waitFor } from '../helpers/wait-for.js'
import type { Host, Lab, Router } from './lab.js'

const MiB = 1024 * 1024
const reason = await labSkipReason('the failover lab')
const CTL = join(resolve(import.meta.dirname, '../..'), 'dist', 'ctl', 'bin.js')

interface PeerView { name: string; path: { remote: string; proto: string; standbys?: string[]; standbyPaths?: { remote: string; alive: boolean }[] } | null }

describe.skipIf(reason !== null)('failover to a standby path', () => {
  const freshLab = labPerTest()
  const watchers: ChildProcess[] = []

  async function setup(extra: string[]): Promise<{ lab: Lab; nodes: LabNodes; a: Host; b: Host; rb: Router; lanB: string; alice: LabDaemon; bob: LabDaemon; events: () => { type: string; reason?: string; stage?: string; detail?: string }[] }> {
    const { lab, nodes } = await freshLab()
    const ra = await lab.router('cone', { rateMbit: 200 })
    const rb = await lab.router('cone', { rateMbit: 200 })
    const a = await lab.host('a', ra)
    const b = await lab.host('b', rb)
    const lan = await lab.lan()
    await lab.attach(a, lan, 'eth1')
    const lanB = await lab.attach(b, lan, 'eth1')
    const { alice, bob } = await forwardedPair(lab, nodes, a, b, { extra })
    // Everything alice's daemon reports, as `p2pctl watch --json` prints it.
    const w = spawn(process.execPath, [CTL, '--api', alice.socket, 'watch', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
    watchers.push(w)
    let out = ''
    w.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    return { lab, nodes, a, b, rb, lanB, alice, bob, events: () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string }) }
  }

  const peer = async (nodes: LabNodes, d: LabDaemon, name: string): Promise<PeerView | undefined> =>
    (JSON.parse((await nodes.ctl(d, ['peers', '--json'])).stdout) as PeerView[]).find((p) => p.name === name)

  // Forwarded connections ride the peer's multiplexer: on the new session they resume on a fresh
  // carrier, so data flows on whichever way it went (UDP only, both directions' remotes change).
  const cases = [
    { tcp: true, mode: 'download', what: 'a running 64 MiB download (over the LAN TCP path) moves with it and completes sha256-equal' },
    { tcp: false, mode: 'upload', what: 'a running 64 MiB upload moves with it and completes sha256-equal; the session moves back once the LAN is back (UDP only)' },
  ] as const
  for (const { tcp, mode, what } of cases) it(`pulling the LAN cable moves the session to the public standby without a re-punch: ${what}`, async () => {
    const s = await setup(tcp ? [] : ['--no-tcp'])
    // On a failed wait: what both daemons say about each other, and every path event.
    const diag = async <T>(p: Promise<T>): Promise<T> => p.catch(async (err: Error) => {
      const view = async (d: LabDaemon): Promise<string> => (await s.nodes.ctl(d, ['peers', '--json'])).stdout
      throw new Error(`${err.message}\nalice peers: ${await view(s.alice)}\nbob peers: ${await view(s.bob)}\npath events: ${JSON.stringify(s.events().filter((e) => e.type === 'path' || e.type === 'punch'))}\nalice: ${s.alice.err().slice(-3000)}\nbob: ${s.bob.err().slice(-3000)}`)
    })
    try {
      await s.nodes.ctl(s.alice, ['connect', 'bob'])
      // The LAN path is active; the public path through both NATs is a live standby. Under load
      // the public answer can win the punch's 80 ms window: the monitor then moves the session to
      // the LAN once that has answered for 5 s, 20 s after the session started.
      await diag(waitFor(async () => {
        const p = await peer(s.nodes, s.alice, 'bob')
        return p?.path?.remote.startsWith(`${s.lanB}:`) && p.path.standbyPaths?.some((x) => x.alive && x.remote.startsWith(`${s.rb.wan}:`))
      }, { timeoutMs: 45_000, intervalMs: 200, what: 'the LAN path active with a live public standby' }))
      if (tcp) await waitFor(async () => (await peer(s.nodes, s.alice, 'bob'))?.path?.proto === 'tcp', { timeoutMs: 15_000, intervalMs: 100, what: 'the TCP path' })
      const running = transfer(s.lab, s.a, mode, 9100, 64 * MiB, 60_000)
      const moved = async (): Promise<number> => {
        const f = (JSON.parse((await s.nodes.ctl(s.alice, ['forwards', '--json'])).stdout) as { bytesIn: number; bytesOut: number }[])[0]!
        return f.bytesIn + f.bytesOut
      }
      await waitFor(async () => (await moved()) > 8 * MiB, { timeoutMs: 30_000, intervalMs: 50, what: 'the transfer under way' })
      const cut = Date.now()
      await s.lab.linkDown(s.a, 'eth1')
      await waitFor(async () => (await peer(s.nodes, s.alice, 'bob'))?.path?.remote.startsWith(`${s.rb.wan}:`), { timeoutMs: 20_000, intervalMs: 100, what: 'the session on the public path' })
      console.log(`${tcp ? 'TCP path' : 'UDP only'}: LAN cable pulled, the session was on the public standby within ${Date.now() - cut} ms (as polled through p2pctl)`)
      const done = await running
      expect(done, `${JSON.stringify(done)}\nalice: ${s.alice.err().slice(-4000)}\nbob: ${s.bob.err().slice(-4000)}`).toMatchObject({ ok: true, bytes: 64 * MiB })
      console.log(`${tcp ? 'TCP path' : 'UDP only'}: LAN cable pulled mid-${mode}: failover to the public standby, longest stall ${done.maxGapMs?.toFixed(0)} ms, transfer ${done.ms.toFixed(0)} ms`)
      const after = await transfer(s.lab, s.a, mode === 'upload' ? 'download' : 'upload', 9100, 4 * MiB, 30_000)
      expect(after, JSON.stringify(after)).toMatchObject({ ok: true, bytes: 4 * MiB })
      // A standby took over: the path event says so, and nobody re-punched through the broker.
      const moves = s.events().filter((e) => e.type === 'path' && /standby .* took over: active .* silent for|the peer moved the session to/.test(e.reason ?? ''))
      expect(moves.length, JSON.stringify(s.events().filter((e) => e.type === 'path'))).toBeGreaterThan(0)
      expect(s.events().filter((e) => e.type === 'punch' && /re-punching/.test(e.detail ?? ''))).toEqual([])
      for (const d of [s.alice, s.bob]) expect(await s.nodes.counter(d, 'paths_healed')).toBe(0)
      expect((await s.nodes.counter(s.alice, 'path_failovers')) + (await s.nodes.counter(s.bob, 'path_failovers'))).toBeGreaterThan(0)
      if (tcp) return
      // The cable goes back in: once the LAN path has answered for a while (and not sooner than
      // the minimum gap after the last move), alice, the session's initiator, moves back to it.
      const lanMoves = (): number => s.events().filter((e) => e.type === 'path' && /^switched to LAN path .*: rtt .* vs .* \(was public path .*\)$/.test(e.reason ?? '')).length
      const before = lanMoves()
      await s.lab.exec(s.a.ns, ['ip', 'link', 'set', 'eth1', 'up'])
      await diag(waitFor(async () => (await peer(s.nodes, s.alice, 'bob'))?.path?.remote.startsWith(`${s.lanB}:`), { timeoutMs: 60_000, intervalMs: 250, what: 'the session back on the LAN path' }))
      expect(lanMoves(), JSON.stringify(s.events().filter((e) => e.type === 'path'))).toBe(before + 1)
      const again = await transfer(s.lab, s.a, 'download', 9100, 4 * MiB, 30_000)
      expect(again, JSON.stringify(again)).toMatchObject({ ok: true, bytes: 4 * MiB })
    } finally {
      for (const w of watchers.splice(0)) w.kill()
    }
  }, 180_000)
})
