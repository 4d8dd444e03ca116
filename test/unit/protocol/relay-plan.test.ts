// Relay fallback plan and upgrade schedule: pure, no clock needed.
import { describe, expect, it } from 'vitest'
import { RELAY_AFTER_MS, planRelay, upgradeDelayMs } from '../../../protocol/relay-plan.js'
import { NAT_MAPPINGS } from '../../../protocol/wire.js'

describe('relay plan', () => {
  it('goes straight to a relay only when both sides are endpoint-dependent', () => {
    expect(planRelay('endpoint-dependent', 'endpoint-dependent')).toEqual({ afterMs: 0, reason: 'both sides endpoint-dependent', bothHard: true })
    for (const own of NAT_MAPPINGS) {
      for (const peer of NAT_MAPPINGS) {
        if (own === 'endpoint-dependent' && peer === 'endpoint-dependent') continue
        expect(planRelay(own, peer), `${own}/${peer}`).toEqual({ afterMs: RELAY_AFTER_MS, reason: 'no direct path answered within 3 s', bothHard: false })
      }
    }
    expect(planRelay('unknown', 'none', 2_500).reason).toBe('no direct path answered within 2.5 s')
  })

  it('retries a direct path soon and then less often, and rarely when both sides are hard', () => {
    expect([0, 1, 2, 3].map((n) => upgradeDelayMs(n, false))).toEqual([2_000, 4_000, 8_000, 16_000])
    expect(upgradeDelayMs(20, false)).toBe(300_000)
    expect(upgradeDelayMs(1000, false)).toBe(300_000)
    expect([0, 1, 5].map((n) => upgradeDelayMs(n, true))).toEqual([60_000, 120_000, 1_800_000])
    expect(upgradeDelayMs(-1, true)).toBe(60_000)
  })
})
