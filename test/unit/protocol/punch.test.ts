// The punch state machine, driven by a fake clock: no sockets, no timers.
import { describe, expect, it } from 'vitest'
import { RELAY_RANK, punchStep, rankOf, startPunch, type PunchAction, type PunchEvent, type PunchState } from '../../../protocol/punch.js'

const cfg = { intervalMs: 100, timeoutMs: 1000, maxCandidates: 8, selectMs: 40 }
const pub = { host: '203.0.113.20', port: 4000 }
const pub2 = { host: '198.51.100.9', port: 4001 }
const lan = { host: '10.0.2.5', port: 4000 }

/** Drive the machine through events at given times; collect every action. */
function run(state: PunchState, steps: [number, PunchEvent][]): { state: PunchState; actions: PunchAction[] } {
  const actions: PunchAction[] = []
  for (const [now, ev] of steps) {
    const r = punchStep(state, ev, now)
    state = r.state
    actions.push(...r.actions)
  }
  return { state, actions }
}
const probesIn = (a: PunchAction[]): { to: { host: string }; seq: number }[] => a.filter((x): x is Extract<PunchAction, { type: 'send-probe' }> => x.type === 'send-probe')

describe('punch state machine', () => {
  it('probes every candidate each round, paced, and schedules its next wake-up', () => {
    const s0 = startPunch([pub, lan, pub], 0, cfg)
    expect(s0.candidates).toHaveLength(2)
    const r1 = run(s0, [[0, { type: 'tick' }]])
    expect(probesIn(r1.actions).map((p) => p.to.host)).toEqual([pub.host, lan.host])
    expect(r1.actions.at(-1)).toEqual({ type: 'wake-at', at: 100 })
    // A tick before the round is due sends nothing new.
    const r2 = run(r1.state, [[50, { type: 'tick' }]])
    expect(probesIn(r2.actions)).toHaveLength(0)
    const r3 = run(r2.state, [[100, { type: 'tick' }]])
    expect(probesIn(r3.actions)).toHaveLength(2)
  })

  it('answers every probe, and probes a peer-reflexive address it did not know', () => {
    const { state } = run(startPunch([pub], 0, cfg), [[0, { type: 'tick' }]])
    const prflx = { host: '203.0.113.77', port: 5555 }
    const r = run(state, [[10, { type: 'probe', from: prflx, streamId: 9, seq: 3 }]])
    expect(r.actions[0]).toEqual({ type: 'send-ack', to: prflx, seq: 3 })
    expect(probesIn(r.actions).map((p) => p.to)).toEqual([prflx])
    expect(r.state.candidates).toContainEqual(prflx)
    expect(r.state.remoteStreamId).toBe(9)
  })

  it('a move toward a chosen path (learnReflexive off) answers an unknown address but never probes it, so only the chosen path can win', () => {
    const { state } = run(startPunch([lan], 0, { ...cfg, selectMs: 0, learnReflexive: false }), [[0, { type: 'tick' }]])
    const prflx = { host: '203.0.113.77', port: 5555 }
    const r = run(state, [[1, { type: 'probe', from: prflx, streamId: 9, seq: 3 }]])
    expect(r.actions[0]).toEqual({ type: 'send-ack', to: prflx, seq: 3 })
    expect(probesIn(r.actions)).toEqual([])
    expect(r.state.candidates).toEqual([lan])
    const seq = probesIn(run(startPunch([lan], 0, { ...cfg, selectMs: 0, learnReflexive: false }), [[0, { type: 'tick' }]]).actions)[0]!.seq
    const won = run(r.state, [[2, { type: 'ack', from: lan, streamId: 9, seq }]])
    expect(won.actions.find((a) => a.type === 'succeeded')).toMatchObject({ remote: lan })
  })

  it('ignores answers to probes it never sent', () => {
    const { state } = run(startPunch([pub], 0, cfg), [[0, { type: 'tick' }]])
    const r = run(state, [[5, { type: 'ack', from: pub, streamId: 1, seq: 999 }]])
    expect(r.actions).toEqual([])
    expect(r.state.phase).toBe('probing')
  })

  it('prefers a LAN answer over an earlier public one, keeping the public one as standby', () => {
    const r0 = run(startPunch([pub, lan], 0, cfg), [[0, { type: 'tick' }]])
    const [pPub, pLan] = probesIn(r0.actions)
    const r1 = run(r0.state, [[3, { type: 'ack', from: pub, streamId: 7, seq: pPub!.seq }]])
    expect(r1.state.phase).toBe('selecting')
    expect(r1.actions.some((a) => a.type === 'succeeded')).toBe(false)
    const r2 = run(r1.state, [[8, { type: 'ack', from: lan, streamId: 7, seq: pLan!.seq }]])
    expect(r2.state.phase).toBe('succeeded')
    expect(r2.actions).toContainEqual({ type: 'succeeded', remote: lan, kind: 'direct', remoteStreamId: 7, rttMs: 8, standbys: [{ addr: pub, rttMs: 3, rank: 2, kind: 'direct' }] })
  })

  it('takes the only answer when the selection window closes, and the faster of two equals', () => {
    const r0 = run(startPunch([pub, pub2], 0, cfg), [[0, { type: 'tick' }]])
    const [p1, p2] = probesIn(r0.actions)
    const r = run(r0.state, [
      [20, { type: 'ack', from: pub, streamId: 1, seq: p1!.seq }],
      [30, { type: 'ack', from: pub2, streamId: 1, seq: p2!.seq }],
      [59, { type: 'tick' }],
    ])
    expect(r.actions.some((a) => a.type === 'succeeded')).toBe(false)
    const done = run(r.state, [[60, { type: 'tick' }]])
    expect(done.actions).toContainEqual({ type: 'succeeded', remote: pub, kind: 'direct', remoteStreamId: 1, rttMs: 20, standbys: [{ addr: pub2, rttMs: 30, rank: 2, kind: 'direct' }] })
  })

  it('fails at the deadline when nothing answers, and then stays quiet', () => {
    const { state } = run(startPunch([pub], 0, cfg), [[0, { type: 'tick' }]])
    const r = run(state, [[1000, { type: 'tick' }]])
    expect(r.state.phase).toBe('failed')
    expect(r.actions).toEqual([{ type: 'failed', reason: expect.stringContaining('no answer from 1 candidate') }])
    expect(run(r.state, [[1100, { type: 'tick' }]]).actions).toEqual([])
  })

  it('ranks LAN and ULA first, then global IPv6, then public IPv4', () => {
    expect(['10.1.2.3', '172.20.0.1', '192.168.1.1', 'fd00::1', '::ffff:192.168.0.2'].map((host) => rankOf({ host, port: 1 }))).toEqual([0, 0, 0, 0, 0])
    expect(rankOf({ host: '2001:db8::1', port: 1 })).toBe(1)
    expect(['203.0.113.5', '172.32.0.1', '8.8.8.8'].map((host) => rankOf({ host, port: 1 }))).toEqual([2, 2, 2])
  })

  it('probes a relay added mid-punch from the next round, and takes it when nothing direct answers', () => {
    const relay = { host: '203.0.113.1', port: 40123 }
    const r0 = run(startPunch([pub], 0, cfg), [[0, { type: 'tick' }], [100, { type: 'tick' }]])
    const r1 = run(r0.state, [[150, { type: 'add-candidate', addr: relay, kind: 'relay' }]])
    expect(r1.actions).toEqual([{ type: 'wake-at', at: 150 }])
    const r2 = run(r1.state, [[150, { type: 'tick' }]])
    const toRelay = probesIn(r2.actions).find((p) => p.to.host === relay.host)!
    expect(toRelay).toBeDefined()
    const r3 = run(r2.state, [[170, { type: 'ack', from: relay, streamId: 4, seq: toRelay.seq }], [210, { type: 'tick' }]])
    expect(r3.actions).toContainEqual({ type: 'succeeded', remote: relay, kind: 'relay', remoteStreamId: 4, rttMs: 20, standbys: [] })
  })

  it('ranks a relay last: a direct answer inside the selection window wins over an earlier relay answer', () => {
    const relay = { host: '198.51.100.1', port: 5000 }
    const r0 = run(startPunch([pub], 0, cfg), [[0, { type: 'add-candidate', addr: relay, kind: 'relay' }], [0, { type: 'tick' }]])
    const [pPub, pRelay] = probesIn(r0.actions)
    expect(pRelay!.to).toEqual(relay)
    const r = run(r0.state, [
      [5, { type: 'ack', from: relay, streamId: 2, seq: pRelay!.seq }],
      [20, { type: 'ack', from: pub, streamId: 2, seq: pPub!.seq }],
      [45, { type: 'tick' }],
    ])
    expect(r.actions).toContainEqual({ type: 'succeeded', remote: pub, kind: 'direct', remoteStreamId: 2, rttMs: 20, standbys: [{ addr: relay, rttMs: 5, rank: RELAY_RANK, kind: 'relay' }] })
  })

  it('a relay learned late pushes the deadline out, joins a full list, and a probe from it does not make it direct', () => {
    const relay = { host: '203.0.113.1', port: 7 }
    const full = Array.from({ length: cfg.maxCandidates }, (_, i) => ({ host: `203.0.113.${50 + i}`, port: 1 }))
    const r0 = run(startPunch(full, 0, cfg), [[0, { type: 'tick' }], [900, { type: 'add-candidate', addr: relay, kind: 'relay' }]])
    expect(r0.state.candidates).toContainEqual(relay)
    expect(r0.state.deadline).toBe(1400)
    expect(run(r0.state, [[1000, { type: 'tick' }]]).state.phase).toBe('probing')
    // A direct candidate past the cap is not taken; a known one is not duplicated.
    const r1 = run(r0.state, [[901, { type: 'add-candidate', addr: pub, kind: 'direct' }], [902, { type: 'add-candidate', addr: relay, kind: 'relay' }]])
    expect(r1.state.candidates).toHaveLength(cfg.maxCandidates + 1)
    const r2 = run(r1.state, [[910, { type: 'tick' }], [911, { type: 'probe', from: relay, streamId: 3, seq: 1 }]])
    const p = probesIn(r2.actions).find((x) => x.to.host === relay.host)!
    const r3 = run(r2.state, [[930, { type: 'ack', from: relay, streamId: 3, seq: p.seq }], [1000, { type: 'tick' }]])
    expect(r3.actions.find((a) => a.type === 'succeeded')).toMatchObject({ kind: 'relay', remote: relay })
  })

  it('ignores candidates once the attempt is over', () => {
    const { state } = run(startPunch([pub], 0, cfg), [[0, { type: 'tick' }], [1000, { type: 'tick' }]])
    expect(state.phase).toBe('failed')
    const r = run(state, [[1001, { type: 'add-candidate', addr: lan, kind: 'relay' }]])
    expect(r.actions).toEqual([])
    expect(r.state.candidates).not.toContainEqual(lan)
  })
})
