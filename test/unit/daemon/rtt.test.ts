import { describe, expect, it } from 'vitest'
import { RttEstimate } from '../../../daemon/rtt.js'

describe('a session round-trip estimate', () => {
  it("replaces the punch's estimate with the first heartbeat answer, then smooths", () => {
    let samples = 0
    const r = new RttEstimate(20, () => samples++)
    expect(r.value).toBe(20)
    const id = r.nextBeat(1000)
    expect(id).toBeGreaterThanOrEqual(0x80000000)
    expect(r.beatAnswered(id, 1000.4)).toBe(true)
    expect(r.value).toBeCloseTo(0.4)
    r.sample(2.4)
    expect(r.value).toBeCloseTo(0.4 * 0.75 + 2.4 * 0.25)
    expect(samples).toBe(2)
  })

  it('takes only the last heartbeat, once, and no explicit ping id, as a heartbeat sample', () => {
    const r = new RttEstimate(null)
    const first = r.nextBeat(0)
    const second = r.nextBeat(500)
    expect(second).not.toBe(first)
    expect(r.beatAnswered(first, 501)).toBe(false)
    expect(r.beatAnswered(1, 501)).toBe(false)
    expect(r.value).toBeNull()
    expect(r.beatAnswered(second, 501)).toBe(true)
    expect(r.value).toBe(1)
    expect(r.beatAnswered(second, 900)).toBe(false)
    expect(r.value).toBe(1)
  })
})
