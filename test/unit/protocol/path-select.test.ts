// The path selection machine on a fake clock: a simulated peer answers probes per address with a
// given RTT (or not at all), and the test reads the actions. No sockets, no timers.
import { describe, expect, it } from 'vitest'
import { DEFAULT_PATH_SELECT, describeSwitch, pathStep, standbysOf, startPathSelect, type PathAction, type PathEvent, type PathSelectState } from '../../../protocol/path-select.js'
import { RELAY_RANK, rankOf, type Addr } from '../../../protocol/punch.js'

const lan = { host: '10.0.0.2', port: 4000 }
const pub = { host: '203.0.113.20', port: 4000 }
const pub2 = { host: '198.51.100.9', port: 4001 }
const relay = { host: '203.0.113.1', port: 40123 }
const key = (a: Addr, via: string | null = null): string => `${a.host}:${a.port}${via === null ? '' : `@${via}`}`

/** A peer that answers probes to each address after its RTT (null = silent); rtts may change mid-run. */
class Sim {
  actions: { at: number; action: PathAction }[] = []
  private acks: { at: number; from: Addr; seq: number; via: string | null }[] = []
  private wake = 0
  constructor(public state: PathSelectState, public rtt: Map<string, number | null>, public now = 0) {
    this.feed({ type: 'tick' })
  }

  /** Deliver one event now. */
  feed(ev: PathEvent): PathAction[] {
    const r = pathStep(this.state, ev, this.now)
    this.state = r.state
    for (const a of r.actions) {
      this.actions.push({ at: this.now, action: a })
      if (a.type === 'wake-at') this.wake = a.at
      if (a.type === 'send-probe') {
        const ms = this.rtt.get(key(a.to, a.via))
        if (ms !== null && ms !== undefined) this.acks.push({ at: this.now + ms, from: a.to, seq: a.seq, via: a.via })
      }
    }
    return r.actions
  }

  /** Run until `until`: timer wake-ups and answers in time order. */
  runUntil(until: number): void {
    for (let i = 0; i < 100_000; i++) {
      this.acks.sort((x, y) => x.at - y.at)
      const nextAck = this.acks[0]?.at ?? Infinity
      const next = Math.min(nextAck, this.wake)
      if (next > until) break
      this.now = Math.max(this.now, next)
      if (nextAck <= this.wake) {
        const a = this.acks.shift()!
        this.feed({ type: 'ack', from: a.from, seq: a.seq, via: a.via })
      } else this.feed({ type: 'tick' })
    }
    this.now = until
  }

  of<T extends PathAction['type']>(type: T): { at: number; action: Extract<PathAction, { type: T }> }[] {
    return this.actions.filter((x) => x.action.type === type) as { at: number; action: Extract<PathAction, { type: T }> }[]
  }
}

const others = (...xs: Addr[]): { addr: Addr; rank: number }[] => xs.map((addr) => ({ addr, rank: rankOf(addr) }))

describe('path selection', () => {
  it('probes every path each second, and a path that never answers only every 5 s', () => {
    const sim = new Sim(startPathSelect(pub, 2, others(lan, pub2), true, 0), new Map([[key(pub), 10], [key(lan), 1], [key(pub2), null]]))
    sim.runUntil(20_000)
    const to = (a: Addr): number => sim.of('send-probe').filter((x) => key(x.action.to) === key(a)).length
    // About once a second (paths first probed together then spread over half a second).
    for (const a of [pub, lan]) {
      expect(to(a)).toBeGreaterThanOrEqual(20)
      expect(to(a)).toBeLessThanOrEqual(21)
    }
    // Probed at 0..3 s while new, then every 5 s.
    expect(to(pub2)).toBeLessThanOrEqual(9)
    expect(to(pub2)).toBeGreaterThanOrEqual(6)
    expect(standbysOf(sim.state, sim.now).map((p) => key(p.addr))).toEqual([key(lan), key(pub2)])
    expect(standbysOf(sim.state, sim.now)[0]!.rttMs).toBe(1)
  })

  it('spreads the probes of paths due together over the next half second, so rounds are not bursts', () => {
    const many = Array.from({ length: 11 }, (_, i) => ({ host: `203.0.113.${100 + i}`, port: 4000 }))
    const sim = new Sim(startPathSelect(pub, 2, others(...many), true, 0), new Map([pub, ...many].map((a) => [key(a), 2])))
    // All 12 go out at once at the start...
    expect(sim.of('send-probe').filter((x) => x.at === 0)).toHaveLength(12)
    sim.runUntil(10_000)
    // ...and from the next round on they leave at 12 different moments of each second.
    const late = sim.of('send-probe').filter((x) => x.at >= 5_000 && x.at < 6_000)
    expect(late).toHaveLength(12)
    expect(new Set(late.map((x) => x.at)).size).toBe(12)
  })

  it('when full, a new address takes the place of the one silent the longest, never the active or a live one', () => {
    const config = { ...DEFAULT_PATH_SELECT, maxPaths: 4 }
    const dead = [1, 2, 3].map((i) => ({ host: `198.51.100.${i}`, port: 4000 }))
    const sim = new Sim(startPathSelect(pub, 2, others(...dead), true, 0, config), new Map([[key(pub), 10]]))
    sim.runUntil(10_000)
    const has = (a: Addr): boolean => sim.state.paths.some((p) => key(p.addr) === key(a))
    sim.feed({ type: 'add', addr: lan, rank: 0 })
    expect(sim.state.paths).toHaveLength(4)
    expect(has(lan) && has(pub) && !has(dead[0]!)).toBe(true)
    // The LAN answers; now only dead[1] and dead[2] may give way, the oldest first.
    sim.rtt.set(key(lan), 1)
    sim.runUntil(12_000)
    sim.feed({ type: 'add', addr: pub2, rank: 2 })
    expect(has(pub2) && has(lan) && has(pub) && !has(dead[1]!) && has(dead[2]!)).toBe(true)
    // A path just added gets its chance before it can be pushed out, and none alive is.
    const fresh = { host: '198.51.100.77', port: 4000 }
    sim.feed({ type: 'add', addr: fresh, rank: 2 })
    expect(has(fresh) && has(pub2)).toBe(true)
    sim.feed({ type: 'add', addr: { host: '198.51.100.78', port: 4000 }, rank: 2 })
    expect(sim.state.paths.map((p) => key(p.addr)).sort()).toEqual([key(pub), key(lan), key(pub2), key(fresh)].sort())
  })

  it('ignores answers to probes it did not send, or from another address than probed', () => {
    const s0 = startPathSelect(pub, 2, others(lan), true, 0)
    const r0 = pathStep(s0, { type: 'tick' }, 0)
    const seq = r0.actions.find((a): a is Extract<PathAction, { type: 'send-probe' }> => a.type === 'send-probe' && key(a.to) === key(lan))!.seq
    const wrongFrom = pathStep(r0.state, { type: 'ack', from: pub2, seq, via: null }, 5)
    expect(wrongFrom.state.paths.every((p) => p.lastAck === null)).toBe(true)
    const unknown = pathStep(r0.state, { type: 'ack', from: lan, seq: 999, via: null }, 5)
    expect(unknown.state.paths.every((p) => p.lastAck === null)).toBe(true)
    const right = pathStep(r0.state, { type: 'ack', from: lan, seq, via: null }, 5)
    expect(right.state.paths.find((p) => key(p.addr) === key(lan))!.rttMs).toBe(5)
    // A second copy of the same answer counts once.
    const again = pathStep(right.state, { type: 'ack', from: lan, seq, via: null }, 9)
    expect(again.state.paths.find((p) => key(p.addr) === key(lan))!.lastAck).toBe(5)
  })

  it('on a stall, a standby that answered while the active path was silent takes over at once', () => {
    // Start on LAN with the public address as standby; the LAN link dies at 10 s.
    const sim = new Sim(startPathSelect(lan, 0, others(pub), true, 0), new Map([[key(lan), 1], [key(pub), 12]]))
    sim.runUntil(10_000)
    sim.rtt.set(key(lan), null)
    sim.runUntil(11_500)
    sim.feed({ type: 'stalled', silentMs: 1_500 })
    const sw = sim.of('switch')
    expect(sw).toHaveLength(1)
    expect(sw[0]!.at).toBe(11_500)
    expect(sw[0]!.action.to).toEqual(pub)
    expect(sw[0]!.action.reason).toEqual({ type: 'failover', from: lan, silentMs: 1_500 })
    expect(describeSwitch(sw[0]!.action.to, sw[0]!.action.reason)).toBe('standby 203.0.113.20:4000 took over: active 10.0.0.2:4000 silent for 1.5 s')
    expect(sim.of('repunch')).toHaveLength(0)
    expect(sim.state.phase.type).toBe('switching')
    sim.feed({ type: 'switched', remote: pub, rank: 2 })
    expect(sim.state.active).toEqual(pub)
    expect(sim.state.phase.type).toBe('steady')
  })

  it('re-punches when no standby answered during the silence nor the probes of the stall (a standby that died with the active path is not used)', () => {
    const sim = new Sim(startPathSelect(lan, 0, others(pub), true, 0), new Map([[key(lan), 1], [key(pub), 12]]))
    sim.runUntil(10_500)
    // Both die at once (the uplink both paths leave through).
    sim.rtt.set(key(lan), null)
    sim.rtt.set(key(pub), null)
    sim.runUntil(12_000)
    sim.feed({ type: 'stalled', silentMs: 1_500 })
    expect(sim.of('repunch')).toHaveLength(0)
    // The answers to the probes sent at the stall get their moment; none comes.
    const wait = DEFAULT_PATH_SELECT.stallWaitMs
    sim.runUntil(12_000 + wait)
    expect(sim.of('switch')).toHaveLength(0)
    expect(sim.of('repunch').map((x) => ({ at: x.at, ...x.action }))).toEqual([{ at: 12_000 + wait, type: 'repunch', silentMs: 1_500 + wait }])
    expect(sim.state.phase.type).toBe('repunching')
    // The re-punch's new session ends it.
    sim.feed({ type: 'switched', remote: pub2, rank: 2 })
    expect(sim.state.phase.type).toBe('steady')
    expect(sim.state.active).toEqual(pub2)
  })

  it('an answer that came just before the break does not make a standby: one answering after it does', () => {
    const lan2 = { host: '10.0.0.3', port: 4000 }
    const at = (x: Addr, lastAck: number) => (p: PathSelectState['paths'][number]): PathSelectState['paths'][number] => (key(p.addr) === key(x) ? { ...p, lastAck, aliveSince: 0 } : p)
    const start = (pubAck: number): Sim => {
      const sim = new Sim(startPathSelect(lan, 0, others(lan2, pub), true, 0), new Map([[key(lan), 1], [key(lan2), 1], [key(pub), 12]]))
      sim.runUntil(10_000)
      // The LAN dies at about 10.1 s, just after the last heartbeat (10 s); lan2 (rank 0, the best
      // class) answered at 10.1 s, over the LAN too, and will not answer again.
      sim.rtt.set(key(lan), null)
      sim.rtt.set(key(lan2), null)
      sim.rtt.set(key(pub), null)
      sim.runUntil(11_500)
      sim.state = { ...sim.state, paths: sim.state.paths.map(at(lan2, 10_100)).map(at(pub, pubAck)) }
      sim.rtt.set(key(pub), 12)
      sim.feed({ type: 'stalled', silentMs: 1_500 })
      return sim
    }
    // The public path answered at 11 s, well after the last heartbeat: it takes over at once.
    const answered = start(11_000)
    expect(answered.of('switch').map((x) => ({ at: x.at, to: x.action.to }))).toEqual([{ at: 11_500, to: pub }])
    // It last answered at 10.3 s, as suspect as lan2: its answer to the stall's probes decides.
    const probed = start(10_300)
    expect(probed.of('switch')).toHaveLength(0)
    probed.runUntil(12_000)
    expect(probed.of('switch').map((x) => ({ at: x.at, to: x.action.to }))).toEqual([{ at: 11_512, to: pub }])
    expect(probed.of('repunch')).toHaveLength(0)
  })

  it('the side that does not control waits a moment for the other to move, then moves itself', () => {
    const base = (): Sim => {
      const sim = new Sim(startPathSelect(lan, 0, others(pub), false, 0), new Map([[key(lan), 1], [key(pub), 12]]))
      sim.runUntil(10_000)
      sim.rtt.set(key(lan), null)
      sim.runUntil(11_500)
      sim.feed({ type: 'stalled', silentMs: 1_500 })
      return sim
    }
    const waits = base()
    expect(waits.of('switch')).toHaveLength(0)
    waits.runUntil(11_500 + DEFAULT_PATH_SELECT.followMs)
    expect(waits.of('switch').map((x) => x.at)).toEqual([11_500 + DEFAULT_PATH_SELECT.followMs])
    // Without a live standby it re-punches once the stall's probes had time to be answered.
    const alone = new Sim(startPathSelect(lan, 0, [], false, 0), new Map([[key(lan), 1]]))
    alone.runUntil(10_000)
    alone.rtt.set(key(lan), null)
    alone.runUntil(11_500)
    alone.feed({ type: 'stalled', silentMs: 1_500 })
    alone.runUntil(11_500 + DEFAULT_PATH_SELECT.stallWaitMs)
    expect(alone.of('repunch').map((x) => x.at)).toEqual([11_500 + DEFAULT_PATH_SELECT.stallWaitMs])
    // The controlling side's new session arrives first: nothing to do.
    const follows = base()
    follows.runUntil(11_800)
    follows.feed({ type: 'switched', remote: pub, rank: 2 })
    follows.runUntil(14_000)
    expect(follows.of('switch')).toHaveLength(0)
    // The path came back by itself.
    const recovers = base()
    recovers.feed({ type: 'recovered' })
    recovers.runUntil(14_000)
    expect(recovers.of('switch')).toHaveLength(0)
    expect(recovers.of('repunch')).toHaveLength(0)
  })

  it('a failover that does not come up falls back to the next live standby, then to a re-punch', () => {
    const sim = new Sim(startPathSelect(lan, 0, others(pub, pub2), true, 0), new Map([[key(lan), 1], [key(pub), 12], [key(pub2), 20]]))
    sim.runUntil(10_000)
    sim.rtt.set(key(lan), null)
    sim.runUntil(11_500)
    sim.feed({ type: 'stalled', silentMs: 1_500 })
    expect(sim.of('switch').map((x) => x.action.to)).toEqual([pub])
    sim.now = 13_000
    sim.feed({ type: 'switch-failed', to: pub, via: null })
    expect(sim.of('switch').map((x) => x.action.to)).toEqual([pub, pub2])
    sim.now = 14_000
    sim.feed({ type: 'switch-failed', to: pub2, via: null })
    expect(sim.of('repunch')).toHaveLength(1)
  })

  it('moves to a better class only after it stayed alive for the hold time, and not within the gap after a move', () => {
    // On the public path; the LAN address starts answering at 30 s (a cable plugged back in).
    const sim = new Sim(startPathSelect(pub, 2, others(lan), true, 0), new Map([[key(pub), 12], [key(lan), null]]))
    sim.runUntil(30_000)
    sim.rtt.set(key(lan), 0.3)
    sim.runUntil(30_000 + DEFAULT_PATH_SELECT.upgradeHoldMs - 10)
    expect(sim.of('switch')).toHaveLength(0)
    sim.runUntil(45_000)
    const sw = sim.of('switch')
    expect(sw).toHaveLength(1)
    // The LAN path is probed every 5 s while quiet: first answer within 5 s of 30 s, the move a hold later.
    expect(sw[0]!.at).toBeGreaterThanOrEqual(30_000 + DEFAULT_PATH_SELECT.upgradeHoldMs)
    expect(sw[0]!.at).toBeLessThanOrEqual(36_000 + DEFAULT_PATH_SELECT.upgradeHoldMs)
    expect(describeSwitch(sw[0]!.action.to, sw[0]!.action.reason)).toBe('switched to LAN path 10.0.0.2:4000: rtt 0.3 ms vs 12 ms (was public path 203.0.113.20:4000)')
    // Right after a move (a session start counts), a better path waits out the gap.
    const early = new Sim(startPathSelect(pub, 2, others(lan), true, 0), new Map([[key(pub), 12], [key(lan), 0.3]]))
    early.runUntil(DEFAULT_PATH_SELECT.switchGapMs - 10)
    expect(early.of('switch')).toHaveLength(0)
    early.runUntil(DEFAULT_PATH_SELECT.switchGapMs + 1_100)
    expect(early.of('switch')).toHaveLength(1)
  })

  it('moves for RTT only within a class, when it is clearly lower for the whole hold time', () => {
    const sim = new Sim(startPathSelect(pub, 2, others(pub2), true, 0), new Map([[key(pub), 40], [key(pub2), 8]]))
    sim.runUntil(60_000)
    const sw = sim.of('switch')
    expect(sw).toHaveLength(1)
    expect(sw[0]!.action.reason.type).toBe('lower-rtt')
    expect(sw[0]!.at).toBeGreaterThanOrEqual(DEFAULT_PATH_SELECT.switchGapMs)
    expect(describeSwitch(sw[0]!.action.to, sw[0]!.action.reason)).toMatch(/^switched to 198\.51\.100\.9:4001: rtt 8\.0 ms vs 40 ms on 203\.0\.113\.20:4000$/)
  })

  it('does not flap: a slightly lower RTT, or one that is lower only now and then, never moves the path', () => {
    const slight = new Sim(startPathSelect(pub, 2, others(pub2), true, 0), new Map([[key(pub), 10], [key(pub2), 7]]))
    slight.runUntil(120_000)
    expect(slight.of('switch')).toHaveLength(0)
    // Every 6 s the standby's RTT spikes for a second: the advantage never holds 10 s.
    const spiky = new Sim(startPathSelect(pub, 2, others(pub2), true, 0), new Map([[key(pub), 40], [key(pub2), 8]]))
    for (let t = 0; t < 120_000; t += 6_000) {
      spiky.rtt.set(key(pub2), 8)
      spiky.runUntil(t + 5_000)
      spiky.rtt.set(key(pub2), 200)
      spiky.runUntil(t + 6_000)
    }
    expect(spiky.of('switch')).toHaveLength(0)
  })

  it('the side that does not control never moves for a better path; nobody moves to a relay or to a worse class', () => {
    const follower = new Sim(startPathSelect(pub, 2, others(lan), false, 0), new Map([[key(pub), 40], [key(lan), 1]]))
    follower.runUntil(120_000)
    expect(follower.of('switch')).toHaveLength(0)
    const s = startPathSelect(lan, 0, [{ addr: relay, rank: RELAY_RANK }, { addr: pub, rank: 2 }], true, 0)
    const worse = new Sim(s, new Map([[key(lan), 50], [key(relay), 1], [key(pub), 1]]))
    worse.runUntil(120_000)
    expect(worse.of('switch')).toHaveLength(0)
    // On a stall only the direct standby is a failover target.
    worse.rtt.set(key(lan), null)
    worse.runUntil(121_500)
    worse.feed({ type: 'stalled', silentMs: 1_500 })
    expect(worse.of('switch').map((x) => x.action.to)).toEqual([pub])
  })

  it('learns peer-reflexive addresses from the peer\'s probes, bounded', () => {
    let s = startPathSelect(pub, 2, [], true, 0, { ...DEFAULT_PATH_SELECT, maxPaths: 3 })
    for (let i = 0; i < 10; i++) s = pathStep(s, { type: 'probe', from: { host: '198.51.100.50', port: 5000 + i } }, i).state
    expect(s.paths).toHaveLength(3)
    s = pathStep(s, { type: 'probe', from: pub }, 20).state
    expect(s.paths).toHaveLength(3)
  })

  describe('a second uplink (another local socket)', () => {
    const u2 = { id: '10.9.0.2', family: 4 as const }

    it('tracks every address from both sockets; when the active path dies, the same address through the other uplink takes over', () => {
      const sim = new Sim(startPathSelect(pub, 2, others(pub2), true, 0, DEFAULT_PATH_SELECT, [u2]), new Map([[key(pub), 10], [key(pub, u2.id), 12], [key(pub2), null], [key(pub2, u2.id), null]]))
      expect(sim.state.paths.map((p) => key(p.addr, p.via)).sort()).toEqual([key(pub2), key(pub2, u2.id), key(pub), key(pub, u2.id)].sort())
      sim.runUntil(10_000)
      expect(standbysOf(sim.state, sim.now).filter((p) => p.lastAck !== null).map((p) => key(p.addr, p.via))).toEqual([key(pub, u2.id)])
      // The first uplink goes: the active path and everything from the session's socket fall silent.
      sim.rtt.set(key(pub), null)
      sim.runUntil(11_500)
      sim.feed({ type: 'stalled', silentMs: 1_500 })
      sim.runUntil(11_600)
      const sw = sim.of('switch')
      expect(sw.map((x) => [key(x.action.to), x.action.via])).toEqual([[key(pub), u2.id]])
      expect(describeSwitch(sw[0]!.action.to, sw[0]!.action.reason, sw[0]!.action.via)).toBe('standby 203.0.113.20:4000 (from 10.9.0.2) took over: active 203.0.113.20:4000 silent for 1.5 s')
      // A failed move counts against that path only.
      sim.feed({ type: 'switch-failed', to: pub, via: null })
      expect(sim.state.phase.type).toBe('switching')
      sim.feed({ type: 'switch-failed', to: pub, via: u2.id })
      expect(sim.state.paths.find((p) => p.via === u2.id && p.addr === pub)?.lastAck).toBeNull()
    })

    it('drops the paths of a socket that went away, adds them for one that came, and forgets what was measured after moving sockets', () => {
      let s = startPathSelect(pub, 2, others(pub2), true, 0)
      expect(s.paths).toHaveLength(2)
      const added = pathStep(s, { type: 'vias', vias: [u2, { id: 'fd00::2', family: 6 }] }, 1)
      s = added.state
      // An IPv6 socket gets no path to an IPv4 address; the new paths are probed at once, from their socket.
      expect(s.paths.map((p) => key(p.addr, p.via)).sort()).toEqual([key(pub2), key(pub2, u2.id), key(pub), key(pub, u2.id)].sort())
      const seq = added.actions.find((a): a is Extract<PathAction, { type: 'send-probe' }> => a.type === 'send-probe' && a.via === u2.id && key(a.to) === key(pub2))!.seq
      // An answer on the wrong socket is not this probe's.
      const probed = s
      expect(pathStep(probed, { type: 'ack', from: pub2, seq, via: null }, 3).state.paths.every((p) => p.lastAck === null)).toBe(true)
      const acked = pathStep(probed, { type: 'ack', from: pub2, seq, via: u2.id }, 3).state
      expect(acked.paths.filter((p) => p.lastAck !== null).map((p) => key(p.addr, p.via))).toEqual([key(pub2, u2.id)])
      expect(pathStep(acked, { type: 'switched', remote: pub2, rank: 2, relocated: true }, 4).state.paths.every((p) => p.lastAck === null)).toBe(true)
      expect(pathStep(acked, { type: 'vias', vias: [] }, 4).state.paths.every((p) => p.via === null)).toBe(true)
    })
  })
})
