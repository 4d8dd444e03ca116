// Many-port punching schedules on a fake clock, and a simulated birthday run against model NATs.
import { describe, expect, it } from 'vitest'
import { DEFAULT_MANY_PORT, ManyPortLimiter, manyPortRole, manyPortStep, startManyPort, type ManyPortAction, type ManyPortState } from '../../../protocol/birthday.js'

const easyPub = { host: '203.0.113.20', port: 40000 }
const hardSeen = { host: '203.0.113.30', port: 31000 }

/** Run the machine on its own wake-ups until it is done or `untilMs`; `onProbe` returns true for a hit. */
function drive(s: ManyPortState, now: number, untilMs: number, onProbe: (a: Extract<ManyPortAction, { type: 'probe' }>, at: number) => boolean = () => false): { state: ManyPortState; actions: ManyPortAction[]; hitAt: number | null } {
  const actions: ManyPortAction[] = []
  let at = now
  for (let guard = 0; guard < 10_000 && s.phase === 'running' && at <= untilMs; guard++) {
    const r = manyPortStep(s, { type: 'tick' }, at)
    s = r.state
    actions.push(...r.actions)
    for (const a of r.actions) {
      if (a.type === 'probe' && onProbe(a, at)) {
        const stopped = manyPortStep(s, { type: 'stop', reason: 'pair confirmed' }, at)
        return { state: stopped.state, actions: [...actions, ...stopped.actions], hitAt: at }
      }
    }
    const wake = r.actions.find((x) => x.type === 'wake-at')
    if (!wake || wake.type !== 'wake-at') break
    at = wake.at
  }
  return { state: s, actions, hitAt: null }
}
const probes = (a: ManyPortAction[]): Extract<ManyPortAction, { type: 'probe' }>[] => a.filter((x): x is Extract<ManyPortAction, { type: 'probe' }> => x.type === 'probe')

// A small seeded PRNG for model NATs (the schedule itself only takes a seed).
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

describe('many-port roles', () => {
  it('the endpoint-dependent side facing an endpoint-independent one is hard; every other pair runs none', () => {
    expect(manyPortRole('endpoint-dependent', 'endpoint-independent')).toBe('hard')
    expect(manyPortRole('endpoint-independent', 'endpoint-dependent')).toBe('easy')
    for (const [a, b] of [['endpoint-dependent', 'endpoint-dependent'], ['endpoint-dependent', 'none'], ['none', 'endpoint-dependent'], ['unknown', 'endpoint-dependent'], ['endpoint-independent', 'endpoint-independent'], ['endpoint-dependent', 'unknown']] as const) {
      expect(manyPortRole(a, b), `${a}/${b}`).toBe('none')
    }
  })
})

describe('many-port schedule, hard side', () => {
  it('opens its sockets in paced batches, each probing the easy side, then re-probes from all of them', () => {
    const s0 = startManyPort('hard', easyPub, 0, 7)
    const r1 = manyPortStep(s0, { type: 'tick' }, 0)
    expect(r1.actions.filter((a) => a.type === 'open-socket')).toHaveLength(64)
    expect(probes(r1.actions).every((p) => p.to === easyPub && p.socket !== null)).toBe(true)
    expect(r1.actions.at(-1)).toEqual({ type: 'wake-at', at: 50 })
    // A tick before the step is due does nothing.
    expect(probes(manyPortStep(r1.state, { type: 'tick' }, 20).actions)).toHaveLength(0)
    const all = drive(r1.state, 50, 5_000)
    const opened = [...r1.actions, ...all.actions].filter((a) => a.type === 'open-socket').map((a) => (a as { index: number }).index)
    expect(opened).toEqual([...Array(256).keys()])
    expect(all.state.opened).toBe(256)
    // All open by 150 ms; the re-probe from every socket comes resendMs later.
    const resend = drive(all.state, 150 + DEFAULT_MANY_PORT.resendMs, 150 + DEFAULT_MANY_PORT.resendMs)
    expect(probes(resend.actions)).toHaveLength(256)
  })

  it('stop ends the run and reports how many sockets it used; later ticks do nothing', () => {
    const r = drive(startManyPort('hard', easyPub, 0, 7), 0, 100)
    const stopped = manyPortStep(r.state, { type: 'stop', reason: 'pair confirmed' }, 120)
    expect(stopped.actions).toEqual([{ type: 'done', reason: 'pair confirmed', probes: 192, sockets: 192 }])
    expect(manyPortStep(stopped.state, { type: 'tick' }, 200).actions).toEqual([])
  })

  it('gives up at its deadline', () => {
    const r = drive(startManyPort('hard', easyPub, 0, 7), 0, 60_000)
    expect(r.state.phase).toBe('done')
    expect(r.actions.at(-1)).toMatchObject({ type: 'done', reason: expect.stringContaining('no pair confirmed') })
  })
})

describe('many-port schedule, easy side', () => {
  it('waits for the hard side, then probes the predicted ports first, paced', () => {
    const s0 = startManyPort('easy', hardSeen, 1000, 99)
    const r0 = manyPortStep(s0, { type: 'tick' }, 1000)
    expect(probes(r0.actions)).toHaveLength(0)
    expect(r0.actions).toEqual([{ type: 'wake-at', at: 1000 + DEFAULT_MANY_PORT.easyDelayMs }])
    const r1 = manyPortStep(r0.state, { type: 'tick' }, 1150)
    const p = probes(r1.actions)
    expect(p.map((x) => x.to.port)).toEqual([...Array(64).keys()].map((i) => hardSeen.port + 1 + i))
    expect(p.every((x) => x.to.host === hardSeen.host && x.socket === null)).toBe(true)
  })

  it('probes distinct ports in range, bounded in count, then ends', () => {
    const r = drive(startManyPort('easy', hardSeen, 0, 12345), 0, 60_000)
    const ports = probes(r.actions).map((x) => x.to.port)
    expect(ports).toHaveLength(DEFAULT_MANY_PORT.maxProbes)
    expect(new Set(ports).size).toBe(ports.length)
    expect(ports.every((x) => x >= 1024 && x <= 65535)).toBe(true)
    expect(r.actions.at(-1)).toMatchObject({ type: 'done', probes: DEFAULT_MANY_PORT.maxProbes })
    // Paced: 4096 probes in batches of 64 every 50 ms take ~3.2 s, well inside the timeout.
    const wakes = r.actions.filter((a) => a.type === 'wake-at').map((a) => (a as { at: number }).at)
    expect(Math.max(...wakes)).toBeGreaterThan(3_000)
  })

  it('the port order is a permutation for any seed (no port twice, none missed)', () => {
    const cfg = { ...DEFAULT_MANY_PORT, maxProbes: 70_000, predict: 0, probeBatch: 70_000, timeoutMs: 1e9 }
    for (const seed of [0, 1, 3, 21, 0xdeadbeef, 64512, 0xffffffff]) {
      const r = manyPortStep(startManyPort('easy', hardSeen, 0, seed, { ...cfg, easyDelayMs: 0 }), { type: 'tick' }, 0)
      const ports = probes(r.actions).map((x) => x.to.port)
      expect(ports).toHaveLength(64512)
      expect(new Set(ports).size, `seed ${seed}`).toBe(64512)
      expect(r.actions.at(-1)).toMatchObject({ type: 'done' })
    }
  })

  it('finds one of 256 random mappings in at least 99 % of simulated runs, within seconds', () => {
    let hits = 0
    const times: number[] = []
    for (let run = 0; run < 300; run++) {
      const rnd = prng(run + 1)
      const mappings = new Set<number>()
      while (mappings.size < 256) mappings.add(1024 + Math.floor(rnd() * 64512))
      const r = drive(startManyPort('easy', hardSeen, 0, Math.floor(rnd() * 2 ** 32)), 0, 60_000, (p) => mappings.has(p.to.port))
      if (r.hitAt !== null) {
        hits++
        times.push(r.hitAt)
      }
    }
    expect(hits).toBeGreaterThanOrEqual(297)
    times.sort((a, b) => a - b)
    expect(times[Math.floor(times.length / 2)]).toBeLessThan(1_000)
  })

  it('a sequential allocator is found within the first batch', () => {
    // The hard side's 256 new sockets got the ports right after the one the broker saw (+3: other traffic).
    const mappings = new Set([...Array(256).keys()].map((i) => hardSeen.port + 3 + i))
    const r = drive(startManyPort('easy', hardSeen, 0, 5), 0, 60_000, (p) => mappings.has(p.to.port))
    expect(r.hitAt).toBe(DEFAULT_MANY_PORT.easyDelayMs)
    expect(probes(r.actions).findIndex((p) => mappings.has(p.to.port))).toBe(2)
  })
})

describe('many-port limiter', () => {
  it('one run per peer at a time; after failures a doubling wait; a success clears it', () => {
    const l = new ManyPortLimiter({ baseMs: 1000, maxMs: 8000, maxKeys: 4 })
    expect(l.tryStart('p', 0)).toBe(true)
    expect(l.tryStart('p', 500)).toBe(false)
    expect(l.tryStart('q', 500)).toBe(true)
    l.finished('p', true, 600)
    // After a success the next run may start at once.
    expect(l.tryStart('p', 600)).toBe(true)
    l.finished('p', false, 1000)
    expect(l.tryStart('p', 1999)).toBe(false)
    expect(l.tryStart('p', 2000)).toBe(true)
    l.finished('p', false, 2000)
    expect(l.tryStart('p', 3999)).toBe(false)
    expect(l.tryStart('p', 4000)).toBe(true)
    for (let i = 0; i < 10; i++) l.finished('p', false, 4000)
    expect(l.waitMs(11)).toBe(8000)
    expect(l.tryStart('p', 11_999)).toBe(false)
    expect(l.tryStart('p', 12_000)).toBe(true)
    l.finished('p', true, 12_500)
    expect(l.tryStart('p', 12_500)).toBe(true)
  })

  it('remembers a bounded number of peers', () => {
    const l = new ManyPortLimiter({ baseMs: 1000, maxMs: 8000, maxKeys: 4 })
    for (let i = 0; i < 100; i++) expect(l.tryStart(`k${i}`, 0)).toBe(true)
    // The oldest were forgotten: k0 may run again at once, k99 (still running) may not.
    expect(l.tryStart('k0', 1)).toBe(true)
    expect(l.tryStart('k99', 1)).toBe(false)
  })
})
